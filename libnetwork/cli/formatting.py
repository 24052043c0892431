"""A small Go text/template for ``--format``.

Docker users write ``--format`` strings for Go's text/template, so the CLI
understands the same syntax and prints values the way Go's ``fmt`` does
(``map[k:v]``, ``[a b]``, ``<no value>``).  Only the part of the language that
format strings use is here: text, ``{{pipeline}}`` actions with field chains,
variables, function calls and pipes, ``if``/``else if``/``range``/``with``,
trim markers and comments, and the functions docker adds (``json``,
``join``, ``split``, ``lower``, ``upper``, ``title``, ``pad``,
``truncate``) next to Go's builtins.  No ``define``/``template``/``block``.

Data is plain JSON (dicts, lists, scalars), :class:`GoStruct` for values that
docker would decode into a typed Go struct, or any object exposing
capitalised attributes or methods (the ``ls`` row contexts).
"""

import json

from .govalues import (
    MISSING, GoStruct, GoTime, TypedMap, go_json, go_string, go_time_string, is_true, type_name)

__all__ = [
    "GoStruct", "GoTime", "HEADER_FUNCS", "TemplateError", "Template", "TypedMap",
    "go_json", "go_string", "go_time_string", "parse",
]


class TemplateError(Exception):
    """A template that does not parse, or fails while executing."""


# ---------------------------------------------------------------- lexing

_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue",
             "define", "template", "block"}
_SPACE = " \t\r\n"


class _Tok:
    __slots__ = ("kind", "val", "pos", "spaced")

    def __init__(self, kind, val, pos, spaced):
        self.kind = kind
        self.val = val
        self.pos = pos
        self.spaced = spaced

    def __repr__(self):
        return "%s(%r)" % (self.kind, self.val)


def _unquote(body, pos, src):
    """Decode the escapes Go allows in an interpreted string literal."""
    out = []
    i = 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
              "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2:i + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise _parse_error(src, pos, "invalid syntax") from None
            i += 2 + width
        elif nxt.isdigit():
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise _parse_error(src, pos, "invalid syntax")
    return "".join(out)


def _parse_error(src, pos, msg):
    line = src.count("\n", 0, pos) + 1
    return TemplateError("template: :%d: %s" % (line, msg))


def _is_ident_char(ch):
    return ch.isalnum() or ch == "_"


def _lex(src):
    """Split a template into text and action token lists.

    Returns a list of ("text", str, pos) and ("action", [tokens], pos) items,
    with ``{{-``/``-}}`` trimming already applied to the text.
    """
    items = []
    i = 0
    n = len(src)
    while i < n:
        start = src.find("{{", i)
        if start < 0:
            items.append(["text", src[i:], i])
            break
        text = src[i:start]
        j = start + 2
        if src.startswith("-", j) and j + 1 < n and src[j + 1] in _SPACE:
            text = text.rstrip(_SPACE)
            j += 2
        if text:
            items.append(["text", text, i])
        # Comments are not tokenised: {{/* ... */}}.
        if src.startswith("/*", j):
            close = src.find("*/", j + 2)
            if close < 0:
                raise _parse_error(src, start, "unclosed comment")
            k = close + 2
            trim = False
            if src.startswith(" -}}", k):
                trim, k = True, k + 4
            elif src.startswith("}}", k):
                k += 2
            else:
                raise _parse_error(src, start, "comment ends before closing delimiter")
            i = k
            if trim:
                while i < n and src[i] in _SPACE:
                    i += 1
            continue
        toks, i, trim = _lex_action(src, j, start)
        items.append(["action", toks, start])
        if trim:
            while i < n and src[i] in _SPACE:
                i += 1
    return items


