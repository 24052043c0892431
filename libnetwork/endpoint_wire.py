"""The endpoint table on the wire: one entry per gossip event, an owner's table per full sync.

Events ride on Serf user events, which carry at most about 1280 bytes with
the event's name, and every byte is gossiped many times over, so the format
is compact msgpack: a map with one-letter keys, absent fields left out,
addresses as packed bytes (address, then prefix length), Docker's 64-hex IDs
and canonical MACs as raw bytes.  Unknown keys are ignored, so a later
version can add a field without breaking older readers.

A swarm task's ``ServiceBinding`` rides in the entry as a nested map under
``b``: ``i`` service ID, ``n`` service name, ``m`` endpoint mode (left out
for ``vip``), ``v`` the VIP packed like the endpoint's own address, ``l``
the service's aliases, ``p`` the ingress ports as 5 bytes each (protocol
index into ``PORT_PROTOCOLS``, published and target port, big-endian).

Events of at most ``MAX_EVENT_BYTES`` are encoded, which leaves room for the
event name and Serf's framing; an endpoint with a 63-character name, five
20-character aliases and both address families takes about 380, a typical
task endpoint with its service binding about 300.  A bigger
one is refused at encoding with ``EntryTooLarge`` (400), before it is
published, rather than being silently dropped by Serf on every node.

Anything received is checked field by field: decoding raises
``MalformedPayload`` for any input that is not an entry of this format, never
KeyError or TypeError, so one bad peer cannot break the consumer's loop.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from typing import Any

import msgpack

from .endpoint_table import Entry, IPAddress, Snapshot
from .errors import EntryTooLarge, InvalidParameter, MalformedPayload
from .service_binding import PORT_PROTOCOLS, IngressPort, ServiceBinding

MAX_EVENT_BYTES = 1000

_HEX_ID = re.compile(r"(?:[0-9a-f]{2})+")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_PORT = struct.Struct("!BHH")


def encode_event(entry: Entry) -> bytes:
    """One entry as a gossip event's payload; ``EntryTooLarge`` if it would not fit one event."""
    data: bytes = msgpack.packb(_entry_map(entry, with_owner=True))
    if len(data) > MAX_EVENT_BYTES:
        raise EntryTooLarge(
            f"endpoint {entry.name or entry.endpoint} on network {entry.network}: its cluster event would take "
            f"{len(data)} bytes, more than the {MAX_EVENT_BYTES} one can carry; use fewer or shorter aliases")
    return data


def decode_event(data: bytes) -> Entry:
    """An entry from a gossip event's payload; ``MalformedPayload`` for anything else."""
    raw = _unpack(data)
    if not isinstance(raw, dict):
        raise MalformedPayload("endpoint event: not a map")
    return _entry(raw, owner=None)


def encode_snapshot(snapshot: Snapshot) -> bytes:
    """An owner's table for a full sync (no size limit: it goes over the cluster port's TLS stream)."""
    body: dict[str, Any] = {
        "o": _pack_id(snapshot.owner),
        "a": snapshot.as_of,
        "e": [_entry_map(entry, with_owner=False) for entry in snapshot.entries],
    }
    if snapshot.networks is not None:
        body["n"] = [_pack_id(net) for net in sorted(snapshot.networks)]
    packed: bytes = msgpack.packb(body)
    return packed


def decode_snapshot(data: bytes) -> Snapshot:
    """An owner's table from a full sync; ``MalformedPayload`` for anything else, or one breaking its contract."""
    raw = _unpack(data)
    if not isinstance(raw, dict):
        raise MalformedPayload("endpoint snapshot: not a map")
    owner = _id(raw, "o")
    as_of = _version(raw, "a")
    networks = raw.get("n")
    scope: frozenset[str] | None = None
    if networks is not None:
        if not isinstance(networks, list):
            raise MalformedPayload("endpoint snapshot: networks not a list")
        scope = frozenset(_unpack_id(net, "n") for net in networks)
    items = raw.get("e")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedPayload("endpoint snapshot: entries not a list of maps")
    entries = tuple(_entry(item, owner=owner) for item in items)
    try:
        return Snapshot(owner=owner, as_of=as_of, entries=entries, networks=scope)
    except InvalidParameter as err:
        raise MalformedPayload(f"endpoint snapshot: {err.message}") from None


# -- encoding ---------------------------------------------------------------------------


def _entry_map(entry: Entry, *, with_owner: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"n": _pack_id(entry.network), "e": _pack_id(entry.endpoint), "v": entry.version}
    if with_owner:
        out["o"] = _pack_id(entry.owner)
    if entry.ip is not None:
        out["4"] = entry.ip.ip.packed + bytes([entry.ip.network.prefixlen])
    if entry.ipv6 is not None:
        out["6"] = entry.ipv6.ip.packed + bytes([entry.ipv6.network.prefixlen])
    if entry.mac:
        out["m"] = bytes.fromhex(entry.mac.replace(":", "")) if _MAC.fullmatch(entry.mac) else entry.mac
    out["t"] = entry.vtep.packed
    if entry.name:
        out["a"] = entry.name
    if entry.aliases:
        out["l"] = list(entry.aliases)
    if entry.sandbox:
        out["s"] = _pack_id(entry.sandbox)
    if entry.deleted:
        out["d"] = True
    if entry.service is not None:
        out["b"] = _binding_map(entry.service)
    return out


