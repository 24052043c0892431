"""Splitting a template into text and the tokens of its actions.

Trim markers (``{{-``/``-}}``) are applied here and comments dropped, so
the parser sees only text runs and token lists.  Literals are decoded as
they are lexed: Go's escapes in strings, numbers in Go's syntax (decimal,
``0x``, ``0o``, ``0b``, floats), character constants as their code point.
"""

from __future__ import annotations

from .errors import parse_error
from .values import go_quote

KEYWORDS = frozenset({"if", "else", "end", "range", "with", "break", "continue",
                      "define", "template", "block"})
SPACE = " \t\r\n"

# What a literal token carries: a string, a number, a bool, or nil's None.
Literal = str | int | float | bool | None

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
            "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_HEX_WIDTH = {"x": 2, "u": 4, "U": 8}


class Token:
    """One token of an action.

    ``kind`` is one of pipe, lparen, rparen, comma, declare, assign, string,
    number, bool, nil, field, dot, variable, keyword, ident.  ``val`` is the
    decoded literal, or the name of a field (without its dot), variable (with
    its ``$``), keyword or function.  ``spaced`` tells whether space preceded
    it, which separates ``.A .B`` (two operands) from ``.A.B`` (a chain).
    """

    __slots__ = ("kind", "val", "pos", "spaced")

    def __init__(self, kind: str, val: Literal, pos: int, spaced: bool) -> None:
        self.kind = kind
        self.val = val
        self.pos = pos
        self.spaced = spaced

    @property
    def name(self) -> str:
        """The name a field, variable, keyword or function token carries."""
        if not isinstance(self.val, str):
            raise TypeError(f"{self.kind} token has no name")
        return self.val

    def __repr__(self) -> str:
        return f"{self.kind}({self.val!r})"


class TextItem:
    """A run of text outside actions, after trimming."""

    __slots__ = ("text", "pos")

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos


class ActionItem:
    """The tokens of one ``{{...}}``; ``pos`` is where its ``{{`` starts."""

    __slots__ = ("tokens", "pos")

    def __init__(self, tokens: list[Token], pos: int) -> None:
        self.tokens = tokens
        self.pos = pos


Item = TextItem | ActionItem


def _unquote(body: str, pos: int, src: str) -> str:
    """Decode the escapes Go allows in an interpreted string literal."""
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1:i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in _HEX_WIDTH:
            width = _HEX_WIDTH[nxt]
            digits = body[i + 2:i + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise parse_error(src, pos, "invalid syntax") from None
            i += 2 + width
        elif nxt.isdigit():
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            raise parse_error(src, pos, "invalid syntax")
    return "".join(out)


def _is_ident_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def lex(src: str) -> list[Item]:
    """Split a template into text and action items, trimming already applied."""
    items: list[Item] = []
    i = 0
    n = len(src)
    while i < n:
        start = src.find("{{", i)
        if start < 0:
            items.append(TextItem(src[i:], i))
            break
        text = src[i:start]
        j = start + 2
        if src.startswith("-", j) and j + 1 < n and src[j + 1] in SPACE:
            text = text.rstrip(SPACE)
            j += 2
        if text:
            items.append(TextItem(text, i))
        # Comments are not tokenised: {{/* ... */}}.
        if src.startswith("/*", j):
            close = src.find("*/", j + 2)
            if close < 0:
                raise parse_error(src, start, "unclosed comment")
            k = close + 2
            trim = False
            if src.startswith(" -}}", k):
                trim, k = True, k + 4
            elif src.startswith("}}", k):
                k += 2
            else:
                raise parse_error(src, start, "comment ends before closing delimiter")
            i = k
            if trim:
                while i < n and src[i] in SPACE:
                    i += 1
            continue
        toks, i, trim = _lex_action(src, j, start)
        items.append(ActionItem(toks, start))
        if trim:
            while i < n and src[i] in SPACE:
                i += 1
    return items


_PUNCTUATION = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}


def _lex_action(src: str, i: int, start: int) -> tuple[list[Token], int, bool]:
    """Tokens of the action whose body begins at ``i``; returns (tokens, end, trim after)."""
    toks: list[Token] = []
    n = len(src)
    spaced = True
    while True:
        if i >= n:
            raise parse_error(src, start, "unclosed action")
        ch = src[i]
        if ch in SPACE:
            j = i
            while j < n and src[j] in SPACE:
                j += 1
            if src.startswith("-}}", j):
                return toks, j + 3, True
            i = j
            spaced = True
            continue
        if src.startswith("}}", i):
            return toks, i + 2, False
        pos = i
        if src.startswith(":=", i):
            toks.append(Token("declare", ":=", pos, spaced))
            i += 2
        elif ch in _PUNCTUATION:
            toks.append(Token(_PUNCTUATION[ch], ch, pos, spaced))
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
                raise parse_error(src, pos, "unterminated quoted string")
            toks.append(Token("string", _unquote(src[i + 1:j], pos, src), pos, spaced))
            i = j + 1
        elif ch == "`":
            j = src.find("`", i + 1)
            if j < 0:
                raise parse_error(src, pos, "unterminated raw quoted string")
            toks.append(Token("string", src[i + 1:j], pos, spaced))
            i = j + 1
        elif ch == "'":
            j = src.find("'", i + 1)
            if j < 0:
                raise parse_error(src, pos, "unterminated character constant")
            body = _unquote(src[i + 1:j], pos, src)
            if len(body) != 1:
                raise parse_error(src, pos, "malformed character constant")
            toks.append(Token("number", ord(body), pos, spaced))
            i = j + 1
        elif ch == "." and i + 1 < n and _is_ident_char(src[i + 1]) and not src[i + 1].isdigit():
            j = i + 1
            while j < n and _is_ident_char(src[j]):
                j += 1
            toks.append(Token("field", src[i + 1:j], pos, spaced))
            i = j
        elif ch == ".":
            toks.append(Token("dot", ".", pos, spaced))
            i += 1
        elif ch == "$":
            j = i + 1
            while j < n and _is_ident_char(src[j]):
                j += 1
            toks.append(Token("variable", src[i:j], pos, spaced))
            i = j
        elif ch.isdigit() or (ch in "+-" and i + 1 < n and src[i + 1].isdigit()):
            i = _lex_number(src, i, spaced, toks)
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and _is_ident_char(src[j]):
                j += 1
            word = src[i:j]
            if word in ("true", "false"):
                toks.append(Token("bool", word == "true", pos, spaced))
            elif word == "nil":
                toks.append(Token("nil", None, pos, spaced))
            elif word in KEYWORDS:
                toks.append(Token("keyword", word, pos, spaced))
            else:
                toks.append(Token("ident", word, pos, spaced))
            i = j
        else:
            raise parse_error(src, pos, f"unexpected {ch!r} in command")
        spaced = False


def _lex_number(src: str, i: int, spaced: bool, toks: list[Token]) -> int:
    """Lex the number at ``i`` into ``toks``; returns where it ends."""
    n = len(src)
    j = i + 1
    while j < n and (_is_ident_char(src[j]) or src[j] in ".+-"):
        if src[j] in "+-" and src[j - 1] not in "eEpP":
            break
        j += 1
    text = src[i:j]
    value: int | float
    try:
        value = int(text, 0)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise parse_error(src, i, f"bad number syntax: {go_quote(text)}") from None
    toks.append(Token("number", value, i, spaced))
    return j
