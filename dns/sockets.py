"""Sockets that belong to a sandbox's namespace, for the daemon to serve from outside.

A socket belongs to the namespace it was created in for its whole life, and
bind/listen act there whoever calls them; so the namespace helper
(``libnetwork.nshelper``) only creates them, in one request per sandbox,
and the daemon configures them here.  No thread of the daemon ever changes
namespace.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from libnetwork import nshelper
from libnetwork.errors import Internal

from .api import DNS_PORT, RESOLVER_ADDRESS

# Lets the resolver bind 127.0.0.11 even while lo is still down in an adopted namespace.
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
# Upstream queries leave from a few sockets, each on its own random port, so
# an off-path forger has to guess the port as well as the 16-bit query ID.
UPSTREAM_SOCKETS = 2


@dataclass
class ResolverSockets:
    udp: socket.socket                    # 127.0.0.11:53/udp
    tcp: socket.socket                    # 127.0.0.11:53/tcp, listening
    upstream4: tuple[socket.socket, ...]  # unbound UDP sockets for forwarding, per family
    upstream6: tuple[socket.socket, ...]

    def all(self) -> list[socket.socket]:
        return [self.udp, self.tcp, *self.upstream4, *self.upstream6]

    def close(self) -> None:
        for sock in self.all():
            sock.close()


_SPECS_V4 = [(socket.AF_INET, socket.SOCK_DGRAM, 0), (socket.AF_INET, socket.SOCK_STREAM, 0)] + \
    [(socket.AF_INET, socket.SOCK_DGRAM, 0)] * UPSTREAM_SOCKETS
_SPEC_V6 = (socket.AF_INET6, socket.SOCK_DGRAM, 0)
# IPv6 off in the kernel or in the namespace: IPv6 upstreams are unreachable anyway.
_NO_IPV6 = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL)


def _listen(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
    sock.bind((RESOLVER_ADDRESS, DNS_PORT))
    if sock.type == socket.SOCK_STREAM:
        sock.listen(128)


def _in_namespace(path: str, specs: list) -> list[socket.socket]:
    try:
        return nshelper.open_sockets(path, specs)
    except OSError as err:
        raise Internal(f"cannot open DNS sockets in {path}: {err.strerror or err}") from None


def open_resolver_sockets(path: str) -> ResolverSockets:
    """The resolver's sockets inside the namespace at ``path``."""
    try:
        socks = nshelper.open_sockets(path, _SPECS_V4 + [_SPEC_V6])
    except OSError as err:
        if err.errno not in _NO_IPV6:
            raise Internal(f"cannot open DNS sockets in {path}: {err.strerror or err}") from None
        socks = _in_namespace(path, _SPECS_V4)
    try:
        _listen(socks[0])
        _listen(socks[1])
        for sock in socks[2:]:
            sock.bind(("0.0.0.0", 0) if sock.family == socket.AF_INET else ("::", 0))
    except OSError as err:
        if socks[-1].family == socket.AF_INET6 and err.errno in _NO_IPV6:
            socks.pop().close()
        else:
            for sock in socks:
                sock.close()
            raise Internal(f"cannot open DNS sockets in {path}: {err.strerror or err}") from None
    for sock in socks:
        sock.setblocking(False)
    end = 2 + UPSTREAM_SOCKETS
    return ResolverSockets(udp=socks[0], tcp=socks[1], upstream4=tuple(socks[2:end]),
                           upstream6=tuple(socks[end:]))


def open_socket(path: str, family: int, kind: int) -> socket.socket:
    """One unconnected socket inside the namespace at ``path`` (for a TCP upstream query)."""
    sock = _in_namespace(path, [(family, kind, 0)])[0]
    sock.setblocking(False)
    return sock