def _binding_map(binding: ServiceBinding) -> dict[str, Any]:
    out: dict[str, Any] = {"i": _pack_id(binding.service_id), "n": binding.service_name}
    if binding.endpoint_mode != "vip":
        out["m"] = binding.endpoint_mode
    if binding.vip is not None:
        out["v"] = binding.vip.ip.packed + bytes([binding.vip.network.prefixlen])
    if binding.aliases:
        out["l"] = list(binding.aliases)
    if binding.ingress_ports:
        out["p"] = b"".join(_PORT.pack(PORT_PROTOCOLS.index(port.protocol), port.published, port.target)
                            for port in binding.ingress_ports)
    return out


def _pack_id(value: str) -> str | bytes:
    """Docker's IDs (64 lowercase hex digits) as their 32 bytes; any other string as it is.

    Only lowercase hex is packed, so decoding gives back the very string.
    """
    return bytes.fromhex(value) if _HEX_ID.fullmatch(value) else value


# -- decoding ---------------------------------------------------------------------------


def _unpack(data: bytes) -> object:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedPayload(f"endpoint table payload: {type(data).__name__}, not bytes")
    try:
        return msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as err:
        raise MalformedPayload(f"endpoint table payload: not msgpack ({err})") from None


def _entry(raw: dict[Any, Any], *, owner: str | None) -> Entry:
    deleted = raw.get("d", False)
    if not isinstance(deleted, bool):
        raise MalformedPayload("endpoint event: 'd' not a boolean")
    aliases = raw.get("l", [])
    if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
        raise MalformedPayload("endpoint event: aliases not a list of strings")
    mac = raw.get("m", "")
    if isinstance(mac, bytes) and len(mac) == 6:
        mac = ":".join(f"{octet:02x}" for octet in mac)
    elif not isinstance(mac, str):
        raise MalformedPayload("endpoint event: bad MAC address")
    ip = _interface(raw, "4", 4)
    ipv6 = _interface(raw, "6", 16)
    assert ip is None or isinstance(ip, ipaddress.IPv4Interface)
    assert ipv6 is None or isinstance(ipv6, ipaddress.IPv6Interface)
    return Entry(
        network=_id(raw, "n"),
        endpoint=_id(raw, "e"),
        owner=_id(raw, "o") if owner is None else owner,
        version=_version(raw, "v"),
        ip=ip,
        ipv6=ipv6,
        mac=mac,
        vtep=_vtep(raw),
        name=_text(raw, "a"),
        aliases=tuple(aliases),
        sandbox=_unpack_id(raw.get("s", ""), "s"),
        deleted=deleted,
        service=_binding(raw.get("b")),
    )


def _binding(raw: object) -> ServiceBinding | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MalformedPayload("endpoint event: service binding not a map")
    service_id, name, mode = _id(raw, "i"), _text(raw, "n"), _text(raw, "m") or "vip"
    aliases = raw.get("l", [])
    if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
        raise MalformedPayload("endpoint event: service aliases not a list of strings")
    vip = _interface(raw, "v", 4)
    assert vip is None or isinstance(vip, ipaddress.IPv4Interface)
    packed_ports = raw.get("p", b"")
    if not isinstance(packed_ports, bytes) or len(packed_ports) % _PORT.size:
        raise MalformedPayload("endpoint event: service ports not packed ports")
    ports = list(_PORT.iter_unpack(packed_ports))
    if any(protocol >= len(PORT_PROTOCOLS) for protocol, _, _ in ports):
        raise MalformedPayload("endpoint event: service port of an unknown protocol")
    try:
        return ServiceBinding(
            service_id=service_id, service_name=name, endpoint_mode=mode, vip=vip, aliases=tuple(aliases),
            ingress_ports=tuple(IngressPort(PORT_PROTOCOLS[protocol], published, target)
                                for protocol, published, target in ports))
    # The binding's own checks (a name missing, dnsrr with a VIP, port 0) judge the sender's bytes.
    except InvalidParameter as err:
        raise MalformedPayload(f"endpoint event: bad service binding: {err.message}") from None


def _id(raw: dict[Any, Any], key: str) -> str:
    value = _unpack_id(raw.get(key), key)
    if not value:
        raise MalformedPayload(f"endpoint table payload: '{key}' missing")
    return value


def _unpack_id(value: object, key: str) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return value
    raise MalformedPayload(f"endpoint table payload: '{key}' not an ID")


def _version(raw: dict[Any, Any], key: str) -> int:
    value = raw.get(key)
    # bool is an int to Python, not a version.
    if type(value) is not int or value < 0:
        raise MalformedPayload(f"endpoint table payload: '{key}' not a version")
    return value


def _text(raw: dict[Any, Any], key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise MalformedPayload(f"endpoint event: '{key}' not a string")
    return value


def _interface(raw: dict[Any, Any], key: str, size: int) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, bytes) or len(value) != size + 1:
        raise MalformedPayload(f"endpoint event: '{key}' not a packed address and prefix")
    address = ipaddress.ip_address(value[:size])
    try:
        return ipaddress.ip_interface((address, value[size]))
    except ValueError:
        raise MalformedPayload(f"endpoint event: '{key}' has prefix length {value[size]}") from None


def _vtep(raw: dict[Any, Any]) -> IPAddress:
    value = raw.get("t")
    if not isinstance(value, bytes) or len(value) not in (4, 16):
        raise MalformedPayload("endpoint event: 't' not a packed tunnel endpoint address")
    return ipaddress.ip_address(value)
