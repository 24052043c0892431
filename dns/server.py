"""The embedded resolver: every sandbox's 127.0.0.11:53, served from the daemon process.

The controller opens each sandbox's sockets (``sockets.open_resolver_sockets``,
in its kernel worker), hands them over with ``attach``, and after each
topology change of a sandbox calls ``update`` with that sandbox's
``SandboxNames`` (``forget`` when it is gone).  The answers of every
sandbox that sees it change with it (zone.py), each swapped in whole: the
UDP thread and the TCP servers read whichever snapshot is current and never
wait for the controller.
"""

from __future__ import annotations

import asyncio
import logging

from .api import MAX_CONCURRENT_FORWARDS, UPSTREAM_TIMEOUT, SandboxNames
from .forward import Forwarder
from .sockets import ResolverSockets
from .stats import QueryCounts
from .tcp import TcpServers
from .udp import UdpServer
from .zone import SandboxView, Zones

log = logging.getLogger("cnmd.dns")


class Resolver:
    def __init__(self, timeout: float = UPSTREAM_TIMEOUT, max_concurrent: int = MAX_CONCURRENT_FORWARDS):
        self._zones = Zones()
        # Read by the forwarder on the event loop only, so it changes in place.
        self._specs: dict[str, SandboxNames] = {}
        self._sockets: dict[str, ResolverSockets] = {}
        self.forwarder = Forwarder(lambda: self._specs, timeout, max_concurrent)
        self._udp = UdpServer(self.forwarder.forward_udp)
        self._tcp = TcpServers(lambda: self._zones.views, self.forwarder.forward_tcp)
        self._started = False

    async def start(self) -> None:
        await self.forwarder.start()
        self._udp.start()
        self._started = True

    async def close(self) -> None:
        if not self._started:
            return
        for sid in list(self._sockets):
            await self.detach(sid)
        await self._tcp.close()
        await self.forwarder.close()
        await asyncio.get_running_loop().run_in_executor(None, self._udp.close)
        self._started = False

    def attached(self, sid: str) -> bool:
        return sid in self._sockets

    async def attach(self, sid: str, netns_path: str, sockets: ResolverSockets) -> None:
        """Serve the sandbox's sockets (made inside its namespace) from now on."""
        await self.detach(sid)
        self._sockets[sid] = sockets
        self.forwarder.add_sandbox(sid, netns_path, sockets)
        await self._tcp.add(sid, sockets.tcp)
        self._udp.add(sid, sockets.udp)
        log.debug("dns attached", extra={"sandbox": sid[:12], "netns": netns_path})

    async def detach(self, sid: str) -> None:
        sockets = self._sockets.pop(sid, None)
        if sockets is None:
            return
        self._udp.remove(sockets.udp)
        await self._tcp.remove(sid)
        self.forwarder.remove_sandbox(sid)
        sockets.close()
        log.debug("dns detached", extra={"sandbox": sid[:12]})

    def update(self, spec: SandboxNames) -> None:
        """Answer from this sandbox's endpoints and settings, here and in every sandbox that sees them."""
        # Spec first: a forward started from the new view finds its upstreams.
        self._specs[spec.sid] = spec
        self._udp.publish(self._zones.update(spec))

    def forget(self, sid: str) -> None:
        """The sandbox is gone: its names are no one's answer any more."""
        if self._specs.pop(sid, None) is not None:
            self._udp.publish(self._zones.forget(sid))

    def query_counts(self) -> list[QueryCounts]:
        """Every serving path's counts, for a metrics collector to read at scrape time."""
        return [self._udp.counts, self._tcp.counts, *self.forwarder.counts.values()]

    def view(self, sid: str) -> SandboxView | None:
        return self._zones.views.get(sid)
