"""Go values as templates see and print them.

Go's ``fmt`` prints maps as ``map[k:v]`` with sorted keys, slices as
``[a b]``, structs as ``{a b}``, a missing map key as ``<no value>``;
encoding/json sorts map keys but keeps struct field order.  Users compare
``--format`` output with docker's, so these rules are reproduced here, with
small wrappers for typed values (:class:`GoStruct`, :class:`GoTime`,
:class:`TypedMap`) that a caller decodes its data into when it knows Go's
types.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["GoStruct", "GoTime", "MISSING", "TypedMap", "go_json", "go_quote", "go_string",
           "go_time_string", "is_true", "type_name"]


class _Missing:
    """Go's invalid reflect.Value: what a missing map key yields."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class GoTime:
    """A time.Time: printed as Go's ``Time.String()``, JSON as given."""

    __slots__ = ("raw",)

    def __init__(self, raw: str) -> None:
        self.raw = raw

    def __str__(self) -> str:
        return go_time_string(self.raw)


class TypedMap(dict[str, object]):
    """A Go map with a known element type: ``index`` of a missing key gives
    the element's zero value, and a nil map prints as ``map[]``/``null``."""

    __slots__ = ("zero", "is_nil")

    def __init__(self, items: Any = (), zero: object = "", is_nil: bool = False) -> None:
        super().__init__(items)
        self.zero = zero
        self.is_nil = is_nil


class GoStruct:
    """A value of a Go struct type: fields by Go name, printed ``{a b}``.

    ``fields`` is a sequence of ``(go_name, json_key, omitempty)``; ``values``
    maps go_name to the (already typed) value.
    """

    __slots__ = ("type_name", "fields", "values")

    def __init__(self, type_name: str, fields: Sequence[tuple[str, str, bool]], values: dict[str, object]) -> None:
        self.type_name = type_name
        self.fields = fields
        self.values = values


def go_time_string(raw: object) -> str:
    """RFC 3339 text as Go's ``Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    if not isinstance(raw, str) or "T" not in raw or len(raw) < 20:
        return str(raw)
    date, _, rest = raw.partition("T")
    if rest.endswith("Z"):
        clock, zone = rest[:-1], "+0000 UTC"
    else:
        cut = max(rest.rfind("+"), rest.rfind("-"))
        if cut < 0:
            return raw
        clock, off = rest[:cut], rest[cut:].replace(":", "")
        zone = off + " " + off
    whole, _, frac = clock.partition(".")
    frac = frac.rstrip("0")
    return f"{date} {whole}{'.' + frac if frac else ''} {zone}"


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (JSON's escaping; they agree on printable text)."""
    return json.dumps(text, ensure_ascii=False)


# ---------------------------------------------------------------- printing

def _format_float(value: float) -> str:
    """Go's %v for float64: %g with the shortest digits (exponent form
    when the exponent is below -4 or at least 6, e.g. ``1e+06``)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mant, _, exp = repr(abs(value)).partition("e")
    intpart, _, frac = mant.partition(".")
    digits = intpart + frac
    point = len(intpart) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return sign + "0." + "0" * -point + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]


def go_string(value: object, nested: bool = False) -> str:
    """Render a value as Go's ``fmt.Print`` would (``%v``)."""
    if value is MISSING:
        return "<no value>" if not nested else "<nil>"
    if value is None:
        return "<nil>" if nested else "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, GoTime):
        return str(value)
    if isinstance(value, GoStruct):
        return "{" + " ".join(go_string(value.values[f[0]], True) for f in value.fields) + "}"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_string(value[k], True)}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_string(v, True) for v in value) + "]"
    return str(value)


def _jsonable(value: object) -> Any:
    """Turn typed values into what Go's encoding/json would emit."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, GoTime):
        return value.raw
    if isinstance(value, GoStruct):
        out = {}
        for go_name, key, omitempty in value.fields:
            v = value.values[go_name]
            if omitempty and _is_empty(v):
                continue
            out[key] = _jsonable(v)
        return out
    if isinstance(value, TypedMap) and value.is_nil:
        return None
    if isinstance(value, dict):
        # encoding/json writes map keys sorted.
        return {k: _jsonable(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)):
        return value
    marshal = getattr(value, "MarshalJSON", None)
    if marshal is not None:
        return _jsonable(marshal())
    return str(value)


def _is_empty(value: object) -> bool:
    if value is None or value is MISSING or value is False:
        return True
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) == 0
    if isinstance(value, (int, float)):
        return value == 0
    return False


def go_json(value: object) -> str:
    """Docker's ``json`` template function: compact, HTML left unescaped."""
    return json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))


def is_true(value: object) -> bool:
    """Go's template truth: empty values and zero numbers are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, TypedMap) and value.is_nil:
        return False
    if isinstance(value, (bool, int, float)):
        return value != 0
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) > 0
    return True


def type_name(value: object) -> str:
    """The Go type a value prints as in error messages."""
    if isinstance(value, GoStruct):
        return value.type_name
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, TypedMap):
        return "map[string]string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return str(getattr(value, "go_type_name", "*" + type(value).__name__))
