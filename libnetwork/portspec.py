"""Docker's container port settings turned into port bindings, and back into its ``Ports`` shape.

Pure functions.  In: ``HostConfig.PortBindings`` (``{"80/tcp": [{"HostIp":
"", "HostPort": "8080"}]}``), ``ExposedPorts`` and ``PublishAllPorts``, as
the CLI sends them.  Out: the bindings a driver is asked to program.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .drivers.api import PortBinding
from .errors import InvalidParameter

PROTOCOLS = ("tcp", "udp", "sctp")


def parse_port_key(key: str) -> tuple[int, str]:
    """``"80/tcp"`` (or ``"80"``) -> (80, "tcp")."""
    port, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidParameter(f"invalid proto: {proto}")
    number = _port(port, key)
    if number == 0:
        raise InvalidParameter(f"invalid port: {key}")
    return number, proto


def _port(text: str, spec: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise InvalidParameter(f"invalid port specification: {spec!r}") from None
    if not 0 <= value <= 65535:
        raise InvalidParameter(f"invalid port specification: {spec!r}")
    return value


def parse_host_port(text: str) -> tuple[int, int]:
    """``""`` -> (0, 0) ephemeral; ``"8080"`` -> (8080, 0); ``"8000-8005"`` -> (8000, 8005)."""
    text = text.strip()
    if not text:
        return 0, 0
    first, sep, last = text.partition("-")
    start = _port(first, text)
    if not sep:
        return start, 0
    end = _port(last, text)
    if end < start:
        raise InvalidParameter(f"invalid port range: {text}")
    return start, end


def requested_bindings(port_bindings: Mapping[str, Sequence[Mapping[str, str]]], exposed: Iterable[str],
                       publish_all: bool) -> tuple[PortBinding, ...]:
    """What to publish, in Docker's order (the bindings as given, then -P's exposed ports)."""
    result: list[PortBinding] = []
    for key, bindings in port_bindings.items():
        port, proto = parse_port_key(key)
        for binding in bindings or [{}]:
            start, end = parse_host_port(str(binding.get("HostPort") or ""))
            result.append(PortBinding(proto, port, str(binding.get("HostIp") or ""), start, end))
    if publish_all:
        bound = {parse_port_key(k) for k in port_bindings}
        for key in exposed:
            port, proto = parse_port_key(key)
            if (port, proto) not in bound:
                bound.add((port, proto))
                result.append(PortBinding(proto, port))
    return tuple(result)


def docker_ports(exposed: Iterable[str], port_bindings: Mapping[str, Any],
                 bound: Iterable[PortBinding]) -> dict[str, Any]:
    """Docker's ``NetworkSettings.Ports``: every exposed or requested port, with what is bound."""
    result: dict[str, Any] = {}
    for key in list(exposed) + list(port_bindings):
        port, proto = parse_port_key(key)
        result.setdefault(f"{port}/{proto}", None)
    for binding in bound:
        key = f"{binding.container_port}/{binding.proto}"
        if result.get(key) is None:
            result[key] = []
        result[key].append({"HostIp": binding.host_ip, "HostPort": str(binding.host_port)})
    return result
