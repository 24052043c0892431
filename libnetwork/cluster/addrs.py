"""The addresses a swarm request names: listen and advertise addresses as dockerd reads them.

Pure functions over a snapshot of the host's interfaces (``host_interfaces``
takes it through the netlink layer), so the rules are unit-tested without
root.  Texts from moby daemon/cluster/listen_addr.go.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from ..errors import InvalidParameter

DEFAULT_PORT = 2377
ADVERTISE_INVALID = ("advertise address must be a non-zero IP address or network interface "
                     "(with optional port number)")
LISTEN_INVALID = "listen address must be an IP address or network interface (with optional port number)"
DATA_PATH_INVALID = ("data path address must be a non-zero IP address or network interface "
                     "(without a port number)")

Interfaces = Mapping[str, Sequence[str]]
"""Interface name -> its IP addresses, in the kernel's order."""


def split_host_port(text: str, default_port: int) -> tuple[str, int] | None:
    """``host``, ``host:port`` or ``[v6]:port``; None when the port is not a number."""
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                return None
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            return None
        port = int(port_text)
    return host, port


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _interface_address(name: str, interfaces: Interfaces, message: str) -> str:
    addresses = [a for a in interfaces.get(name, ()) if not ipaddress.ip_address(a).is_link_local]
    if not addresses:
        raise InvalidParameter(message)
    v4 = [a for a in addresses if ipaddress.ip_address(a).version == 4]
    if len(v4) > 1:
        raise InvalidParameter(f"interface {name} has more than one IPv4 address ({v4[0]} and {v4[1]})")
    return v4[0] if v4 else addresses[0]


def parse_listen(text: str, interfaces: Interfaces) -> tuple[str, int]:
    if not text:
        raise InvalidParameter(f'invalid ListenAddr "{text}": invalid empty address')
    parsed = split_host_port(text.removeprefix("tcp://"), DEFAULT_PORT)
    if parsed is None:
        raise InvalidParameter(LISTEN_INVALID)
    host, port = parsed
    if not _is_ip(host):
        if host not in interfaces:
            raise InvalidParameter(LISTEN_INVALID)
        host = _interface_address(host, interfaces, LISTEN_INVALID)
    return host, port


def parse_advertise(text: str, interfaces: Interfaces, listen_host: str) -> tuple[str, int | None]:
    """The advertise IP (and port, if given); an empty text picks one as dockerd does."""
    if not text:
        if listen_host and not ipaddress.ip_address(listen_host).is_unspecified:
            return listen_host, None
        return choose_advertise(interfaces), None
    parsed = split_host_port(text, 0)
    if parsed is None:
        raise InvalidParameter(ADVERTISE_INVALID)
    host, port = parsed
    if _is_ip(host):
        if ipaddress.ip_address(host).is_unspecified:
            raise InvalidParameter(ADVERTISE_INVALID)
        return host, port or None
    if host not in interfaces:
        raise InvalidParameter(ADVERTISE_INVALID)
    return _interface_address(host, interfaces, ADVERTISE_INVALID), port or None


def parse_data_path(text: str, interfaces: Interfaces, advertise: str) -> str:
    if not text:
        return advertise
    if _is_ip(text):
        if ipaddress.ip_address(text).is_unspecified:
            raise InvalidParameter(DATA_PATH_INVALID)
        return text
    if text not in interfaces:
        raise InvalidParameter(DATA_PATH_INVALID)
    return _interface_address(text, interfaces, DATA_PATH_INVALID)


def choose_advertise(interfaces: Interfaces) -> str:
    """dockerd's resolveSystemAddr: the one global IPv4 address of the host, or an error naming the choice."""
    candidates: list[tuple[str, str]] = []
    for name, addresses in interfaces.items():
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if ip.version == 4 and not ip.is_loopback and not ip.is_link_local:
                candidates.append((name, address))
    if len(candidates) == 1:
        return candidates[0][1]
    if not candidates:
        raise InvalidParameter("could not find the system's IP address - specify one with --advertise-addr")
    names = {name for name, _ in candidates}
    if len(names) == 1:
        name = candidates[0][0]
        raise InvalidParameter(
            f"could not choose an IP address to advertise since this system has multiple addresses on interface "
            f"{name} ({candidates[0][1]} and {candidates[1][1]}) - specify one with --advertise-addr")
    raise InvalidParameter(
        "could not choose an IP address to advertise since this system has multiple addresses on different "
        f"interfaces ({candidates[0][1]} on {candidates[0][0]} and {candidates[1][1]} on {candidates[1][0]}) "
        "- specify one with --advertise-addr")


def host_interfaces() -> dict[str, list[str]]:
    """This host's interfaces and their addresses, read through the netlink layer."""
    from ..netlink import Netlink

    netlink = Netlink()
    try:
        return {link.name: [str(a.ip) for a in netlink.addresses(link.index)] for link in netlink.links()}
    finally:
        netlink.close()


def is_local(ip: str, interfaces: Interfaces) -> bool:
    return any(ip in addresses for addresses in interfaces.values())