def _lex_action(src, i, start):
    toks = []
    n = len(src)
    spaced = True
    while True:
        if i >= n:
            raise _parse_error(src, start, "unclosed action")
        ch = src[i]
        if ch in _SPACE:
            j = i
            while j < n and src[j] in _SPACE:
                j += 1
            if src.startswith("-}}", j):
                return toks, j + 3, True
            i = j
            spaced = True
            continue
        if src.startswith("}}", i):
            return toks, i + 2, False
        pos = i
        if ch == "|":
            toks.append(_Tok("pipe", "|", pos, spaced))
            i += 1
        elif ch == "(":
            toks.append(_Tok("lparen", "(", pos, spaced))
            i += 1
        elif ch == ")":
            toks.append(_Tok("rparen", ")", pos, spaced))
            i += 1
        elif ch == ",":
            toks.append(_Tok("comma", ",", pos, spaced))
            i += 1
        elif src.startswith(":=", i):
            toks.append(_Tok("declare", ":=", pos, spaced))
            i += 2
        elif ch == "=":
            toks.append(_Tok("assign", "=", pos, spaced))
            i += 1
        elif ch == '"':
            j = i + 1
            while j < n and src[j] != '"':
                if src[j] == "\\":
                    j += 1
                elif src[j] == "\n":
                    break
                j += 1
            if j >= n or src[j] != '"':
                raise _parse_error(src, pos, "unterminated quoted string")
            toks.append(_Tok("string", _unquote(src[i + 1:j], pos, src), pos, spaced))
            i = j + 1
        elif ch == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise _parse_error(src, pos, "unterminated raw quoted string")
            toks.append(_Tok("string", src[i + 1:j], pos, spaced))
            i = j + 1
        elif ch == "'":
            j = src.find("'", i + 1)
            if j < 0:
                raise _parse_error(src, pos, "unterminated character constant")
            body = _unquote(src[i + 1:j], pos, src)
            if len(body) != 1:
                raise _parse_error(src, pos, "malformed character constant")
            toks.append(_Tok("number", ord(body), pos, spaced))
            i = j + 1
        elif ch == "." and i + 1 < n and _is_ident_char(src[i + 1]) and not src[i + 1].isdigit():
            j = i + 1
            while j < n and _is_ident_char(src[j]):
                j += 1
            toks.append(_Tok("field", src[i + 1:j], pos, spaced))
            i = j
        elif ch == ".":
            toks.append(_Tok("dot", ".", pos, spaced))
            i += 1
        elif ch == "$":
            j = i + 1
            while j < n and _is_ident_char(src[j]):
                j += 1
            toks.append(_Tok("variable", src[i:j], pos, spaced))
            i = j
        elif ch.isdigit() or (ch in "+-" and i + 1 < n and src[i + 1].isdigit()):
            j = i + 1
            while j < n and (_is_ident_char(src[j]) or src[j] in ".+-"):
                if src[j] in "+-" and src[j - 1] not in "eEpP":
                    break
                j += 1
            text = src[i:j]
            try:
                value = int(text, 0)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    raise _parse_error(src, pos, "bad number syntax: %q" % text) from None
            toks.append(_Tok("number", value, pos, spaced))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and _is_ident_char(src[j]):
                j += 1
            word = src[i:j]
            if word in ("true", "false"):
                toks.append(_Tok("bool", word == "true", pos, spaced))
            elif word == "nil":
                toks.append(_Tok("nil", None, pos, spaced))
            elif word in _KEYWORDS:
                toks.append(_Tok("keyword", word, pos, spaced))
            else:
                toks.append(_Tok("ident", word, pos, spaced))
            i = j
        else:
            raise _parse_error(src, pos, "unexpected %r in command" % ch)
        spaced = False


# ---------------------------------------------------------------- parsing
# Nodes are tuples; the first element names the kind.
#   ("text", str)
#   ("action", pipe)
#   ("if"|"with"|"range", pipe, body, else_body)
#   ("break",) ("continue",)
# A pipe is ("pipe", decl_vars, is_decl, commands, pos); a command is a list
# of operands:
#   ("field", names, pos)  ("dot", pos)  ("var", name, names, pos)
#   ("func", name, pos)    ("lit", value, pos)  ("nil", pos)
#   ("paren", pipe, names, pos)


