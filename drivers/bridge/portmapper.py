"""Host ports for published ports: allocated, then reserved with a bound socket.

As docker-proxy does, the daemon keeps a socket bound to every published
host port, so another process cannot take the port (its bind fails) and a
port another process holds is refused here with the system's error.  The
sockets only reserve: traffic is forwarded by the firewall's DNAT, which
acts before any socket lookup.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from dataclasses import dataclass

from libnetwork.drivers.api import PortBinding
from libnetwork.errors import InvalidParameter, PortUnavailable
from libnetwork.firewall.api import PortRule

from .portallocator import DEFAULT_RANGE, PortAllocator

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNSPECIFIED_V6 = ipaddress.IPv6Address("::")


@dataclass(frozen=True)
class Mapped:
    """One bound host port and what it forwards to."""

    binding: PortBinding
    rule: PortRule
    sock: socket.socket


class PortMapper:
    def __init__(self, ephemeral: tuple[int, int] = DEFAULT_RANGE):
        self.allocator = PortAllocator(ephemeral)

    def map(self, bindings: tuple[PortBinding, ...], v4: IPAddress | None, v6: IPAddress | None,
            default_ip: str) -> list[Mapped]:
        """Reserve every binding, or none (a failure releases what this call took)."""
        mapped: list[Mapped] = []
        try:
            for binding in bindings:
                targets = host_targets(binding.host_ip, default_ip, v4, v6)
                if targets:
                    mapped += self._map_group(binding, targets)
        except BaseException:
            self.unmap(mapped)
            raise
        return mapped

    def unmap(self, mapped: list[Mapped]) -> None:
        for item in mapped:
            item.sock.close()
            self.allocator.release(str(item.rule.host_ip), item.rule.proto, item.rule.host_port)

    def _map_group(self, binding: PortBinding, targets: list[tuple[IPAddress, IPAddress]]) -> list[Mapped]:
        """One port, the same on every host address of the binding (0.0.0.0 and :: alike)."""
        fixed = binding.host_port and binding.host_port_end in (0, binding.host_port)
        first_ip = str(targets[0][0])
        attempts = 1 if fixed else _span(binding, self.allocator.ephemeral)
        error: Exception | None = None
        for _ in range(attempts):
            port = self.allocator.request(first_ip, binding.proto, binding.host_port, binding.host_port_end)
            group: list[Mapped] = []
            try:
                for host_ip, container_ip in targets:
                    if group:
                        self.allocator.request(str(host_ip), binding.proto, port)
                    sock = _reserve(host_ip, binding.proto, port, container_ip, binding.container_port)
                    group.append(Mapped(
                        PortBinding(binding.proto, binding.container_port, str(host_ip), port),
                        PortRule(binding.proto, host_ip, port, container_ip, binding.container_port), sock))
                return group
            except PortUnavailable as err:
                error = err
                # The allocator is sequential: the next request moves past this port.
                self.unmap(group)
                if not group:
                    self.allocator.release(first_ip, binding.proto, port)
                if fixed:
                    raise
        raise error or PortUnavailable("all ports are allocated")


def host_targets(host_ip: str, default_ip: str, v4: IPAddress | None,
                 v6: IPAddress | None) -> list[tuple[IPAddress, IPAddress]]:
    """(host address, container address) pairs a binding publishes on.

    No host address given: the default one, and :: beside 0.0.0.0 when the
    sandbox has IPv6 (Docker publishes on both families).
    """
    try:
        address = ipaddress.ip_address(host_ip or default_ip)
    except ValueError:
        raise InvalidParameter(f"invalid host IP address: {host_ip or default_ip}") from None
    targets: list[tuple[IPAddress, IPAddress]] = []
    if address.version == 4 and v4 is not None:
        targets.append((address, v4))
    if address.version == 6 and v6 is not None:
        targets.append((address, v6))
    if not host_ip and address == ipaddress.IPv4Address("0.0.0.0") and v6 is not None:
        targets.append((UNSPECIFIED_V6, v6))
    return targets


def _span(binding: PortBinding, ephemeral: tuple[int, int]) -> int:
    if binding.host_port:
        return max(1, binding.host_port_end - binding.host_port + 1)
    return ephemeral[1] - ephemeral[0] + 1


def _reserve(host_ip: IPAddress, proto: str, port: int, container_ip: IPAddress, container_port: int) -> socket.socket:
    family = socket.AF_INET6 if host_ip.version == 6 else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind, socket.IPPROTO_SCTP if proto == "sctp" else 0)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # No SO_REUSEADDR: with it, another process's bind could share the port.
        sock.bind((str(host_ip), port))
    except OSError as err:
        sock.close()
        host = f"[{host_ip}]" if host_ip.version == 6 else str(host_ip)
        target = f"[{container_ip}]" if container_ip.version == 6 else str(container_ip)
        reason = os.strerror(err.errno).lower() if err.errno else str(err)
        if err.errno == errno.EADDRINUSE:
            reason = "address already in use"
        raise PortUnavailable(f"failed to bind host port for {host}:{port}:{target}:{container_port}/{proto}: "
                              f"{reason}") from None
    return sock
