"""The node's view of the cluster from Serf: who is up, and the event stream the overlay rides on.

One Serf agent per node (``serfagent.py``), named by the node ID, is kept
running by ``Membership.supervise``; its events reach cnmd over one RPC
stream.  What the rest of cnmd sees is ``ClusterEvents``: publish an event
on a topic, subscribe to a topic, hear members go up and down.  The overlay
driver is given that interface and never Serf itself, so it can be tested on
an in-memory implementation and the transport can change under it.

Gossip is encrypted with the cluster key (Serf's keyring, AES-GCM).  Docker
rotates its gossip keys every 12 hours; ``rotate_key`` does the same on
Serf's keyring, cluster wide and without a restart: install the new key on
every member, make it primary, then remove the old one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import msgpack

from .serf import MemberEvent, SerfClient, SerfError, UserEvent
from .serfagent import SerfAgent, SerfAgentConfig

log = logging.getLogger("cnmd")

SERF_PORT = 7946
KEY_BYTES = 32
KEY_ROTATION_PERIOD = 12 * 3600.0
_SUPERVISE_PERIOD = 1.0


@dataclass(frozen=True)
class MemberChange:
    node_id: str
    addr: str
    up: bool


@dataclass(frozen=True)
class ClusterEvent:
    topic: str
    origin: str
    """The node ID that published it."""
    payload: bytes
    ltime: int
    """Serf's Lamport time: a later event of one origin has a greater ltime."""


class ClusterEvents(Protocol):
    """What the overlay driver gets of the cluster (issue 15)."""

    @property
    def node_id(self) -> str: ...

    async def publish(self, topic: str, payload: bytes) -> None: ...

    def subscribe(self, topic: str, handler: Callable[[ClusterEvent], None]) -> Callable[[], None]: ...

    def on_member(self, handler: Callable[[MemberChange], None]) -> Callable[[], None]: ...

    def members_up(self) -> dict[str, str]:
        """Node ID -> address of the members Serf sees alive now."""
        ...

    def provide(self, topic: str, table: Callable[[], Awaitable[bytes]]) -> Callable[[], None]:
        """Answer other nodes' full syncs of ``topic`` with what ``table`` gives (this node's own entries)."""
        ...

    async def full_sync(self, node_id: str, topic: str) -> bytes:
        """The full table of ``topic`` as ``node_id`` owns it, over the mutually authenticated cluster port."""
        ...


class Hub:
    """Who listens to what: kept across the agent's restarts and the node's joins and leaves."""

    def __init__(self) -> None:
        self.topics: dict[str, list[Callable[[ClusterEvent], None]]] = {}
        self.member_handlers: list[Callable[[MemberChange], None]] = []
        self.providers: dict[str, Callable[[], Awaitable[bytes]]] = {}

    def subscribe(self, topic: str, handler: Callable[[ClusterEvent], None]) -> Callable[[], None]:
        self.topics.setdefault(topic, []).append(handler)
        return lambda: self.topics.get(topic, []).remove(handler)

    def on_member(self, handler: Callable[[MemberChange], None]) -> Callable[[], None]:
        self.member_handlers.append(handler)
        return lambda: self.member_handlers.remove(handler)

    def provide(self, topic: str, table: Callable[[], Awaitable[bytes]]) -> Callable[[], None]:
        self.providers[topic] = table
        return lambda: self.providers.pop(topic, None) and None

    def deliver(self, event: ClusterEvent) -> None:
        for handler in list(self.topics.get(event.topic, ())):
            handler(event)

    def member_changed(self, change: MemberChange) -> None:
        for handler in list(self.member_handlers):
            handler(change)


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


