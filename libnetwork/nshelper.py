"""The namespace helper: one small process that enters network namespaces for the daemon.

A socket belongs to the namespace it was created in for its whole life
(bind, listen and netlink requests all act there), and a namespace is made
by ``unshare`` and kept by a bind mount.  Both need a task that changes its
own namespace, and no thread of the daemon ever does (DESIGN.md, "Data
plane").  Forking a short child per request is what pyroute2's helpers do;
measured here it costs 12-15 ms a time from a daemon of a few hundred
sandboxes (the page tables of a big process), while one long-lived helper
answers in well under a millisecond.

The helper is this file run as a script: standard library only, single
threaded.  Requests and answers are JSON datagrams on a SEQPACKET socket
pair, sockets travel back as SCM_RIGHTS.  After every request it returns to
its own namespace, and it exits when it cannot (or when the daemon's end of
the pair closes), so it never serves a request from the wrong place.  The
daemon side restarts it if it dies.
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence

log = logging.getLogger(__name__)

CLONE_NEWNET = 0x40000000
_MS_BIND, _MS_REC, _MS_SHARED = 0x1000, 0x4000, 0x100000
_REPLY_TIMEOUT = 10.0
_MAX_MESSAGE = 65536

SocketSpec = tuple[int, int, int]  # family, type, protocol: socket(2)'s arguments


# -- the helper process ---------------------------------------------------------------

class _Kernel:
    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        self.shared_dirs: set[str] = set()

    def check(self, result: int, what: str, path: str) -> None:
        if result != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"{what}: {os.strerror(code)}", path)

    def enter(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            self.check(self.libc.setns(fd, CLONE_NEWNET), "setns", path)
        finally:
            os.close(fd)

    def go_home(self) -> None:
        if self.libc.setns(self.home, CLONE_NEWNET) != 0:
            # Serving anything more from a foreign namespace would be wrong; the daemon starts a new helper.
            os._exit(3)

    def share_dir(self, directory: str) -> None:
        """Make ``directory`` a shared mount (a bind onto itself first), as ip-netns(8) does for /run/netns,
        so a namespace mounted in it is seen by, and unmounted from, every mount namespace."""
        if directory in self.shared_dirs:
            return
        os.makedirs(directory, exist_ok=True)
        target = directory.encode()
        if self.libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None) != 0:
            self.check(self.libc.mount(target, target, b"none", _MS_BIND | _MS_REC, None), "bind mount", directory)
            self.check(self.libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None), "make shared", directory)
        self.shared_dirs.add(directory)

    def create_namespace(self, path: str, sysctls: dict[str, str]) -> list[socket.socket]:
        self.share_dir(os.path.dirname(path))
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o444))
        self.check(self.libc.unshare(CLONE_NEWNET), "unshare", path)
        try:
            self.check(self.libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", _MS_BIND, None),
                       "bind mount", path)
            _write_sysctls(sysctls)
        finally:
            self.go_home()
        return []

    def set_sysctls(self, path: str, sysctls: dict[str, str]) -> list[socket.socket]:
        self.enter(path)
        try:
            _write_sysctls(sysctls)
        finally:
            self.go_home()
        return []

    def open_sockets(self, path: str, specs: Sequence[SocketSpec]) -> list[socket.socket]:
        self.enter(path)
        made: list[socket.socket] = []
        try:
            for family, kind, proto in specs:
                made.append(socket.socket(family, kind, proto))
        except BaseException:
            for sock in made:
                sock.close()
            raise
        finally:
            self.go_home()
        return made


def _write_sysctls(sysctls: dict[str, str]) -> None:
    """Write ``net.*`` sysctls of the namespace this task is in; keys are relative to /proc/sys/net."""
    for key, value in sysctls.items():
        if key.startswith("/") or ".." in key.split("/"):
            raise OSError(errno.EINVAL, "not a net sysctl", key)
        with open(os.path.join("/proc/sys/net", key), "w") as handle:
            handle.write(value)


def serve(channel: socket.socket) -> None:
    kernel = _Kernel()
    while True:
        try:
            data, _, _, _ = socket.recv_fds(channel, _MAX_MESSAGE, 1)
        except InterruptedError:
            continue
        if not data:
            return  # the daemon closed its end
        made: list[socket.socket] = []
        try:
            request = json.loads(data)
            if request["op"] == "create":
                made = kernel.create_namespace(request["path"], request["sysctls"])
            elif request["op"] == "sysctls":
                made = kernel.set_sysctls(request["path"], request["sysctls"])
            elif request["op"] == "sockets":
                made = kernel.open_sockets(request["path"], [tuple(s) for s in request["specs"]])
            else:
                raise OSError(errno.EINVAL, f"unknown request {request['op']!r}")
            reply: dict[str, object] = {"ok": True}
        except OSError as err:
            reply = {"ok": False, "errno": err.errno or errno.EIO, "error": str(err)}
        except Exception as err:  # a bad request must not end the helper
            reply = {"ok": False, "errno": errno.EINVAL, "error": f"{type(err).__name__}: {err}"}
        try:
            socket.send_fds(channel, [json.dumps(reply).encode()], [s.fileno() for s in made])
        finally:
            for sock in made:
                sock.close()


# -- the daemon's side ----------------------------------------------------------------

class NamespaceHelper:
    """The daemon's handle on its helper process; thread-safe, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._channel: socket.socket | None = None

    def create_namespace(self, path: str, sysctls: dict[str, str] | None = None) -> None:
        """A new network namespace bind-mounted at ``path``, with ``sysctls`` (keys under
        /proc/sys/net) written in it before anything else can live there."""
        self._call({"op": "create", "path": path, "sysctls": sysctls or {}}, 0)

    def set_sysctls(self, path: str, sysctls: dict[str, str]) -> None:
        """Write ``sysctls`` (keys under /proc/sys/net) in the namespace at ``path``."""
        self._call({"op": "sysctls", "path": path, "sysctls": sysctls}, 0)

    def open_sockets(self, path: str, specs: Sequence[SocketSpec]) -> list[socket.socket]:
        """New sockets (not yet bound) that belong to the namespace at ``path``."""
        fds = self._call({"op": "sockets", "path": path, "specs": [list(s) for s in specs]}, len(specs))
        return [socket.socket(fileno=fd) for fd in fds]

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _call(self, request: dict, expected_fds: int) -> list[int]:
        message = json.dumps(request).encode()
        with self._lock:
            channel = self._ensure_started()
            try:
                channel.send(message)
                if not _wait(channel, _REPLY_TIMEOUT):
                    raise TimeoutError(f"no answer within {_REPLY_TIMEOUT:.0f}s")
                data, fds, _, _ = socket.recv_fds(channel, _MAX_MESSAGE, max(expected_fds, 1))
                if not data:
                    raise ConnectionError("the namespace helper exited")
            except (OSError, TimeoutError) as err:
                # Whatever state it is in, a new helper serves the next request.
                self._stop()
                raise OSError(errno.EIO, f"namespace helper: {err}", request.get("path")) from None
        reply = json.loads(data)
        if not reply["ok"]:
            for fd in fds:
                os.close(fd)
            raise OSError(reply["errno"], reply["error"], request.get("path"))
        return fds

    def _ensure_started(self) -> socket.socket:
        if self._channel is not None and self._process is not None and self._process.poll() is None:
            return self._channel
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", os.path.abspath(__file__), str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._channel = ours
        log.debug("namespace helper started", extra={"pid": self._process.pid})
        return ours

    def _stop(self) -> None:
        if self._channel is not None:
            self._channel.close()  # the helper sees the end of its input and exits
            self._channel = None
        if self._process is not None:
            try:
                self._process.wait(2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def _wait(channel: socket.socket, timeout: float) -> bool:
    waiter = select.poll()
    waiter.register(channel, select.POLLIN)
    return bool(waiter.poll(timeout * 1000))


_helper = NamespaceHelper()


def create_namespace(path: str, sysctls: dict[str, str] | None = None) -> None:
    _helper.create_namespace(path, sysctls)


def set_sysctls(path: str, sysctls: dict[str, str]) -> None:
    _helper.set_sysctls(path, sysctls)


def open_sockets(path: str, specs: Sequence[SocketSpec]) -> list[socket.socket]:
    return _helper.open_sockets(path, specs)


if __name__ == "__main__":
    # Ctrl-C at the daemon's terminal reaches the whole process group; the
    # helper ends when the daemon closes the channel, not before.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(socket.socket(fileno=int(sys.argv[1])))
