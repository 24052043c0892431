"""Real Serf agents, one per throwaway "host" namespace, on a bridge in a namespace of its own.

The tests share one encrypted three-node cluster and run in file order: the
last one kills an agent.  Teardown stops every agent (SIGKILL if need be) and
deletes every namespace, even when a test fails.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from libnetwork.cluster.serf import (
    Event,
    EventStream,
    MemberEvent,
    Query,
    QueryAck,
    QueryResponse,
    SerfClient,
    SerfCommandError,
    UserEvent,
)
from libnetwork.cluster.serfagent import DEFAULT_EVENT_LIMIT, SerfAgent, SerfAgentConfig
from libnetwork.testing import delete_netns, require_root, wire_hosts

T = TypeVar("T")


@dataclass
class Node:
    name: str
    netns: str
    ip: str
    agent: SerfAgent


@dataclass
class Cluster:
    bridge_ns: str
    nodes: list[Node]
    first_key: bytes

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.2)


async def next_matching(events: EventStream, match: Callable[[Event], bool], timeout: float) -> Event:
    async def wait() -> Event:
        async for event in events:
            if match(event):
                return event
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(wait(), timeout)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_root()
    prefix = f"serf{uuid.uuid4().hex[:6]}"
    key = os.urandom(32)
    nodes: list[Node] = []
    bridge = f"{prefix}-br"
    try:
        bridge, hosts = wire_hosts(prefix, 3)
        for name, path, ip in hosts:
            config = SerfAgentConfig(
                node_name=name, data_dir=str(tmp_path_factory.mktemp(name)), bind_addr=ip,
                rpc_auth=uuid.uuid4().hex, encrypt_key=key, tags={"role": "manager" if name == "n1" else "worker"},
                reconnect_timeout="30s", tombstone_timeout="30s",
                # Uncompressed, so only the encryption can keep a payload out of the capture.
                compression=False, netns=path)
            nodes.append(Node(name, path, ip, SerfAgent(config)))

        async def start() -> None:
            await asyncio.gather(*(n.agent.start() for n in nodes))
            for node in nodes[1:]:
                async with await node.agent.connect() as client:
                    assert await client.join([nodes[0].ip]) == 1

        asyncio.run(start())
        yield Cluster(bridge, nodes, key)
    finally:
        for node in nodes:
            asyncio.run(node.agent.stop(timeout=2))
        for node in nodes:
            delete_netns(os.path.basename(node.netns))
        delete_netns(bridge)


def run(coroutine: Awaitable[T], timeout: float = 60) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


def test_members_see_each_other_alive(cluster: Cluster) -> None:
    async def scenario() -> None:
        for node in cluster.nodes:
            async with await node.agent.connect() as client:
                async def all_alive() -> list[Any] | None:
                    members = await client.members()
                    alive = {m.name: m for m in members if m.status == "alive"}
                    return list(alive.values()) if len(alive) == 3 else None

                members = await eventually(all_alive, 15, f"{node.name} sees 3 alive members")
                assert {m.addr for m in members} == {n.ip for n in cluster.nodes}
                workers = await client.members_filtered(tags={"role": "work.*"}, status="alive")
                assert sorted(m.name for m in workers) == ["n2", "n3"]

    run(scenario())


def test_user_event_arrives_with_its_payload(cluster: Cluster) -> None:
    small = b"\x00endpoint\xff"
    big = os.urandom(1000)

    async def scenario() -> None:
        async with await cluster.node("n1").agent.connect() as sender, \
                await cluster.node("n3").agent.connect() as receiver:
            events = await receiver.stream("user:ep")
            await sender.user_event("ep", small, coalesce=False)
            await sender.user_event("ep", big, coalesce=False)
            got: list[bytes] = []
            while len(got) < 2:
                event = await next_matching(events, lambda e: isinstance(e, UserEvent), 10)
                assert isinstance(event, UserEvent)
                got.append(event.payload)
            assert sorted(got) == sorted([small, big])
            # Beyond what one encrypted packet carries, the agent refuses rather than gossiping late.
            with pytest.raises(SerfCommandError, match="exceeds configured limit"):
                await sender.user_event("ep", os.urandom(DEFAULT_EVENT_LIMIT))

    run(scenario())


def test_query_gets_responses(cluster: Cluster) -> None:
    async def responder(client: SerfClient, events: EventStream) -> None:
        async for event in events:
            if isinstance(event, Query) and event.name == "whoami":
                await client.respond(event.id, b"I am " + event.payload)

    async def scenario() -> None:
        clients = [await n.agent.connect() for n in cluster.nodes]
        try:
            tasks = []
            for client in clients[1:]:
                tasks.append(asyncio.ensure_future(responder(client, await client.stream("query:whoami"))))
            responses = await clients[0].query("whoami", b"asked", request_ack=True, timeout=3)
            records = await responses.collect()
            answers = {r.from_node: r.payload for r in records if isinstance(r, QueryResponse)}
            assert answers == {"n2": b"I am asked", "n3": b"I am asked"}
            assert {r.from_node for r in records if isinstance(r, QueryAck)} >= {"n2", "n3"}
            only = await clients[0].query("whoami", b"x", filter_tags={"role": "manager"}, timeout=2)
            assert not [r for r in await only.collect() if isinstance(r, QueryResponse)]
            for task in tasks:
                task.cancel()
        finally:
            for client in clients:
                await client.close()

    run(scenario())


def test_key_rotation_without_restart(cluster: Cluster) -> None:
    new_key = os.urandom(32)
    old, new = (base64.b64encode(k).decode() for k in (cluster.first_key, new_key))

    async def scenario() -> None:
        async with await cluster.node("n2").agent.connect() as admin:
            installed = await admin.install_key(new)
            assert (installed.num_nodes, installed.num_err) == (3, 0)
            await admin.use_key(new)
            removed = await admin.remove_key(old)
            assert removed.num_err == 0, removed.messages
            keys = await admin.list_keys()
            assert keys.keys == {new: 3} and keys.num_err == 0
        # Gossip still flows both ways on the new key alone.
        async with await cluster.node("n3").agent.connect() as sender, \
                await cluster.node("n1").agent.connect() as receiver:
            events = await receiver.stream("user:after-rotation")
            await sender.user_event("after-rotation", b"still talking", coalesce=False)
            event = await next_matching(events, lambda e: isinstance(e, UserEvent), 10)
            assert isinstance(event, UserEvent) and event.payload == b"still talking"

    run(scenario())
    for node in cluster.nodes:
        # What a restarted agent would load.
        with open(node.agent.keyring_path) as keyring:
            assert json.load(keyring) == [new]


def start_capture(netns: str, path: str, expression: str) -> subprocess.Popen[bytes]:
    """tcpdump on eth0 of ``netns``, returned once it says it is listening."""
    tcpdump = subprocess.Popen(
        ["nsenter", f"--net={netns}", "tcpdump", "-i", "eth0", "--immediate-mode", "-U", "-s", "0", "-w", path,
         *expression.split()],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert tcpdump.stderr is not None
    ready, _, _ = select.select([tcpdump.stderr], [], [], 10)
    line = tcpdump.stderr.readline() if ready else b""
    if b"listening on" not in line:
        tcpdump.kill()
        tcpdump.wait()
        raise AssertionError(f"tcpdump did not start: {line!r}")
    return tcpdump


def test_gossip_is_not_readable_on_the_wire(cluster: Cluster, tmp_path: Any) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("no tcpdump")
    secret = b"ENCRYPTED-MARKER-" + uuid.uuid4().hex.encode()
    clear = b"CLEAR-TEXT-MARKER-" + uuid.uuid4().hex.encode()
    n1, n2 = cluster.node("n1"), cluster.node("n2")
    # The control: a second, unencrypted cluster on the same wire, whose marker the capture must show.
    plain = [SerfAgent(SerfAgentConfig(
        node_name=f"plain-{n.name}", data_dir=str(tmp_path / n.name), bind_addr=n.ip, bind_port=7950, rpc_port=7380,
        rpc_auth="plain", compression=False, netns=n.netns)) for n in (n1, n2)]
    capture = str(tmp_path / "gossip.pcap")
    tcpdump = start_capture(n2.netns, capture, "port 7946 or port 7950")
    try:
        async def send_and_receive(sender_agent: SerfAgent, receiver_agent: SerfAgent, payload: bytes) -> None:
            async with await sender_agent.connect() as sender, await receiver_agent.connect() as receiver:
                events = await receiver.stream("user:marker")
                await sender.user_event("marker", payload, coalesce=False)
                event = await next_matching(events, lambda e: isinstance(e, UserEvent), 10)
                assert isinstance(event, UserEvent) and event.payload == payload

        async def scenario() -> None:
            await asyncio.gather(*(a.start() for a in plain))
            async with await plain[1].connect() as client:
                await client.join([f"{n1.ip}:7950"])
            await send_and_receive(n1.agent, n2.agent, secret)
            await send_and_receive(plain[0], plain[1], clear)

        run(scenario())
        time.sleep(0.5)
    finally:
        tcpdump.send_signal(signal.SIGINT)
        tcpdump.wait(10)
        for agent in plain:
            asyncio.run(agent.stop(timeout=2))
    with open(capture, "rb") as pcap:
        data = pcap.read()
    assert clear in data, "the capture did not see the clear-text control"
    assert secret not in data and secret[:12] not in data


def test_a_second_start_adopts_the_running_agent_or_replaces_it(cluster: Cluster, tmp_path: Any) -> None:
    n1 = cluster.node("n1")

    def config(**changes: Any) -> SerfAgentConfig:
        base = SerfAgentConfig(node_name="solo", data_dir=str(tmp_path), bind_addr=n1.ip, bind_port=7960,
                               rpc_port=7390, rpc_auth="solo", encrypt_key=cluster.first_key, netns=n1.netns)
        return SerfAgentConfig(**{**base.__dict__, **changes})

    first = SerfAgent(config())
    agents = [first]
    try:
        run(first.start())
        pid = first.pid
        # What cnmd does after a crash: a new object, the same node.
        again = SerfAgent(config())
        agents.append(again)
        assert again.is_running() and again.pid == pid
        run(again.start())
        assert again.pid == pid
        changed = SerfAgent(config(tags={"role": "changed"}))
        agents.append(changed)
        run(changed.start())
        assert changed.pid != pid
        # Same data dir, so the same node: ``first`` now sees the new agent, once it has reaped its old child.
        assert first.pid == changed.pid and not os.path.exists(f"/proc/{pid}")

        async def tags() -> dict[str, str]:
            async with await changed.connect() as client:
                return dict((await client.members())[0].tags)

        assert run(tags()) == {"role": "changed"}
    finally:
        for agent in agents:
            run(agent.stop(timeout=2))


def test_a_killed_agent_is_seen_failed(cluster: Cluster) -> None:
    victim = cluster.node("n3")

    async def scenario() -> float:
        async with await cluster.node("n1").agent.connect() as watcher:
            events = await watcher.stream("member-failed")
            pid = victim.agent.pid
            assert pid is not None
            killed = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            event = await next_matching(
                events, lambda e: isinstance(e, MemberEvent) and any(m.name == "n3" for m in e.members), 30)
            elapsed = time.monotonic() - killed
            assert isinstance(event, MemberEvent)
            members = {m.name: m.status for m in await watcher.members()}
            assert members["n3"] == "failed"
            return elapsed

    elapsed = run(scenario())
    assert not victim.agent.is_running()
    print(f"\nmember-failed seen {elapsed:.2f}s after SIGKILL (3 nodes, LAN profile)", file=sys.stderr)
    # memberlist's LAN profile: probe every 1s, suspicion of 4 probe intervals at this size (up to 6x that).
    assert elapsed < 30

