"""Sockets bound inside a sandbox's namespace, for the daemon to serve from outside.

A socket belongs to the namespace it was created in for its whole life, so
a short child process (fork, setns, create, pass the descriptors back over
a unix socket, exit: what pyroute2's ``netns.create_socket`` does for one
socket) makes them; no thread of the daemon ever changes namespace.  One
fork makes every socket a sandbox's resolver needs.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import socket
from dataclasses import dataclass

from pyroute2 import netns as pyroute2_netns

from libnetwork.errors import Internal

from .api import DNS_PORT, RESOLVER_ADDRESS

# Lets the resolver bind 127.0.0.11 even while lo is still down in an adopted namespace.
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
# Upstream queries leave from a few sockets, each on its own random port, so
# an off-path forger has to guess the port as well as the 16-bit query ID.
UPSTREAM_SOCKETS = 2
_CHILD_TIMEOUT = 10


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


def _listener(kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
    sock.bind((RESOLVER_ADDRESS, DNS_PORT))
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    return sock


def _make_resolver_sockets() -> list[socket.socket]:
    """Runs in the forked child, inside the namespace."""
    made = [_listener(socket.SOCK_DGRAM), _listener(socket.SOCK_STREAM)]
    for _ in range(UPSTREAM_SOCKETS):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", 0))
        made.append(sock)
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.bind(("::", 0))
        made.append(sock)
    except OSError:
        pass  # IPv6 disabled in this namespace: IPv6 upstreams are unreachable anyway
    return made


def _make_socket(family: int, kind: int) -> list[socket.socket]:
    return [socket.socket(family, kind)]


def _in_child(channel: socket.socket, path: str, make, args) -> None:
    """The forked child: only simple steps, it shares the parent's (maybe held) locks."""
    gc.disable()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        pyroute2_netns.setns(path, flags=0, fork=False)
        made = make(*args)
        socket.send_fds(channel, [b"\x00"], [s.fileno() for s in made])
    except BaseException as err:  # report anything: the parent must not wait for nothing
        message = f"{type(err).__name__}: {err}".encode()[:900]
        try:
            socket.send_fds(channel, [b"\x01" + message], [])
        except BaseException:
            pass
    finally:
        os._exit(0)


def _run_child(path: str, make, *args) -> list[socket.socket]:
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    pid = os.fork()
    if pid == 0:
        parent.close()
        _in_child(child, path, make, args)
    child.close()
    try:
        # poll, not select: the daemon holds far more than 1024 descriptors
        # with a few hundred sandboxes, and select cannot watch those.
        waiter = select.poll()
        waiter.register(parent, select.POLLIN)
        if not waiter.poll(_CHILD_TIMEOUT * 1000):
            os.kill(pid, signal.SIGKILL)
            raise Internal(f"cannot open DNS sockets in {path}: no answer from the child within {_CHILD_TIMEOUT}s")
        payload, fds, _, _ = socket.recv_fds(parent, 1024, 16)
    finally:
        parent.close()
        os.waitpid(pid, 0)
    if payload[:1] != b"\x00":
        for fd in fds:
            os.close(fd)
        raise Internal(f"cannot open DNS sockets in {path}: {payload[1:].decode(errors='replace')}")
    return [socket.socket(fileno=fd) for fd in fds]


def open_resolver_sockets(path: str) -> ResolverSockets:
    """The resolver's sockets inside the namespace at ``path`` (blocking: a fork and a wait)."""
    socks = _run_child(path, _make_resolver_sockets)
    for sock in socks:
        sock.setblocking(False)
    end = 2 + UPSTREAM_SOCKETS
    return ResolverSockets(udp=socks[0], tcp=socks[1], upstream4=tuple(socks[2:end]),
                           upstream6=tuple(socks[end:]))


def open_socket(path: str, family: int, kind: int) -> socket.socket:
    """One unconnected socket inside the namespace at ``path`` (for a TCP upstream query)."""
    sock = _run_child(path, _make_socket, family, kind)[0]
    sock.setblocking(False)
    return sock