class Membership:
    """This node's Serf agent, its event stream, and ``ClusterEvents`` over them."""

    def __init__(self, directory: str, node_id: str, advertise_ip: str, rpc_auth: str, *,
                 role: str, port: int = SERF_PORT, cluster_port: int = 2377, hub: Hub | None = None):
        self._node_id = node_id
        self.config = SerfAgentConfig(
            node_name=node_id, data_dir=directory, bind_addr="0.0.0.0", advertise_addr=advertise_ip,
            bind_port=port, rpc_auth=rpc_auth, tags={"role": role, "port": str(cluster_port)},
            die_with_parent=True)
        self.agent = SerfAgent(self.config)
        self._client: SerfClient | None = None
        self._alive: dict[str, str] = {}
        self._roles: dict[str, str] = {}
        self._ports: dict[str, int] = {}
        self.hub = hub or Hub()
        self._tasks: list[asyncio.Task[None]] = []
        self._known_peers: list[str] = []

    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def keyring_path(self) -> str:
        return self.agent.keyring_path

    def seed_keyring(self, keys: list[str]) -> None:
        """The cluster's keys (base64, primary first) before the first start."""
        os.makedirs(self.config.data_dir, mode=0o700, exist_ok=True)
        fd = os.open(self.keyring_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(keys, out)

    def keyring(self) -> list[str]:
        with open(self.keyring_path) as source:
            return list(json.load(source))

    async def start(self, peers: list[str]) -> None:
        """Start (or adopt) the agent, join ``peers`` (ip:port) and follow its events."""
        self._known_peers = list(peers)
        await self.agent.start()
        await self._connect()
        if peers:
            await self.join(peers)
        self._tasks.append(asyncio.create_task(self._supervise(), name="serf-supervisor"))

    async def join(self, peers: list[str]) -> None:
        assert self._client is not None
        await self._client.join(peers)

    async def _connect(self) -> None:
        self._client = await self.agent.connect()
        stream = await self._client.stream("user,member-join,member-leave,member-failed,member-update,member-reap")
        members = [m for m in await self._client.members() if m.status == "alive"]
        self._alive = {m.name: m.addr for m in members}
        self._roles = {m.name: m.tags.get("role", "") for m in members}
        self._ports = {m.name: int(m.tags.get("port") or 2377) for m in members}
        self._tasks.append(asyncio.create_task(self._follow(stream), name="serf-events"))

    async def _follow(self, stream: AsyncIteratorLike) -> None:
        try:
            async for event in stream:
                if isinstance(event, UserEvent):
                    self._deliver(event)
                elif isinstance(event, MemberEvent):
                    self._member_event(event)
        except SerfError as err:
            log.warning("serf event stream ended", extra={"error": str(err)})

    def _deliver(self, event: UserEvent) -> None:
        if not self.hub.topics.get(event.name):
            return
        try:
            origin, payload = msgpack.unpackb(event.payload)
        except (ValueError, TypeError, msgpack.UnpackException):
            log.warning("cluster event dropped: not ours", extra={"topic": event.name})
            return
        self.hub.deliver(ClusterEvent(event.name, str(origin), bytes(payload), event.ltime))

    def _member_event(self, event: MemberEvent) -> None:
        if event.kind == "member-update":
            for member in event.members:
                if member.name in self._roles:
                    self._roles[member.name] = member.tags.get("role", "")
            return
        up = event.kind == "member-join"
        for member in event.members:
            if up:
                self._alive[member.name] = member.addr
                self._roles[member.name] = member.tags.get("role", "")
                self._ports[member.name] = int(member.tags.get("port") or 2377)
            else:
                self._alive.pop(member.name, None)
                self._roles.pop(member.name, None)
            log.info("cluster member " + ("up" if up else "down"),
                     extra={"node": member.name, "addr": member.addr, "event": event.kind})
            self.hub.member_changed(MemberChange(member.name, member.addr, up))

    async def _supervise(self) -> None:
        """Restart the agent when it dies (never a second one: ``start`` adopts a live one)."""
        while True:
            await asyncio.sleep(_SUPERVISE_PERIOD)
            if self.agent.is_running() and self._client is not None and not self._client.closed:
                continue
            log.warning("serf agent gone; restarting", extra={"node": self._node_id})
            try:
                await self.agent.start()
                await self._connect()
                if self._known_peers:
                    await self.join(self._known_peers)
            except SerfError as err:
                log.warning("serf agent restart failed", extra={"error": str(err)})

    def members_up(self) -> dict[str, str]:
        return dict(self._alive)

    def roles_up(self) -> dict[str, str]:
        """Node ID -> the role its agent's tag says, for the members up."""
        return dict(self._roles)

    async def members(self) -> dict[str, str]:
        """Node ID -> Serf status (alive, leaving, left, failed), asked of the agent now."""
        if self._client is None or self._client.closed:
            return {}
        try:
            return {m.name: m.status for m in await self._client.members()}
        except SerfError:
            return {}

    async def publish(self, topic: str, payload: bytes) -> None:
        assert self._client is not None
        await self._client.user_event(topic, msgpack.packb([self._node_id, payload]), coalesce=False)

    def cluster_port_of(self, node_id: str) -> str | None:
        """host:port of a live member's cluster port, from its agent's address and tag."""
        addr = self._alive.get(node_id)
        port = self._ports.get(node_id)
        return None if addr is None or port is None else f"{addr}:{port}"

    async def set_role(self, role: str) -> None:
        if self._client is not None:
            with contextlib.suppress(SerfError):
                await self._client.update_tags({"role": role, "port": self.config.tags.get("port", "2377")})

    async def remove_member(self, node_id: str) -> None:
        """``node rm``: forget a member for good, so it is not retried or listed."""
        if self._client is not None:
            with contextlib.suppress(SerfError):
                await self._client.force_leave(node_id, prune=True)

    async def rotate_key(self) -> str:
        """A new primary gossip key on every member; the old one is removed once all use the new one."""
        assert self._client is not None
        old = self.keyring()
        key = base64.b64encode(new_key()).decode()
        await self._client.install_key(key)
        await self._client.use_key(key)
        for stale in old:
            if stale != key:
                await self._client.remove_key(stale)
        log.info("gossip key rotated", extra={"node": self._node_id})
        return key

    async def rotate_periodically(self, is_leader: Callable[[], bool],
                                  period: float = KEY_ROTATION_PERIOD) -> None:
        while True:
            await asyncio.sleep(period)
            if is_leader():
                try:
                    await self.rotate_key()
                except SerfError as err:
                    log.warning("gossip key rotation failed", extra={"error": str(err)})

    def add_task(self, task: asyncio.Task[None]) -> None:
        self._tasks.append(task)

    async def close(self, *, leave: bool = False, stop_agent: bool = True) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if leave and self._client is not None and not self._client.closed:
            with contextlib.suppress(SerfError):
                await self._client.leave()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if stop_agent:
            await self.agent.stop(leave=leave)


class AsyncIteratorLike(Protocol):
    def __aiter__(self) -> AsyncIteratorLike: ...

    async def __anext__(self) -> object: ...
