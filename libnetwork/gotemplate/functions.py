"""The functions templates call: Go's builtins and those docker adds.

Go's text/template builtins (``and``, ``or``, ``not``, ``len``, ``index``,
``slice``, ``print``/``printf``/``println``, ``eq``/``ne``/``lt``/``le``/
``gt``/``ge``) and docker/cli's ``templates.basicFunctions`` (``json``,
``split``, ``join``, ``title``, ``lower``, ``upper``, ``pad``,
``truncate``).  A function reports a misuse by raising TemplateError (or
TypeError/ValueError, which the executor words as Go does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .errors import TemplateError
from .values import MISSING, TypedMap, go_json, go_quote, go_string, is_true, type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BASE_FUNCS", "FuncMap", "HEADER_FUNCS", "Lazy"]


class Lazy:
    """A function that gets its arguments unevaluated, as thunks (``and``/``or``
    stop at the first deciding one, as Go's do)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., object]) -> None:
        self.fn = fn


FuncMap = Mapping[str, "Callable[..., Any] | Lazy"]


def _f_index(item: object, *indexes: object) -> object:
    for idx in indexes:
        if isinstance(item, dict):
            if not isinstance(idx, str):
                raise TemplateError(f"error calling index: value has type {type_name(idx)}; should be string")
            if idx in item:
                item = item[idx]
            else:
                item = item.zero if isinstance(item, TypedMap) else MISSING
        elif isinstance(item, (list, tuple, str)):
            if isinstance(idx, bool) or not isinstance(idx, int):
                raise TemplateError(f"error calling index: cannot index slice/array with type {type_name(idx)}")
            if not 0 <= idx < len(item):
                raise TemplateError(f"error calling index: index out of range: {idx}")
            item = item[idx]
        elif item is None or item is MISSING:
            raise TemplateError("error calling index: index of untyped nil")
        else:
            raise TemplateError(f"error calling index: can't index item of type {type_name(item)}")
    return item


def _f_slice(item: object, *idx: Any) -> object:
    if not isinstance(item, (list, tuple, str)):
        raise TemplateError(f"error calling slice: can't slice item of type {type_name(item)}")
    bounds = list(idx) + [None] * (2 - len(idx))
    return item[bounds[0]:bounds[1]]


def _f_len(item: object) -> int:
    if isinstance(item, (str, list, tuple, dict)):
        return len(item)
    raise TemplateError(f"error calling len: len of type {type_name(item)}")


def _f_join(items: Any, sep: str) -> str:
    if isinstance(items, str):
        return items
    return sep.join(go_string(i) for i in (items or []))


def _f_split(text: str, sep: str) -> list[str]:
    return text.split(sep) if sep else list(text)


def _f_title(text: str) -> str:
    out = []
    prev_sep = True
    for ch in text:
        out.append(ch.upper() if prev_sep else ch)
        prev_sep = not (ch.isalnum() or ch == "_")
    return "".join(out)


def _f_pad(text: str, prefix: int, suffix: int) -> str:
    if text == "":
        return text
    return " " * prefix + text + " " * suffix


def _f_truncate(text: str, length: int) -> str:
    return text if len(text) < length else text[:length]


def _sprint(*args: object) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_string(a))
    return "".join(out)


def _sprintln(*args: object) -> str:
    return " ".join(go_string(a) for a in args) + "\n"


def _bad_verb(verb: str, arg: object) -> str:
    return f"%!{verb}({type_name(arg)}={go_string(arg)})"


def _sprintf(fmt: str, *args: Any) -> str:
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
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        # The user's flags and width go to Python's printf, whose verbs agree with Go's for these.
        spec = "%" + flags
        try:
            if verb in "vs":
                out.append((spec + "s") % go_string(arg))
            elif verb == "d":
                out.append((spec + "d") % arg)
            elif verb == "q":
                out.append((spec + "s") % go_quote(go_string(arg)))
            elif verb == "t":
                out.append(go_string(arg))
            elif verb in "xX":
                if isinstance(arg, str):
                    hexed = arg.encode().hex()
                    out.append(hexed.upper() if verb == "X" else hexed)
                else:
                    out.append((spec + verb) % arg)
            elif verb in "feEgG":
                out.append((spec + verb) % arg)
            else:
                out.append(_bad_verb(verb, arg))
        except (TypeError, ValueError):
            out.append(_bad_verb(verb, arg))
    if argi < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{type_name(a)}={go_string(a)}" for a in args[argi:]) + ")")
    return "".join(out)


def _basic(value: object) -> object:
    if value is MISSING:
        return None
    return value


def _cmp_pair(a: object, b: object, name: str) -> tuple[Any, Any]:
    a, b = _basic(a), _basic(b)
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return a, b
    if type(a) is not type(b):
        raise TemplateError(f"error calling {name}: incompatible types for comparison")
    return a, b


def _f_eq(a: object, *others: object) -> bool:
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


def _f_ne(a: object, b: object) -> bool:
    return not _f_eq(a, b)


def _ordered(name: str, op: Callable[[Any, Any], bool]) -> Callable[[object, object], bool]:
    def compare(a: object, b: object) -> bool:
        x, y = _cmp_pair(a, b, name)
        if isinstance(x, (dict, list, bool)) or x is None:
            raise TemplateError(f"error calling {name}: invalid type for comparison")
        return op(x, y)
    return compare


def _f_and(*thunks: Callable[[], object]) -> object:
    value = None
    for thunk in thunks:
        value = thunk()
        if not is_true(value):
            return value
    return value


def _f_or(*thunks: Callable[[], object]) -> object:
    value = None
    for thunk in thunks:
        value = thunk()
        if is_true(value):
            return value
    return value


# Parameter names show in Go-worded errors ("missing 1 required positional argument: 's'").
def _f_lower(s: str) -> str:
    return s.lower()


def _f_upper(s: str) -> str:
    return s.upper()


def _f_not(v: object) -> bool:
    return not is_true(v)


BASE_FUNCS: FuncMap = {
    "and": Lazy(_f_and),
    "or": Lazy(_f_or),
    "not": _f_not,
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
    "lower": _f_lower,
    "upper": _f_upper,
    "pad": _f_pad,
    "truncate": _f_truncate,
}


def _first(v: object, *_rest: object) -> object:
    return v


# docker/cli templates.HeaderFunctions: a table header keeps its column names.
HEADER_FUNCS: FuncMap = dict(BASE_FUNCS, json=_first, split=_first, join=_first,
                             title=_first, lower=_first, upper=_first, truncate=_first)