class _Parser:
    def __init__(self, src, funcs):
        self.src = src
        self.funcs = funcs
        self.items = _lex(src)
        self.idx = 0
        self.vars = [["$"]]

    def error(self, pos, msg):
        return _parse_error(self.src, pos, msg)

    def parse(self):
        body, stop = self.parse_list()
        if stop is not None:
            raise self.error(stop[1], "unexpected {{%s}}" % stop[0])
        return body

    def parse_list(self):
        """Parse until {{end}} / {{else}}; returns (nodes, stop) where stop is
        None at EOF or (keyword, pos, remaining_tokens)."""
        nodes = []
        while self.idx < len(self.items):
            kind, val, pos = self.items[self.idx]
            self.idx += 1
            if kind == "text":
                nodes.append(("text", val))
                continue
            toks = val
            if not toks:
                raise self.error(pos, "missing value for command")
            head = toks[0]
            if head.kind == "keyword":
                word = head.val
                if word in ("end", "else"):
                    return nodes, (word, pos, toks[1:])
                if word in ("if", "with", "range"):
                    nodes.append(self.parse_control(word, toks[1:], pos))
                    continue
                if word in ("break", "continue"):
                    if len(toks) > 1:
                        raise self.error(pos, "unexpected %s in {{%s}}" % (toks[1].val, word))
                    nodes.append((word,))
                    continue
                raise self.error(pos, "{{%s}} is not supported" % word)
            nodes.append(("action", self.parse_pipe(toks, pos, allow_decl=True)))
        return nodes, None

    def parse_control(self, word, toks, pos):
        self.vars.append([])
        pipe = self.parse_pipe(toks, pos, allow_decl=True, is_range=(word == "range"))
        body, stop = self.parse_list()
        if stop is None:
            raise self.error(pos, "unexpected EOF")
        else_body = []
        if stop[0] == "else":
            rest = stop[2]
            if rest and rest[0].kind == "keyword" and rest[0].val in ("if", "with") and word != "range":
                # {{else if ...}} chains share the final {{end}}.
                else_body = [self.parse_control(rest[0].val, rest[1:], stop[1])]
            else:
                if rest:
                    raise self.error(stop[1], "unexpected %r in else" % rest[0].val)
                else_body, stop2 = self.parse_list()
                if stop2 is None or stop2[0] != "end":
                    raise self.error(pos, "expected end; found %s" % ("EOF" if stop2 is None else stop2[0]))
        elif stop[2]:
            raise self.error(stop[1], "unexpected %r in end" % stop[2][0].val)
        self.vars.pop()
        return (word, pipe, body, else_body)

    def parse_pipe(self, toks, pos, allow_decl=False, is_range=False):
        decl = []
        is_decl = False
        i = 0
        if allow_decl and toks and toks[0].kind == "variable":
            # $x := ... | $x = ... | $i, $v := ...
            if len(toks) > 1 and toks[1].kind in ("declare", "assign"):
                decl = [toks[0].val]
                is_decl = toks[1].kind == "declare"
                i = 2
            elif is_range and len(toks) > 3 and toks[1].kind == "comma" and toks[2].kind == "variable" \
                    and toks[3].kind in ("declare", "assign"):
                decl = [toks[0].val, toks[2].val]
                is_decl = toks[3].kind == "declare"
                i = 4
        if is_decl:
            self.vars[-1].extend(decl)
        elif decl:
            for name in decl:
                self.check_var(name, toks[0].pos)
        cmds, i = self.parse_commands(toks, i, pos, closing=False)
        if i != len(toks):
            raise self.error(toks[i].pos, "unexpected %r in operand" % toks[i].val)
        return ("pipe", decl, is_decl, cmds, pos)

    def check_var(self, name, pos):
        for scope in self.vars:
            if name in scope:
                return
        raise self.error(pos, "undefined variable %r" % name)

    def parse_commands(self, toks, i, pos, closing):
        cmds = []
        while True:
            cmd = []
            while i < len(toks) and toks[i].kind not in ("pipe", "rparen"):
                operand, i = self.parse_operand(toks, i)
                cmd.append(operand)
            if not cmd:
                raise self.error(toks[i].pos if i < len(toks) else pos, "missing value for command")
            cmds.append(cmd)
            if i < len(toks) and toks[i].kind == "pipe":
                i += 1
                continue
            break
        if closing:
            if i >= len(toks) or toks[i].kind != "rparen":
                raise self.error(pos, "unclosed left paren")
            i += 1
        return cmds, i

    def parse_operand(self, toks, i):
        tok = toks[i]
        kind = tok.kind
        if kind == "field":
            names = [tok.val]
            i += 1
            while i < len(toks) and toks[i].kind == "field" and not toks[i].spaced:
                names.append(toks[i].val)
                i += 1
            return ("field", names, tok.pos), i
        if kind == "dot":
            return ("dot", tok.pos), i + 1
        if kind == "variable":
            self.check_var(tok.val, tok.pos)
            names, i = self.chain(toks, i + 1)
            return ("var", tok.val, names, tok.pos), i
        if kind == "ident":
            if tok.val not in self.funcs:
                raise self.error(tok.pos, 'function "%s" not defined' % tok.val)
            return ("func", tok.val, tok.pos), i + 1
        if kind in ("string", "number", "bool"):
            return ("lit", tok.val, tok.pos), i + 1
        if kind == "nil":
            return ("nil", tok.pos), i + 1
        if kind == "lparen":
            cmds, j = self.parse_commands(toks, i + 1, tok.pos, closing=True)
            pipe = ("pipe", [], False, cmds, tok.pos)
            names, j = self.chain(toks, j)
            return ("paren", pipe, names, tok.pos), j
        raise self.error(tok.pos, "unexpected %r in operand" % (tok.val,))

    @staticmethod
    def chain(toks, i):
        names = []
        while i < len(toks) and toks[i].kind == "field" and not toks[i].spaced:
            names.append(toks[i].val)
            i += 1
        return names, i


