"""Records to JSON bytes and back, by type, through msgspec.

``encode(record)`` and ``decode(data, RecordType)`` serve every dataclass of
``libnetwork.model`` and any other typed dataclass: nested dataclasses,
tuples, optional fields and the ``ipaddress`` types (written as their
``str``, read back with their constructor) need no per-type code.  Reading
is lenient where stored records age: a field the type no longer has is
ignored, a field the record lacks takes its default.  Values are checked
against the annotations, so a malformed record fails with ``BadRecord``
instead of leaking a wrong type into the controller.

msgspec refuses a union of two custom types, and ``IPv4Network |
IPv6Network`` is one (msgspec issue #106).  Such a union is read through one
stand-in class per address kind whose hook picks the family from the text
(``ipaddress.ip_network``); a dataclass with such a field is read through a
generated ``msgspec.Struct`` twin, then built with its own constructor.
Every other type is read by msgspec directly into the dataclass.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import ipaddress
import operator
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from ..errors import Internal, InvalidParameter

T = TypeVar("T")

_IP_TYPES: tuple[type, ...] = (
    ipaddress.IPv4Address, ipaddress.IPv6Address,
    ipaddress.IPv4Interface, ipaddress.IPv6Interface,
    ipaddress.IPv4Network, ipaddress.IPv6Network,
)


class BadRecord(Internal):
    """Stored bytes that do not decode to the type asked for."""


def _stand_in(name: str, *members: type) -> type:
    # msgspec checks that a hook's answer is an instance of the type it asked
    # for; registering the real classes makes the stand-in pass that check.
    cls = abc.ABCMeta(name, (), {})
    for member in members:
        cls.register(member)
    return cls


_AnyAddress = _stand_in("AnyAddress", ipaddress.IPv4Address, ipaddress.IPv6Address)
_AnyInterface = _stand_in("AnyInterface", ipaddress.IPv4Interface, ipaddress.IPv6Interface)
_AnyNetwork = _stand_in("AnyNetwork", ipaddress.IPv4Network, ipaddress.IPv6Network)

_STAND_INS: dict[frozenset[type], type] = {
    frozenset({ipaddress.IPv4Address, ipaddress.IPv6Address}): _AnyAddress,
    frozenset({ipaddress.IPv4Interface, ipaddress.IPv6Interface}): _AnyInterface,
    frozenset({ipaddress.IPv4Network, ipaddress.IPv6Network}): _AnyNetwork,
}

# The (IPv4, IPv6) classes behind each stand-in: the text tells the family
# (only IPv6 has colons), cheaper than ip_network's try-v4-then-v6.
_FAMILIES: dict[type, tuple[type, type]] = {
    _AnyAddress: (ipaddress.IPv4Address, ipaddress.IPv6Address),
    _AnyInterface: (ipaddress.IPv4Interface, ipaddress.IPv6Interface),
    _AnyNetwork: (ipaddress.IPv4Network, ipaddress.IPv6Network),
}


# ipaddress parses and prints slowly (several microseconds an address, more
# than msgspec takes for a whole record), and records repeat the same
# subnets and gateways: both directions are cached.  The objects are
# immutable, so sharing them is safe; typed=True keeps an interface and an
# address of the same text apart.
@functools.lru_cache(maxsize=8192, typed=True)
def _text(obj: Any) -> str:
    return str(obj)


@functools.lru_cache(maxsize=8192)
def _parse(cls: type, text: str) -> Any:
    family = _FAMILIES.get(cls)
    if family is not None:
        cls = family[1] if ":" in text else family[0]
    return cls(text)


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, _IP_TYPES):
        return _text(obj)
    raise NotImplementedError(f"cannot encode {type(obj).__name__}")


def _dec_hook(cls: type, obj: Any) -> Any:
    if cls not in _FAMILIES and cls not in _IP_TYPES:
        raise NotImplementedError(f"cannot decode {cls.__name__}")
    if not isinstance(obj, str):
        raise ValueError(f"expected an address as a string, got {type(obj).__name__}")
    return _parse(cls, obj)


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)


def encode(record: Any) -> bytes:
    return _ENCODER.encode(record)


def decode(data: bytes | str, cls: type[T]) -> T:
    decoder = _DECODERS.get(cls) or _decoder(cls)
    try:
        return typing.cast(T, decoder(data))
    # msgspec reports a hook's ValueError (an address that does not parse)
    # as a ValidationError, with the path to the field.
    except msgspec.DecodeError as err:
        raise BadRecord(f"stored {cls.__name__} does not decode: {err}") from err
    # A nested value's own checks (ServiceBinding.__post_init__) raise the
    # project's error, which msgspec passes through untouched.
    except InvalidParameter as err:
        raise BadRecord(f"stored {cls.__name__} does not decode: {err.message}") from err


_DECODERS: dict[type, Callable[[bytes | str], Any]] = {}


def _decoder(cls: type) -> Callable[[bytes | str], Any]:
    wire, convert = _plan(cls)
    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(wire, dec_hook=_dec_hook)
    if convert is None:
        _DECODERS[cls] = decoder.decode
    else:
        to_type = convert
        _DECODERS[cls] = lambda data: to_type(decoder.decode(data))
    return _DECODERS[cls]


# A plan for a type: what msgspec decodes (the type itself, or a stand-in or
# twin of it) and how to turn that into the type (None: it already is).
_Plan = tuple[Any, Callable[[Any], Any] | None]


def _plan(tp: Any) -> _Plan:
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_plan(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        return _union_plan(tp, args)
    if origin in (list, set, frozenset) and args:
        return _collection_plan(tp, origin, args[0])
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _collection_plan(tp, tuple, args[0])
    if origin is tuple and args:
        return _tuple_plan(tp, args)
    if origin is dict and len(args) == 2:
        return _dict_plan(tp, args[0], args[1])
    return tp, None


def _unchanged(tp: Any, plan: _Plan) -> bool:
    return plan[0] is tp and plan[1] is None


def _collection_plan(tp: Any, origin: Any, item: Any) -> _Plan:
    plan = _plan(item)
    if _unchanged(item, plan):
        return tp, None
    wire, convert = plan
    wire_type = origin[wire, ...] if origin is tuple else origin[wire]
    if convert is None:
        return wire_type, None
    item_convert = convert
    return wire_type, lambda xs: origin(item_convert(x) for x in xs)


def _dict_plan(tp: Any, key: Any, value: Any) -> _Plan:
    if not _unchanged(key, _plan(key)):
        raise TypeError(f"codec: dict keys of type {key} are not supported")
    plan = _plan(value)
    if _unchanged(value, plan):
        return tp, None
    wire, convert = plan
    generic: Any = dict
    if convert is None:
        return generic[key, wire], None
    value_convert = convert
    return generic[key, wire], lambda d: {k: value_convert(v) for k, v in d.items()}


def _union_plan(tp: Any, args: tuple[Any, ...]) -> _Plan:
    optional = type(None) in args
    members = tuple(a for a in args if a is not type(None))
    if len([a for a in members if a in _IP_TYPES]) > 1:
        stand_in = _STAND_INS.get(frozenset(members))
        if stand_in is None:
            raise TypeError(f"codec: {tp} mixes address kinds or other types; msgspec cannot tell them apart")
        return (stand_in | None if optional else stand_in), None
    plans = [_plan(a) for a in members]
    if all(_unchanged(a, plan) for a, plan in zip(members, plans, strict=True)):
        return tp, None
    converting = [convert for _, convert in plans if convert is not None]
    if len(converting) > 1 or (converting and len(members) > 1):
        raise TypeError(f"codec: {tp} needs a conversion msgspec cannot choose")
    wire: Any = functools.reduce(operator.or_, [w for w, _ in plans])
    if optional:
        wire = wire | None
    if not converting:
        return wire, None
    convert = converting[0]
    return wire, (lambda v: None if v is None else convert(v)) if optional else convert


def _tuple_plan(tp: Any, args: tuple[Any, ...]) -> _Plan:
    plans = [_plan(a) for a in args]
    if all(_unchanged(a, plan) for a, plan in zip(args, plans, strict=True)):
        return tp, None
    generic: Any = tuple
    converts = [convert or _identity for _, convert in plans]
    return (generic[tuple(w for w, _ in plans)],
            lambda xs: tuple(c(x) for c, x in zip(converts, xs, strict=True)))


def _identity(value: Any) -> Any:
    return value


def _dataclass_plan(cls: type) -> _Plan:
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    plans = {f.name: _plan(hints[f.name]) for f in fields}
    if all(_unchanged(hints[name], plan) for name, plan in plans.items()):
        return cls, None
    struct_fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for f in fields:
        wire = plans[f.name][0]
        if f.default is not dataclasses.MISSING:
            struct_fields.append((f.name, wire, f.default))
        elif f.default_factory is not dataclasses.MISSING:
            struct_fields.append((f.name, wire, msgspec.field(default_factory=f.default_factory)))
        else:
            struct_fields.append((f.name, wire))
    # kw_only: a field without default may follow one with a default.
    twin = msgspec.defstruct(f"{cls.__name__}Wire", struct_fields, kw_only=True)
    converts = [(f.name, plans[f.name][1]) for f in fields]

    def convert(value: Any) -> Any:
        return cls(**{name: getattr(value, name) if c is None else c(getattr(value, name)) for name, c in converts})
    return twin, convert
