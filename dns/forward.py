"""Forwarding the questions that are not ours to the sandbox's upstream servers.

As Docker's resolver: queries leave from the sandbox's own namespace (so a
sandbox whose networks are all ``--internal`` reaches no outside server),
except host-loopback upstreams, which are queried from the daemon's
namespace and never for such a sandbox; the client's transport is kept (a
truncated UDP answer is relayed as is, and the client retries over TCP); at
most three upstreams are tried in order with a bounded timeout each, and a
SERVFAIL or REFUSED from one moves on to the next; beyond a cap of
concurrent forwarded queries the answer is REFUSED.

Runs on the event loop.  UDP queries go out with a fresh random ID from one
of a few per-sandbox sockets, and an answer is taken only from the server
it was sent to, with the same ID and question.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import struct
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .answer import error
from .api import MAX_CONCURRENT_FORWARDS, MAX_UPSTREAMS, UPSTREAM_TIMEOUT, Forwarding, Upstream
from .sockets import ResolverSockets, open_socket
from .stats import QueryCounts

log = logging.getLogger("cnmd.dns")

RCODE_SERVFAIL, RCODE_REFUSED = 2, 5
_RECV_SIZE = 65535
_rng = random.SystemRandom()


@dataclass
class _Sandbox:
    netns_path: str
    upstream4: tuple[socket.socket, ...]
    upstream6: tuple[socket.socket, ...]


def _question_length(data: bytes) -> int:
    """Length of the (uncompressed) question after the header, 0 when it cannot be told."""
    end = data.find(b"\x00", 12)
    return end + 5 - 12 if end >= 0 and end + 5 <= len(data) else 0


class Forwarder:
    def __init__(self, specs: Callable[[], Mapping[str, Forwarding]], timeout: float = UPSTREAM_TIMEOUT,
                 max_concurrent: int = MAX_CONCURRENT_FORWARDS):
        self._specs = specs
        self.timeout = timeout
        self.max_concurrent = max_concurrent
        self.outstanding = 0
        self._sandboxes: dict[str, _Sandbox] = {}
        # (socket fd, query ID) -> (future, expected server address, question bytes)
        self._pending: dict[tuple[int, int], tuple[asyncio.Future, tuple, bytes]] = {}
        self._host4: socket.socket | None = None
        self._host6: socket.socket | None = None
        # TCP upstream sockets need a fork each (see sockets.py); never on the loop,
        # and not in the controller's kernel worker, which may be busy.
        self._netns_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dns-netns")
        self._started_on: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()
        self._last_refused_log = 0.0
        self._last_failure_log = 0.0
        # From the client's question to the answer relayed (refusals included); on the loop only.
        self.counts = {"udp": QueryCounts("udp", "forwarded"), "tcp": QueryCounts("tcp", "forwarded")}

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        if self._started_on is None:
            raise RuntimeError("the forwarder is not started")
        return self._started_on

    async def start(self) -> None:
        self._started_on = asyncio.get_running_loop()
        self._host4 = self._host_socket(socket.AF_INET, "0.0.0.0")
        self._host6 = self._host_socket(socket.AF_INET6, "::")

    def _host_socket(self, family: int, any_address: str) -> socket.socket | None:
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.bind((any_address, 0))
        except OSError:
            return None
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._on_reply, sock)
        return sock

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for sid in list(self._sandboxes):
            self.remove_sandbox(sid)
        for sock in (self._host4, self._host6):
            if sock is not None:
                self._loop.remove_reader(sock.fileno())
                sock.close()
        self._netns_pool.shutdown(wait=False, cancel_futures=True)

    def add_sandbox(self, sid: str, netns_path: str, sockets: ResolverSockets) -> None:
        for sock in sockets.upstream4 + sockets.upstream6:
            self._loop.add_reader(sock.fileno(), self._on_reply, sock)
        self._sandboxes[sid] = _Sandbox(netns_path, sockets.upstream4, sockets.upstream6)

    def remove_sandbox(self, sid: str) -> None:
        """Stop reading the sandbox's upstream sockets; the caller closes them."""
        sandbox = self._sandboxes.pop(sid, None)
        if sandbox is None:
            return
        for sock in sandbox.upstream4 + sandbox.upstream6:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(sock.fileno())

    # -- entry points ------------------------------------------------------------

    def forward_udp(self, sid: str, listener: socket.socket, data: bytes, client: tuple) -> None:
        """From the UDP serving thread: answer ``data`` for ``client`` when upstream replies."""
        self._loop.call_soon_threadsafe(self._start_udp, sid, listener, data, client)

    def _start_udp(self, sid: str, listener: socket.socket, data: bytes, client: tuple) -> None:
        start = time.perf_counter_ns()
        if not self._admit():
            self._send(listener, self._counted("udp", start, error(data, RCODE_REFUSED)), client)
            return
        task = self._loop.create_task(self._relay_udp(sid, listener, data, client, start))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay_udp(self, sid: str, listener: socket.socket, data: bytes, client: tuple, start: int) -> None:
        try:
            response = await self.resolve(sid, data, tcp=False)
        finally:
            self.outstanding -= 1
        self._send(listener, self._counted("udp", start, response), client)

    async def forward_tcp(self, sid: str, data: bytes) -> bytes | None:
        """For the TCP server: the upstream's answer (over TCP), or an error response."""
        start = time.perf_counter_ns()
        if not self._admit():
            return self._counted("tcp", start, error(data, RCODE_REFUSED))
        try:
            return self._counted("tcp", start, await self.resolve(sid, data, tcp=True))
        finally:
            self.outstanding -= 1

    def _counted(self, transport: str, start: int, response: bytes | None) -> bytes | None:
        if response is not None and len(response) >= 4:
            self.counts[transport].count(response[3], time.perf_counter_ns() - start)
        return response

    def _admit(self) -> bool:
        if self.outstanding >= self.max_concurrent:
            now = time.monotonic()
            if now - self._last_refused_log > 2:  # Docker's logInterval
                self._last_refused_log = now
                log.warning("too many concurrent forwarded queries", extra={"limit": self.max_concurrent})
            return False
        self.outstanding += 1
        return True

    @staticmethod
    def _send(listener: socket.socket, response: bytes | None, client: tuple) -> None:
        if response is None:
            return
        with contextlib.suppress(OSError):
            listener.sendto(response, client)

    # -- resolution ------------------------------------------------------------

    def upstreams(self, spec: Forwarding) -> list[Upstream]:
        usable = list(spec.upstreams[:MAX_UPSTREAMS])
        if not spec.external_access:
            usable = [u for u in usable if not u.host_loopback]
        return usable

    async def resolve(self, sid: str, data: bytes, tcp: bool) -> bytes | None:
        spec = self._specs().get(sid)
        sandbox = self._sandboxes.get(sid)
        if spec is None or sandbox is None:
            self._log_failure(sid, tcp, ["the sandbox has no resolver"])
            return error(data, RCODE_SERVFAIL)
        failures = []
        for upstream in self.upstreams(spec):
            try:
                ask = self._ask_tcp(sandbox, upstream, data) if tcp else self._ask_udp(sandbox, upstream, data)
                response = await asyncio.wait_for(ask, self.timeout)
            except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as err:
                failures.append(f"{upstream}: {type(err).__name__} {err}".rstrip())
                continue
            if len(response) < 12 or response[3] & 0x0F in (RCODE_SERVFAIL, RCODE_REFUSED):
                failures.append(f"{upstream}: rcode {response[3] & 0x0F if len(response) >= 12 else 'short'}")
                continue
            return data[:2] + response[2:]
        self._log_failure(sid, tcp, failures or ["no upstream servers"])
        return error(data, RCODE_SERVFAIL)

    def _log_failure(self, sid: str, tcp: bool, failures: list[str]) -> None:
        # Docker logs each failed external query; a flood of them is limited to one line a second.
        now = time.monotonic()
        if now - self._last_failure_log >= 1:
            self._last_failure_log = now
            log.warning("dns forward failed", extra={"sandbox": sid[:12], "tcp": tcp, "upstreams": "; ".join(failures)})

    def _server(self, upstream: Upstream) -> tuple[int, tuple]:
        address = ipaddress.ip_address(upstream.address.split("%", 1)[0])
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return family, (str(address), upstream.port)

    async def _ask_udp(self, sandbox: _Sandbox, upstream: Upstream, data: bytes) -> bytes:
        family, server = self._server(upstream)
        choices: tuple[socket.socket, ...]
        if upstream.host_loopback:
            host = self._host6 if family == socket.AF_INET6 else self._host4
            choices = (host,) if host is not None else ()
        else:
            choices = sandbox.upstream6 if family == socket.AF_INET6 else sandbox.upstream4
        if not choices:
            raise OSError(f"no socket for {server[0]}")
        sock = _rng.choice(choices)
        qlen = _question_length(data)
        question = data[12:12 + qlen].lower()
        fd = sock.fileno()
        while True:
            qid = _rng.getrandbits(16)
            if (fd, qid) not in self._pending:
                break
        future = self._loop.create_future()
        self._pending[(fd, qid)] = (future, server, question)
        try:
            sock.sendto(struct.pack("!H", qid) + data[2:], server)
            return await future
        finally:
            self._pending.pop((fd, qid), None)

    def _on_reply(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        for _ in range(64):
            try:
                data, source = sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # ICMP errors surface here; the query times out and moves on
            if len(data) < 12:
                continue
            entry = self._pending.get((fd, int.from_bytes(data[:2], "big")))
            if entry is None:
                continue
            future, server, question = entry
            if source[0] != server[0] or source[1] != server[1]:
                continue
            # Some servers leave the question out of a truncated answer; the ID
            # and address must then do.
            if question and data[4:6] != b"\x00\x00" and data[12:12 + len(question)].lower() != question:
                continue
            if not future.done():
                future.set_result(data)

    async def _ask_tcp(self, sandbox: _Sandbox, upstream: Upstream, data: bytes) -> bytes:
        family, server = self._server(upstream)
        if upstream.host_loopback:
            reader, writer = await asyncio.open_connection(server[0], server[1])
        else:
            sock = await self._loop.run_in_executor(
                self._netns_pool, open_socket, sandbox.netns_path, family, socket.SOCK_STREAM)
            try:
                await self._loop.sock_connect(sock, server)
            except BaseException:
                sock.close()
                raise
            reader, writer = await asyncio.open_connection(sock=sock)
        try:
            writer.write(struct.pack("!H", len(data)) + data)
            await writer.drain()
            length = int.from_bytes(await reader.readexactly(2), "big")
            return await reader.readexactly(length)
        finally:
            writer.close()
