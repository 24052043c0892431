"""Real etcd members, one per throwaway "host" namespace, on a bridge in a namespace of its own.

The tests share three hosts and run in file order, as a cluster's life goes:
one member, then three formed one join at a time, then failures (kill -9,
a supervised restart, removing a member that is down, losing the quorum).
Teardown kills every member started here and deletes every namespace, even
when a test fails.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from libnetwork import nshelper
from libnetwork.cluster.ca import RootCA
from libnetwork.cluster.etcd import (
    EtcdConfig,
    EtcdMember,
    MemberInfo,
    add_member,
    initial_cluster_after_add,
    list_members,
    peer_url,
    remove_member,
)
from libnetwork.cluster.etcdstore import EtcdKV
from libnetwork.cluster.ids import Role
from libnetwork.store import StoreUnavailable
from libnetwork.testing import require_root, unwire_hosts, wire_hosts, write_node_tls

SUBNET = "10.214.0"
T = TypeVar("T")


@dataclass
class Host:
    name: str
    netns: str
    ip: str
    directory: str
    tls: tuple[str, str, str]
    member: EtcdMember | None = None

    def config(self, initial_cluster: dict[str, str], state: str = "new") -> EtcdConfig:
        ca_file, cert_file, key_file = self.tls
        return EtcdConfig(name=self.name, data_dir=os.path.join(self.directory, "etcd"), advertise_ip=self.ip,
                          ca_file=ca_file, cert_file=cert_file, key_file=key_file,
                          initial_cluster=initial_cluster, initial_state=state,  # type: ignore[arg-type]
                          cluster_token="test", netns=self.netns)


@dataclass
class Lab:
    hosts: list[Host]
    root_ca: RootCA
    directory: str
    # Every member object made here, adopted ones too: teardown stops them all.
    members: list[EtcdMember] = field(default_factory=list)

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def new_member(self, config: EtcdConfig) -> EtcdMember:
        member = EtcdMember(config)
        self.members.append(member)
        return member


def run(coroutine: Awaitable[T], timeout: float = 60) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
        except StoreUnavailable:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_root()
    prefix = f"etcd{uuid.uuid4().hex[:6]}"
    root = str(tmp_path_factory.mktemp("etcd-lab"))
    ca = RootCA.create()
    state = Lab([], ca, root)
    try:
        _, hosts = wire_hosts(prefix, 3, SUBNET)
        for name, path, ip in hosts:
            directory = os.path.join(root, name)
            state.hosts.append(Host(name, path, ip, directory, write_node_tls(ca, os.path.join(directory, "tls"),
                                                                              name, ip)))
        yield state
    finally:
        for member in state.members:
            try:
                asyncio.run(member.stop(timeout=2))
            except Exception:
                if member.pid is not None:
                    os.kill(member.pid, signal.SIGKILL)
        unwire_hosts(prefix, 3)


async def store_on(member: EtcdMember, timeout: float = 2.0) -> EtcdKV:
    return EtcdKV(await member.client(), prefix="/cnm/", timeout=timeout)


def etcd_pids(data_dir: str) -> list[int]:
    """The etcd processes on ``data_dir``, whoever started them."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    argv = cmdline.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if argv and os.path.basename(argv[0]) == "etcd" and f"--data-dir={data_dir}" in argv:
                pids.append(int(entry))
    return pids


def kill(member: EtcdMember) -> None:
    pid = member.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


