"""Endpoints of swarm networks across nodes: this node's told to the others, theirs turned into local state.

The one place where the cluster's event stream meets the controller, as
libnetwork's agent.go is in Docker:

* a local endpoint joining or leaving a swarm network (an ``EndpointJoined``
  or ``EndpointLeft`` of source LOCAL on the event bus) becomes an entry of
  this node's ``EndpointTable`` and a gossip event;
* an entry from another node, a full sync (when a node comes up, or this
  node gets an instance of a network) or a member going down becomes, for
  networks this node has an instance of, driver peer calls (the overlay's
  static FDB and neighbour entries) and an ``EndpointJoined``/``EndpointLeft``
  of source <owner> on the bus, which DNS follows exactly as it follows a
  local one;
* a periodic pass makes each driver's kernel state match the table again.

Drivers see none of this: they get ``PeerProgramming`` calls in their worker.
Everything runs on the daemon's loop, one change at a time, from one queue:
the table is not thread-safe and the order of changes matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from . import events
from .drivers.api import Peer, PeerProgramming
from .endpoint_table import Change, EndpointTable, Entry
from .endpoint_wire import decode_event, decode_snapshot, encode_event, encode_snapshot
from .endpoints import endpoint_ref
from .errors import CnmError
from .networks import network_ref

if TYPE_CHECKING:
    from .controller import Controller

log = logging.getLogger("cnmd")

TOPIC = "ep"
RECONCILE_PERIOD = 30.0


class ClusterEvent(Protocol):
    @property
    def origin(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


class MemberChange(Protocol):
    @property
    def node_id(self) -> str: ...

    @property
    def up(self) -> bool: ...


class Cluster(Protocol):
    """What this module uses of the cluster (``cluster.membership.ClusterEvents``, the swarm service)."""

    @property
    def node_id(self) -> str: ...

    async def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, topic: str, handler: Callable[[ClusterEvent], None]) -> Callable[[], None]: ...

    def on_member(self, handler: Callable[[MemberChange], None]) -> Callable[[], None]: ...

    def members_up(self) -> dict[str, str]: ...

    def provide(self, topic: str, table: Callable[[], Awaitable[bytes]]) -> Callable[[], None]: ...

    async def full_sync(self, node_id: str, topic: str) -> bytes: ...


class EndpointGossip:
    def __init__(self, ctl: Controller, cluster: Cluster, vtep: Callable[[], str | None]):
        self.ctl = ctl
        self.cluster = cluster
        self.vtep = vtep
        self.table: EndpointTable | None = None
        self._queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._undo: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._undo = [
            self.ctl.events.subscribe(self._on_local, events.EndpointJoined, events.EndpointLeft),
            self.ctl.events.subscribe(self._on_network, events.NetworkCreated),
            self.cluster.subscribe(TOPIC, lambda e: self._queue.put_nowait(("entry", e.payload))),
            self.cluster.on_member(lambda m: self._queue.put_nowait(("up" if m.up else "down", m.node_id))),
            self.cluster.provide(TOPIC, self._snapshot),
        ]
        self._tasks = [asyncio.create_task(self._work(), name="endpoint-gossip"),
                       asyncio.create_task(self._reconcile_periodically(), name="peer-reconcile")]
        # Restored before this started: tell the others again (they dropped them when this node went down).
        for record in [n for n in self.ctl.networks.values() if n.scope == "swarm"]:
            self._queue.put_nowait(("network", record.id))
            for endpoint in self.ctl.network_endpoints(record.id):
                if endpoint.ready:
                    sandbox = self.ctl.sandboxes.get(endpoint.sandbox_id)
                    self._queue.put_nowait(("announce", events.EndpointJoined(
                        network_ref(record), endpoint_ref(endpoint, sandbox))))

    async def close(self) -> None:
        for undo in self._undo:
            undo()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _current_table(self) -> EndpointTable | None:
        """This node's table, made anew when it joins a swarm under a new node ID (none outside one)."""
        node_id = self.cluster.node_id
        if not node_id:
            self.table = None
        elif self.table is None or self.table.node_id != node_id:
            self.table = EndpointTable(node_id)
        return self.table

    # -- this node's endpoints ---------------------------------------------------------------

    async def _on_local(self, event: events.Event) -> None:
        if not isinstance(event, (events.EndpointJoined, events.EndpointLeft)):
            return
        if event.source != events.LOCAL or event.network.scope != "swarm":
            return
        table, vtep = self._current_table(), self.vtep()
        if table is None or vtep is None:
            return
        endpoint = event.endpoint
        entry: Entry | None
        if isinstance(event, events.EndpointJoined):
            entry = table.local_put(
                endpoint.network_id, endpoint.id, ip=endpoint.ipv4, ipv6=endpoint.ipv6, mac=endpoint.mac or "",
                vtep=ipaddress.ip_address(vtep), name=endpoint.name, aliases=endpoint.dns_names[1:],
                sandbox=endpoint.sandbox_id, service=endpoint.service)
        else:
            entry = table.local_delete(endpoint.network_id, endpoint.id)
        if entry is None:
            return
        try:
            await self.cluster.publish(TOPIC, encode_event(entry))
        except CnmError as err:
            # The others repair it with their next full sync of this node.
            log.warning("endpoint not gossiped", extra={"endpoint": endpoint.id[:12], "error": err.message})

    async def _snapshot(self) -> bytes:
        table = self._current_table()
        if table is None:
            raise CnmError("this node is in no swarm")
        return encode_snapshot(table.snapshot())

    # -- the others' endpoints ----------------------------------------------------------------

    async def _on_network(self, event: events.Event) -> None:
        if isinstance(event, events.NetworkCreated) and event.network.scope == "swarm":
            self._queue.put_nowait(("network", event.network.id))

    async def _work(self) -> None:
        while True:
            kind, item = await self._queue.get()
            try:
                await self._handle(kind, item)
            except CnmError as err:
                log.warning("endpoint table change failed", extra={"change": kind, "error": err.message})
            except Exception:
                log.exception("endpoint table change crashed", extra={"change": kind})

    async def _handle(self, kind: str, item: object) -> None:
        table = self._current_table()
        if table is None:
            return
        if kind == "announce":
            assert isinstance(item, events.EndpointJoined)
            # Queued at start; gone since (a task sandbox removed as orphaned): its leave came first.
            if item.endpoint.id in self.ctl.endpoints:
                await self._on_local(item)
        elif kind == "entry":
            assert isinstance(item, bytes)
            change = table.apply(decode_event(item))
            await self._effect([change] if change else [])
        elif kind == "down":
            assert isinstance(item, str)
            await self._effect(table.remove_owner(item))
        elif kind == "up":
            assert isinstance(item, str)
            if item != table.node_id:
                table.readmit_owner(item)
                await self._sync_from(table, item)
        elif kind == "resync":
            await self._resync(table)
        elif kind == "network":
            assert isinstance(item, str)
            for node in self.cluster.members_up():
                if node != table.node_id:
                    await self._sync_from(table, node)
            await self._effect([Change("added", entry) for entry in table.remote_entries(item)], network=item)

    async def _sync_from(self, table: EndpointTable, node: str) -> None:
        try:
            snapshot = decode_snapshot(await self.cluster.full_sync(node, TOPIC))
        except CnmError as err:
            log.debug("full sync failed", extra={"node": node, "error": err.message})
            return
        await self._effect(table.merge_snapshot(node, snapshot))
        log.debug("full sync merged", extra={"node": node, "entries": len(snapshot.entries)})

    async def _effect(self, changes: list[Change], *, network: str | None = None) -> None:
        """Kernel first (the driver's peers), then the bus (DNS): a name answers once it is reachable."""
        for change in changes:
            record = self.ctl.networks.get(change.entry.network)
            if record is None or (network is not None and record.id != network):
                continue
            driver = self.ctl.registry.drivers.get(record.driver)
            ref = network_ref(record)
            gone = [change.previous] if change.kind == "updated" and change.previous else []
            if change.kind == "removed":
                gone = [change.entry]
            for old in gone:
                if isinstance(driver, PeerProgramming):
                    for peer in _peers(old):
                        await self.ctl.run(driver.remove_peer, record.id, peer.eid, peer.ip, peer.mac, peer.vtep)
                await self.ctl.events.publish(events.EndpointLeft(ref, _endpoint_ref(old), source=old.owner))
            if change.kind in ("added", "updated"):
                entry = change.entry
                if isinstance(driver, PeerProgramming):
                    for peer in _peers(entry):
                        await self.ctl.run(driver.add_peer, record.id, peer.eid, peer.ip, peer.mac, peer.vtep)
                await self.ctl.events.publish(events.EndpointJoined(ref, _endpoint_ref(entry), source=entry.owner))
            log.info("remote endpoint " + ("left" if change.kind == "removed" else "joined"), extra={
                "network": record.name, "endpoint": change.entry.endpoint[:12], "node": change.entry.owner,
                "ip": str(change.entry.ip or "")})

    async def _reconcile_periodically(self) -> None:
        """Anti-entropy: a full sync from every member, then the kernel made to match the table.

        Events can be lost (a partition, a node that was down when they were sent); Docker's
        networkdb repairs the same way, with a periodic bulk sync.
        """
        while True:
            await asyncio.sleep(RECONCILE_PERIOD)
            self._queue.put_nowait(("resync", None))

    async def _resync(self, table: EndpointTable) -> None:
        for node in self.cluster.members_up():
            if node != table.node_id:
                await self._sync_from(table, node)
        await self.reconcile()

    async def reconcile(self) -> None:
        """Make every driver's kernel entries match the table (entries lost to a crash, a flush by hand)."""
        table = self._current_table()
        if table is None:
            return
        for record in [n for n in self.ctl.networks.values() if n.scope == "swarm"]:
            driver = self.ctl.registry.drivers.get(record.driver)
            if isinstance(driver, PeerProgramming):
                peers = [peer for entry in table.remote_entries(record.id) for peer in _peers(entry)]
                await self.ctl.attempt(driver.reconcile_peers, record.id, peers)


def _peers(entry: Entry) -> list[Peer]:
    vtep = entry.vtep if isinstance(entry.vtep, ipaddress.IPv4Address) else None
    if vtep is None:
        return []
    return [Peer(eid=entry.endpoint, ip=ip, mac=entry.mac, vtep=vtep) for ip in (entry.ip, entry.ipv6) if ip]


def _endpoint_ref(entry: Entry) -> events.EndpointRef:
    return events.EndpointRef(
        id=entry.endpoint, network_id=entry.network, sandbox_id=entry.sandbox, name=entry.name,
        dns_names=(entry.name, *entry.aliases), ipv4=entry.ip, ipv6=entry.ipv6, mac=entry.mac,
        service=entry.service)
