"""The parse tree of a template, and the parser that builds it from tokens.

A template is a list of nodes: text, actions (a pipeline whose value is
printed unless it declares a variable), the ``if``/``with``/``range``
controls with their ``else`` branch, and ``break``/``continue``.  A pipeline
is commands joined by ``|``; a command is a list of operands, the first of
which is the one called (a function, or a field/method taking arguments).
Names are checked here as Go does: functions against the function map,
variables against the scopes that declare them.
"""

from __future__ import annotations

from collections.abc import Container

from .errors import TemplateError, parse_error
from .lexer import Literal, TextItem, Token, lex

# ---------------------------------------------------------------- operands


class Field:
    """``.A.B``: a field chain on dot."""

    __slots__ = ("names", "pos")

    def __init__(self, names: list[str], pos: int) -> None:
        self.names = names
        self.pos = pos


class Dot:
    """``.`` itself."""

    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class Variable:
    """``$x`` or ``$x.A.B``."""

    __slots__ = ("name", "names", "pos")

    def __init__(self, name: str, names: list[str], pos: int) -> None:
        self.name = name
        self.names = names
        self.pos = pos


class Function:
    """A function name from the function map."""

    __slots__ = ("name", "pos")

    def __init__(self, name: str, pos: int) -> None:
        self.name = name
        self.pos = pos


class Constant:
    """A string, number or bool literal."""

    __slots__ = ("value", "pos")

    def __init__(self, value: Literal, pos: int) -> None:
        self.value = value
        self.pos = pos


class Nil:
    """``nil``: an argument only, never a command."""

    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos


class Paren:
    """``(pipeline)``, optionally followed by a field chain: ``(index .L 0).Name``."""

    __slots__ = ("pipe", "names", "pos")

    def __init__(self, pipe: Pipe, names: list[str], pos: int) -> None:
        self.pipe = pipe
        self.names = names
        self.pos = pos


Operand = Field | Dot | Variable | Function | Constant | Nil | Paren
Command = list[Operand]


class Pipe:
    """Commands joined by ``|``, with the variables it declares or assigns.

    ``decl`` holds one name (``$x := ...``) or, in a range, two
    (``$i, $v := ...``); ``is_decl`` tells ``:=`` from ``=``.
    """

    __slots__ = ("decl", "is_decl", "cmds", "pos")

    def __init__(self, decl: list[str], is_decl: bool, cmds: list[Command], pos: int) -> None:
        self.decl = decl
        self.is_decl = is_decl
        self.cmds = cmds
        self.pos = pos


# ---------------------------------------------------------------- nodes


class Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Action:
    """``{{pipeline}}``: printed unless it declares or assigns a variable."""

    __slots__ = ("pipe",)

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe


class Control:
    """``if``, ``with`` or ``range`` (``kind``), its body and else branch."""

    __slots__ = ("kind", "pipe", "body", "else_body")

    def __init__(self, kind: str, pipe: Pipe, body: list[Node], else_body: list[Node]) -> None:
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.else_body = else_body


class Break:
    __slots__ = ()


class Continue:
    __slots__ = ()


Node = Text | Action | Control | Break | Continue


class _Stop:
    """Where a list ended: at ``{{end}}`` or ``{{else ...}}`` (``word``), with what followed the word."""

    __slots__ = ("word", "pos", "rest")

    def __init__(self, word: str, pos: int, rest: list[Token]) -> None:
        self.word = word
        self.pos = pos
        self.rest = rest


def parse(src: str, funcs: Container[str]) -> list[Node]:
    """The tree of ``src``; ``funcs`` names the functions it may call."""
    return _Parser(src, funcs).parse()