def connect_from(netns: str, ip: str, port: int) -> socket.socket:
    """A TCP connection made inside ``netns`` (the namespace helper makes the socket there)."""
    (sock,) = nshelper.open_sockets(netns, [(socket.AF_INET, socket.SOCK_STREAM, 0)])
    sock.settimeout(5)
    try:
        sock.connect((ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


def peer_request(lab: Lab, client: Host, server: Host, cert: tuple[str, str] | None) -> bytes:
    """What ``server``'s peer port answers ``client`` for GET /version, with a TLS client certificate or none."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=client.tls[0])
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(*cert)
    sock = connect_from(client.netns, server.ip, 2380)
    try:
        with context.wrap_socket(sock) as tls:
            tls.sendall(b"GET /version HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n")
            answer = b""
            # Up to the end of the JSON body: etcd keeps the connection open whatever the request says.
            while not answer.endswith(b"}") and (chunk := tls.recv(4096)):
                answer += chunk
            return answer
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return b""
    finally:
        sock.close()


# -- one member ----------------------------------------------------------------------

def test_a_single_member_serves_clients_on_loopback_only(lab: Lab) -> None:
    n1, n2 = lab.host("n1"), lab.host("n2")
    n1.member = lab.new_member(n1.config({"n1": peer_url(n1.ip)}))

    async def scenario() -> None:
        assert n1.member is not None
        await n1.member.start()
        store = await store_on(n1.member)
        try:
            revision = await store.put("network/n1", b"one")
            assert (await store.get("network/n1")).mod_revision == revision
        finally:
            await store.close()

    run(scenario())
    with pytest.raises(ConnectionRefusedError):
        connect_from(n2.netns, n1.ip, 2379).close()


def test_the_peer_port_takes_only_manager_certificates(lab: Lab) -> None:
    n1, n2 = lab.host("n1"), lab.host("n2")
    worker = write_node_tls(lab.root_ca, os.path.join(lab.directory, "worker"), "w1", n2.ip, Role.WORKER)
    manager = (n2.tls[1], n2.tls[2])
    # A manager's certificate is answered: the refusals below are the certificates', not the port's.
    assert b"etcdserver" in peer_request(lab, n2, n1, manager)
    assert peer_request(lab, n2, n1, None) == b""
    assert peer_request(lab, n2, n1, (worker[1], worker[2])) == b""


def test_a_second_start_adopts_the_running_member(lab: Lab) -> None:
    n1 = lab.host("n1")
    assert n1.member is not None
    again = lab.new_member(n1.member.config)
    run(again.start())
    assert again.pid == n1.member.pid
    assert etcd_pids(n1.member.config.data_dir) == [n1.member.pid]


# -- three members ----------------------------------------------------------------------

async def join(lab: Lab, via: EtcdMember, host: Host) -> MemberInfo:
    """What a manager does for a joining one: add it, then the joiner starts with the cluster it was told."""
    async with await via.client() as client:
        added = await add_member(client, peer_url(host.ip), retry_for=20)
        cluster = initial_cluster_after_add(await list_members(client), added, host.name)
    host.member = lab.new_member(host.config(cluster, "existing"))
    await host.member.start()
    return added


def test_three_members_formed_one_join_at_a_time(lab: Lab) -> None:
    n1, n2, n3 = (lab.host(n) for n in ("n1", "n2", "n3"))
    assert n1.member is not None

    async def scenario() -> None:
        assert n1.member is not None
        await join(lab, n1.member, n2)
        # etcd refuses the next voter until the last one has been connected for 5s: add_member retries.
        await join(lab, n1.member, n3)
        async with await n1.member.client() as client:
            members = await list_members(client)
        assert sorted(m.name for m in members) == ["n1", "n2", "n3"]
        assert not any(m.is_learner for m in members)
        assert {m.peer_urls for m in members} == {(peer_url(h.ip),) for h in (n1, n2, n3)}
        assert n3.member is not None
        store = await store_on(n3.member)
        try:
            assert (await store.get("network/n1")).value == b"one"    # written before it joined
            await store.put("network/n3", b"three")
        finally:
            await store.close()

    run(scenario())


def test_two_of_three_still_serve_writes(lab: Lab) -> None:
    n1, n3 = lab.host("n1"), lab.host("n3")
    assert n1.member is not None and n3.member is not None
    kill(n3.member)

    async def scenario() -> None:
        assert n1.member is not None
        store = await store_on(n1.member)
        try:
            # A new leader within a couple of election timeouts if the killed one led.
            await eventually(lambda: store.put("network/after-kill", b"x"), 5, "a write with n3 down")
        finally:
            await store.close()

    run(scenario())


def test_supervise_restarts_a_killed_member(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    n3 = lab.host("n3")
    member = n3.member
    assert member is not None and not member.is_running()

    async def scenario() -> None:
        supervisor = asyncio.create_task(member.supervise(poll=0.1))
        try:
            await eventually(lambda: asyncio.sleep(0, member.is_running()), 10, "n3 restarted")
            first = member.pid
            assert first is not None
            store = await store_on(member)
            try:
                got = await eventually(lambda: store.get("network/after-kill"), 10, "n3 caught up")
                assert got.value == b"x"
            finally:
                await store.close()
            kill(member)
            await eventually(lambda: asyncio.sleep(0, member.pid not in (None, first)), 10, "n3 restarted again")
            store = await store_on(member)
            try:
                await eventually(lambda: store.get("network/after-kill"), 10, "n3 serving again")
            finally:
                await store.close()
            assert member.restarts == 2
            assert etcd_pids(member.config.data_dir) == [member.pid]
        finally:
            supervisor.cancel()

    with caplog.at_level("WARNING", logger="cnmd"):
        run(scenario())
    restarts = [r for r in caplog.records if r.getMessage() == "etcd member died, restarting"]
    assert [r.__dict__["member"] for r in restarts] == ["n3", "n3"]


def test_a_member_that_is_down_can_be_removed(lab: Lab) -> None:
    n1, n2 = lab.host("n1"), lab.host("n2")
    assert n1.member is not None and n2.member is not None
    kill(n2.member)

    async def scenario() -> None:
        assert n1.member is not None
        async with await n1.member.client() as client:
            [gone] = [m for m in await list_members(client) if m.name == "n2"]
            await remove_member(client, gone.id, retry_for=10)
            assert sorted(m.name for m in await list_members(client)) == ["n1", "n3"]
        store = await store_on(n1.member)
        try:
            await eventually(lambda: store.put("network/after-remove", b"y"), 5, "a write by two of two")
        finally:
            await store.close()

    run(scenario())


def test_without_a_quorum_the_store_is_unavailable_at_once(lab: Lab) -> None:
    n1, n3 = lab.host("n1"), lab.host("n3")
    assert n1.member is not None and n3.member is not None
    asyncio.run(n3.member.stop())    # one of two left: no quorum

    async def scenario() -> float:
        assert n1.member is not None
        store = await store_on(n1.member, timeout=3.0)
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    await store.put("network/no-quorum", b"z")
                except StoreUnavailable:
                    return time.monotonic() - started
                await asyncio.sleep(0.2)    # until the leader notices it lost its quorum and steps down
            raise AssertionError("writes still accepted without a quorum")
        finally:
            await store.close()

    # Refused within the call's bound, never hanging on a leaderless member.
    assert run(scenario()) <= 3.5