# ---------------------------------------------------------------- functions

class _Lazy:
    """Marks functions that get unevaluated argument thunks (and/or)."""

    def __init__(self, fn):
        self.fn = fn


def _f_index(item, *indexes):
    for idx in indexes:
        if isinstance(item, dict):
            if not isinstance(idx, str):
                raise TemplateError("error calling index: value has type %s; should be string" % type_name(idx))
            if idx in item:
                item = item[idx]
            else:
                item = item.zero if isinstance(item, TypedMap) else MISSING
        elif isinstance(item, (list, tuple, str)):
            if isinstance(idx, bool) or not isinstance(idx, int):
                raise TemplateError("error calling index: cannot index slice/array with type %s" % type_name(idx))
            if not 0 <= idx < len(item):
                raise TemplateError("error calling index: index out of range: %d" % idx)
            item = item[idx]
        elif item is None or item is MISSING:
            raise TemplateError("error calling index: index of untyped nil")
        else:
            raise TemplateError("error calling index: can't index item of type %s" % type_name(item))
    return item


def _f_slice(item, *idx):
    if not isinstance(item, (list, tuple, str)):
        raise TemplateError("error calling slice: can't slice item of type %s" % type_name(item))
    bounds = list(idx) + [None] * (2 - len(idx))
    return item[bounds[0]:bounds[1]]


def _f_len(item):
    if isinstance(item, (str, list, tuple, dict)):
        return len(item)
    raise TemplateError("error calling len: len of type %s" % type_name(item))


def _f_join(items, sep):
    if isinstance(items, str):
        return items
    return sep.join(go_string(i) for i in (items or []))


def _f_split(text, sep):
    return text.split(sep) if sep else list(text)


def _f_title(text):
    out = []
    prev_sep = True
    for ch in text:
        out.append(ch.upper() if prev_sep else ch)
        prev_sep = not (ch.isalnum() or ch == "_")
    return "".join(out)


def _f_pad(text, prefix, suffix):
    if text == "":
        return text
    return " " * prefix + text + " " * suffix


def _f_truncate(text, length):
    return text if len(text) < length else text[:length]


def _sprint(*args):
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_string(a))
    return "".join(out)


def _sprintln(*args):
    return " ".join(go_string(a) for a in args) + "\n"


def _go_quote(text):
    return json.dumps(text, ensure_ascii=False)


