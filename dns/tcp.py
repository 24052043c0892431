"""DNS over TCP on every sandbox's 127.0.0.11:53, served on the event loop.

TCP carries what did not fit in UDP (the client retries after a truncated
answer), so it is rare and each connection is cheap to serve on the loop.
Messages are length-prefixed (RFC 1035 4.2.2); several may be pipelined on
one connection and are answered in order.  An idle or stalled connection is
closed after a timeout so a client cannot hold sockets open forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping

from .answer import FORWARD, respond
from .stats import QueryCounts
from .zone import SandboxView

log = logging.getLogger("cnmd.dns")

_IDLE_TIMEOUT = 10.0
_EMPTY: dict = {}

Forward = Callable[[str, bytes], Awaitable[bytes | None]]


class TcpServers:
    def __init__(self, views: Callable[[], Mapping[str, SandboxView]], forward: Forward):
        self._views = views
        self._forward = forward
        self._servers: dict[str, asyncio.AbstractServer] = {}
        # Forwarded queries are the forwarder's to count.
        self.counts = QueryCounts("tcp", "local")

    async def add(self, sid: str, sock: socket.socket) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(sid, reader, writer)

        self._servers[sid] = await asyncio.start_server(handle, sock=sock)

    async def remove(self, sid: str) -> None:
        server = self._servers.pop(sid, None)
        if server is not None:
            server.close()

    async def close(self) -> None:
        for sid in list(self._servers):
            await self.remove(sid)

    async def _serve(self, sid: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), _IDLE_TIMEOUT)
                    length = int.from_bytes(head, "big")
                    data = await asyncio.wait_for(reader.readexactly(length), _IDLE_TIMEOUT)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                view = self._views().get(sid)
                start = time.perf_counter_ns()
                try:
                    response = respond(view.answers if view is not None else _EMPTY, data, tcp=True)
                    if response is FORWARD:
                        response = await self._forward(sid, data)
                    elif response is not None:
                        self.counts.count(response[3], time.perf_counter_ns() - start)
                except Exception:  # one bad query must not take the listener down
                    log.exception("dns tcp query failed", extra={"sandbox": sid[:12]})
                    return
                if response is None:
                    return
                writer.write(struct.pack("!H", len(response)) + response)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()