class _Parser:
    def __init__(self, src: str, funcs: Container[str]) -> None:
        self.src = src
        self.funcs = funcs
        self.items = lex(src)
        self.idx = 0
        self.vars: list[list[str]] = [["$"]]

    def error(self, pos: int, msg: str) -> TemplateError:
        return parse_error(self.src, pos, msg)

    def parse(self) -> list[Node]:
        body, stop = self.parse_list()
        if stop is not None:
            raise self.error(stop.pos, f"unexpected {{{{{stop.word}}}}}")
        return body

    def parse_list(self) -> tuple[list[Node], _Stop | None]:
        """Parse until {{end}} / {{else}}; the stop is None at EOF."""
        nodes: list[Node] = []
        while self.idx < len(self.items):
            item = self.items[self.idx]
            self.idx += 1
            if isinstance(item, TextItem):
                nodes.append(Text(item.text))
                continue
            toks, pos = item.tokens, item.pos
            if not toks:
                raise self.error(pos, "missing value for command")
            head = toks[0]
            if head.kind == "keyword":
                word = head.name
                if word in ("end", "else"):
                    return nodes, _Stop(word, pos, toks[1:])
                if word in ("if", "with", "range"):
                    nodes.append(self.parse_control(word, toks[1:], pos))
                    continue
                if word in ("break", "continue"):
                    if len(toks) > 1:
                        raise self.error(pos, f"unexpected {toks[1].val} in {{{{{word}}}}}")
                    nodes.append(Break() if word == "break" else Continue())
                    continue
                raise self.error(pos, f"{{{{{word}}}}} is not supported")
            nodes.append(Action(self.parse_pipe(toks, pos, allow_decl=True)))
        return nodes, None

    def parse_control(self, word: str, toks: list[Token], pos: int) -> Control:
        self.vars.append([])
        pipe = self.parse_pipe(toks, pos, allow_decl=True, is_range=(word == "range"))
        body, stop = self.parse_list()
        if stop is None:
            raise self.error(pos, "unexpected EOF")
        else_body: list[Node] = []
        if stop.word == "else":
            rest = stop.rest
            if rest and rest[0].kind == "keyword" and rest[0].val in ("if", "with") and word != "range":
                # {{else if ...}} chains share the final {{end}}.
                else_body = [self.parse_control(rest[0].name, rest[1:], stop.pos)]
            else:
                if rest:
                    raise self.error(stop.pos, f"unexpected {rest[0].val!r} in else")
                else_body, stop2 = self.parse_list()
                if stop2 is None or stop2.word != "end":
                    raise self.error(pos, f"expected end; found {'EOF' if stop2 is None else stop2.word}")
        elif stop.rest:
            raise self.error(stop.pos, f"unexpected {stop.rest[0].val!r} in end")
        self.vars.pop()
        return Control(word, pipe, body, else_body)

    def parse_pipe(self, toks: list[Token], pos: int, allow_decl: bool = False, is_range: bool = False) -> Pipe:
        decl: list[str] = []
        is_decl = False
        i = 0
        if allow_decl and toks and toks[0].kind == "variable":
            # $x := ... | $x = ... | $i, $v := ...
            if len(toks) > 1 and toks[1].kind in ("declare", "assign"):
                decl = [toks[0].name]
                is_decl = toks[1].kind == "declare"
                i = 2
            elif is_range and len(toks) > 3 and toks[1].kind == "comma" and toks[2].kind == "variable" \
                    and toks[3].kind in ("declare", "assign"):
                decl = [toks[0].name, toks[2].name]
                is_decl = toks[3].kind == "declare"
                i = 4
        if is_decl:
            self.vars[-1].extend(decl)
        elif decl:
            for name in decl:
                self.check_var(name, toks[0].pos)
        cmds, i = self.parse_commands(toks, i, pos, closing=False)
        if i != len(toks):
            raise self.error(toks[i].pos, f"unexpected {toks[i].val!r} in operand")
        return Pipe(decl, is_decl, cmds, pos)

    def check_var(self, name: str, pos: int) -> None:
        for scope in self.vars:
            if name in scope:
                return
        raise self.error(pos, f"undefined variable {name!r}")

    def parse_commands(self, toks: list[Token], i: int, pos: int, closing: bool) -> tuple[list[Command], int]:
        cmds: list[Command] = []
        while True:
            cmd: Command = []
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

    def parse_operand(self, toks: list[Token], i: int) -> tuple[Operand, int]:
        tok = toks[i]
        kind = tok.kind
        if kind == "field":
            names = [tok.name]
            i += 1
            while i < len(toks) and toks[i].kind == "field" and not toks[i].spaced:
                names.append(toks[i].name)
                i += 1
            return Field(names, tok.pos), i
        if kind == "dot":
            return Dot(tok.pos), i + 1
        if kind == "variable":
            self.check_var(tok.name, tok.pos)
            names, i = _chain(toks, i + 1)
            return Variable(tok.name, names, tok.pos), i
        if kind == "ident":
            if tok.name not in self.funcs:
                raise self.error(tok.pos, f'function "{tok.name}" not defined')
            return Function(tok.name, tok.pos), i + 1
        if kind in ("string", "number", "bool"):
            return Constant(tok.val, tok.pos), i + 1
        if kind == "nil":
            return Nil(tok.pos), i + 1
        if kind == "lparen":
            cmds, j = self.parse_commands(toks, i + 1, tok.pos, closing=True)
            names, j = _chain(toks, j)
            return Paren(Pipe([], False, cmds, tok.pos), names, tok.pos), j
        raise self.error(tok.pos, f"unexpected {tok.val!r} in operand")


def _chain(toks: list[Token], i: int) -> tuple[list[str], int]:
    """The field names directly after an operand (no space before them)."""
    names = []
    while i < len(toks) and toks[i].kind == "field" and not toks[i].spaced:
        names.append(toks[i].name)
        i += 1
    return names, i