def _sprintf(fmt, *args):
    """fmt.Sprintf for the verbs format strings use: %v %s %d %q %t %x %f %g %%."""
    out = []
    i = 0
    argi = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        while j < n and fmt[j] in "+-# 0":
            j += 1
        while j < n and (fmt[j].isdigit() or fmt[j] == "."):
            j += 1
        if j >= n:
            out.append("%!(NOVERB)")
            break
        flags, verb = fmt[i + 1:j], fmt[j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append("%%!%s(MISSING)" % verb)
            continue
        arg = args[argi]
        argi += 1
        try:
            if verb in "vs":
                out.append(("%" + flags + "s") % go_string(arg))
            elif verb == "d":
                out.append(("%" + flags + "d") % arg)
            elif verb == "q":
                out.append(("%" + flags + "s") % _go_quote(go_string(arg)))
            elif verb == "t":
                out.append(go_string(arg))
            elif verb in "xX":
                if isinstance(arg, str):
                    arg = arg.encode().hex()
                    out.append(arg.upper() if verb == "X" else arg)
                else:
                    out.append(("%" + flags + verb) % arg)
            elif verb in "feEgG":
                out.append(("%" + flags + verb) % arg)
            else:
                out.append("%%!%s(%s=%s)" % (verb, type_name(arg), go_string(arg)))
        except (TypeError, ValueError):
            out.append("%%!%s(%s=%s)" % (verb, type_name(arg), go_string(arg)))
    if argi < len(args):
        out.append("%!(EXTRA " + ", ".join(
            "%s=%s" % (type_name(a), go_string(a)) for a in args[argi:]) + ")")
    return "".join(out)


def _basic(value):
    if value is MISSING:
        return None
    return value


def _cmp_pair(a, b, name):
    a, b = _basic(a), _basic(b)
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return a, b
    if type(a) is not type(b):
        raise TemplateError("error calling %s: incompatible types for comparison" % name)
    return a, b


def _f_eq(a, *others):
    if not others:
        raise TemplateError("error calling eq: missing argument for comparison")
    for b in others:
        if a is None or b is None or a is MISSING or b is MISSING:
            if _basic(a) is None and _basic(b) is None:
                return True
            continue
        x, y = _cmp_pair(a, b, "eq")
        if x == y:
            return True
    return False


def _f_ne(a, b):
    return not _f_eq(a, b)


def _ordered(name, op):
    def compare(a, b):
        x, y = _cmp_pair(a, b, name)
        if isinstance(x, (dict, list, bool)) or x is None:
            raise TemplateError("error calling %s: invalid type for comparison" % name)
        return op(x, y)
    return compare


def _f_and(*thunks):
    value = None
    for thunk in thunks:
        value = thunk()
        if not is_true(value):
            return value
    return value


def _f_or(*thunks):
    value = None
    for thunk in thunks:
        value = thunk()
        if is_true(value):
            return value
    return value


BASE_FUNCS = {
    "and": _Lazy(_f_and),
    "or": _Lazy(_f_or),
    "not": lambda v: not is_true(v),
    "len": _f_len,
    "index": _f_index,
    "slice": _f_slice,
    "print": _sprint,
    "printf": _sprintf,
    "println": _sprintln,
    "eq": _f_eq,
    "ne": _f_ne,
    "lt": _ordered("lt", lambda a, b: a < b),
    "le": _ordered("le", lambda a, b: a <= b),
    "gt": _ordered("gt", lambda a, b: a > b),
    "ge": _ordered("ge", lambda a, b: a >= b),
    # docker/cli templates.basicFunctions
    "json": go_json,
    "split": _f_split,
    "join": _f_join,
    "title": _f_title,
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "pad": _f_pad,
    "truncate": _f_truncate,
}


def _first(v, *_rest):
    return v


# docker/cli templates.HeaderFunctions: a table header keeps its column names.
HEADER_FUNCS = dict(BASE_FUNCS, json=_first, split=_first, join=_first,
                    title=_first, lower=_first, upper=_first, truncate=_first)


# ---------------------------------------------------------------- execution

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    def __init__(self, pos, msg):
        super().__init__(msg)
        self.pos = pos
        self.msg = msg


class Template:
    """A parsed template; :meth:`execute` renders it against data."""

    def __init__(self, src, funcs=None):
        self.src = src
        self.tree = _Parser(src, funcs or BASE_FUNCS).parse()

    def execute(self, data, missing_error=False, funcs=None):
        """Render; ``missing_error`` is Go's ``missingkey=error`` option."""
        run = _Run(self.src, data, missing_error, funcs or BASE_FUNCS)
        try:
            run.walk(self.tree, data)
        except (_Break, _Continue):
            pass
        return "".join(run.out)


def parse(src, funcs=None):
    """Parse ``src``; raises :class:`TemplateError` with Go's message."""
    return Template(src, funcs)


class _Run:
    def __init__(self, src, data, missing_error, funcs):
        self.src = src
        self.missing_error = missing_error
        self.funcs = funcs
        self.out = []
        self.vars = [("$", data)]

    # -- errors
    def fail(self, pos, msg):
        raise _ExecError(pos, msg)

    def error_text(self, err):
        line = self.src.count("\n", 0, err.pos) + 1
        col = err.pos - (self.src.rfind("\n", 0, err.pos) + 1)
        return 'template: :%d:%d: executing "" at <%s>: %s' % (
            line, col, self._node_text(err.pos), err.msg)

    def _node_text(self, pos):
        end = pos
        depth = 0
        src = self.src
        while end < len(src):
            ch = src[end]
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (src.startswith("}}", end) or ch in " |\t\n"):
                break
            end += 1
        return src[pos:end]

    # -- walking
    def walk(self, nodes, dot):
        try:
            for node in nodes:
                self.walk_node(node, dot)
        except _ExecError as err:
            raise TemplateError(self.error_text(err)) from None

    def walk_node(self, node, dot):
        kind = node[0]
        if kind == "text":
            self.out.append(node[1])
        elif kind == "action":
            value = self.eval_pipe(dot, node[1])
            if not node[1][1]:
                self.out.append(go_string(value))
        elif kind in ("if", "with"):
            mark = len(self.vars)
            value = self.eval_pipe(dot, node[1])
            if is_true(value):
                self.walk_list(node[2], value if kind == "with" else dot)
            else:
                self.walk_list(node[3], dot)
            del self.vars[mark:]
        elif kind == "range":
            self.walk_range(node, dot)
        elif kind == "break":
            raise _Break()
        elif kind == "continue":
            raise _Continue()

    def walk_list(self, nodes, dot):
        mark = len(self.vars)
        for node in nodes:
            self.walk_node(node, dot)
        del self.vars[mark:]

    def walk_range(self, node, dot):
        _, pipe, body, else_body = node
        mark = len(self.vars)
        decl = pipe[1]
        value = self.eval_pipe(dot, ("pipe", [], False, pipe[3], pipe[4]))
        if isinstance(value, dict):
            pairs = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, (list, tuple)):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        elif value is None or value is MISSING:
            pairs = []
        else:
            self.fail(pipe[4], "range can't iterate over %s" % go_string(value))
        if not pairs:
            self.walk_list(else_body, dot)
            del self.vars[mark:]
            return
        for key, elem in pairs:
            inner = len(self.vars)
            if len(decl) == 1:
                self.set_var(decl[0], elem, pipe[2])
            elif len(decl) == 2:
                self.set_var(decl[0], key, pipe[2])
                self.set_var(decl[1], elem, pipe[2])
            try:
                self.walk_list(body, elem)
            except _Break:
                del self.vars[inner:]
                break
            except _Continue:
                pass
            del self.vars[inner:]
        del self.vars[mark:]

    def set_var(self, name, value, declare):
        if declare:
            self.vars.append((name, value))
            return
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        self.vars.append((name, value))

    def get_var(self, name, pos):
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        self.fail(pos, "undefined variable: %s" % name)

    # -- pipelines
    def eval_pipe(self, dot, pipe):
        _, decl, is_decl, cmds, _pos = pipe
        value = _NOFINAL
        for cmd in cmds:
            value = self.eval_command(dot, cmd, value)
        if decl:
            self.set_var(decl[0], value, is_decl)
        return value

    def eval_command(self, dot, cmd, final):
        first = cmd[0]
        kind = first[0]
        args = cmd[1:]
        if kind == "field":
            return self.eval_chain(dot, dot, first[1], first[2], args, final)
        if kind == "var":
            value = self.get_var(first[1], first[3])
            if first[2]:
                return self.eval_chain(dot, value, first[2], first[3], args, final)
            self.no_args(first, args, final)
            return value
        if kind == "func":
            return self.eval_func(dot, first[1], first[2], args, final)
        if kind == "paren":
            value = self.eval_pipe(dot, first[1])
            if first[2]:
                return self.eval_chain(dot, value, first[2], first[3], args, final)
            self.no_args(first, args, final)
            return value
        if kind == "dot":
            self.no_args(first, args, final)
            return dot
        if kind == "nil":
            self.fail(first[1], "nil is not a command")
        self.no_args(first, args, final)
        return first[1]

    def no_args(self, node, args, final):
        if args or final is not _NOFINAL:
            self.fail(node[-1], "can't give argument to non-function %s" % self._node_text(node[-1]))

    def eval_arg(self, dot, node):
        kind = node[0]
        if kind == "field":
            return self.eval_chain(dot, dot, node[1], node[2], [], _NOFINAL)
        if kind == "var":
            value = self.get_var(node[1], node[3])
            return self.eval_chain(dot, value, node[2], node[3], [], _NOFINAL) if node[2] else value
        if kind == "paren":
            value = self.eval_pipe(dot, node[1])
            return self.eval_chain(dot, value, node[2], node[3], [], _NOFINAL) if node[2] else value
        if kind == "dot":
            return dot
        if kind == "nil":
            return None
        if kind == "func":
            return self.eval_func(dot, node[1], node[2], [], _NOFINAL)
        return node[1]

    def eval_func(self, dot, name, pos, args, final):
        fn = self.funcs[name]
        if isinstance(fn, _Lazy):
            thunks = [(lambda a=a: self.eval_arg(dot, a)) for a in args]
            if final is not _NOFINAL:
                thunks.append(lambda: final)
            if not thunks:
                self.fail(pos, "wrong number of args for %s: want at least 1 got 0" % name)
            return fn.fn(*thunks)
        values = [self.eval_arg(dot, a) for a in args]
        if final is not _NOFINAL:
            values.append(final)
        try:
            return fn(*values)
        except TemplateError as err:
            self.fail(pos, str(err))
        except TypeError as err:
            self.fail(pos, "error calling %s: %s" % (name, _plain_type_error(err)))
        except (AttributeError, ValueError) as err:
            self.fail(pos, "error calling %s: %s" % (name, err))

    def eval_chain(self, dot, receiver, names, pos, args, final):
        for name in names[:-1]:
            receiver = self.eval_field(receiver, name, pos, [], _NOFINAL)
        return self.eval_field(receiver, names[-1], pos, [self.eval_arg(dot, a) for a in args], final)

    def eval_field(self, receiver, name, pos, args, final):
        has_args = bool(args) or final is not _NOFINAL
        if final is not _NOFINAL:
            args = args + [final]
        if receiver is MISSING:
            if self.missing_error:
                self.fail(pos, 'nil data; no entry for key "%s"' % name)
            return MISSING
        if receiver is None:
            self.fail(pos, "nil pointer evaluating interface {}.%s" % name)
        if isinstance(receiver, GoStruct):
            if name in receiver.values:
                if has_args:
                    self.fail(pos, "%s has arguments but cannot be invoked as function" % name)
                return receiver.values[name]
            self.fail(pos, "can't evaluate field %s in type %s" % (name, receiver.type_name))
        if isinstance(receiver, dict):
            method = getattr(receiver, "template_method", None)
            if method is not None and name in getattr(receiver, "template_methods", ()):
                return method(name, *args)
            if has_args:
                self.fail(pos, "%s is not a method but has arguments" % name)
            if name in receiver:
                return receiver[name]
            if self.missing_error:
                self.fail(pos, 'map has no entry for key "%s"' % name)
            return MISSING
        if isinstance(receiver, (str, int, float, bool, list, tuple, GoTime)):
            self.fail(pos, "can't evaluate field %s in type %s" % (name, type_name(receiver)))
        # A row context: exported (capitalised) attributes and methods only.
        if name[:1].isupper():
            attr = getattr(type(receiver), name, None)
            if attr is not None:
                value = getattr(receiver, name)
                if callable(value):
                    try:
                        return value(*args)
                    except TypeError as err:
                        self.fail(pos, "wrong number of args for %s: %s" % (name, _plain_type_error(err)))
                if has_args:
                    self.fail(pos, "%s has arguments but cannot be invoked as function" % name)
                return value
        self.fail(pos, "can't evaluate field %s in type %s" % (name, type_name(receiver)))


class _NoFinal:
    pass


_NOFINAL = _NoFinal()


def _plain_type_error(err):
    text = str(err)
    return text.split(") ", 1)[-1] if ") " in text else text
