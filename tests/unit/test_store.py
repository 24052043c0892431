"""The store contract (libnetwork.store.api) on SQLite and in memory, the SQLite file's life, and the codec."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
    ip_address,
    ip_interface,
    ip_network,
)
from typing import Any, TypeVar

import pytest

from libnetwork import errors
from libnetwork.cluster.etcd import EtcdClient, EtcdMember
from libnetwork.cluster.etcdstore import EtcdKV
from libnetwork.model import EndpointRecord, NetworkRecord, PoolRecord, SandboxRecord
from libnetwork.service_binding import IngressPort, ServiceBinding
from libnetwork.store import (
    Compacted,
    EventType,
    KeyNotFound,
    KVStore,
    MemoryStore,
    RecordStore,
    RevisionMismatch,
    Scope,
    SQLiteStore,
    Store,
    StoreUnavailable,
    WatchEvent,
    codec,
)
from libnetwork.store.local import LocalStore, prefix_end
from libnetwork.testing import free_tcp_port, local_etcd

T = TypeVar("T")


_runner: asyncio.Runner | None = None


@pytest.fixture(autouse=True)
def event_loop_runner() -> Iterator[asyncio.Runner]:
    """One event loop per test: an etcd client's gRPC channel lives on the loop that made it."""
    global _runner
    with asyncio.Runner() as runner:
        _runner = runner
        try:
            yield runner
        finally:
            _runner = None


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro
    assert _runner is not None
    return _runner.run(main())


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[LocalStore]:
    s: LocalStore = SQLiteStore(str(tmp_path)) if request.param == "sqlite" else MemoryStore()
    yield s
    s.close()


@pytest.fixture(scope="module")
def etcd_member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdMember]:
    with local_etcd(str(tmp_path_factory.mktemp("etcd"))) as member:
        yield member


@dataclass
class KVCase:
    kv: KVStore
    forget: Callable[[int], Awaitable[None]]
    """Make the changes before a revision impossible to replay (etcd: compact)."""


@pytest.fixture(params=["sqlite", "memory", pytest.param("etcd", marks=pytest.mark.etcd)])
def kv_case(request: pytest.FixtureRequest, tmp_path: Any, event_loop_runner: asyncio.Runner) -> Iterator[KVCase]:
    """Each store of the contract; the etcd one rooted under a prefix of its own for each test."""
    if request.param == "etcd":
        member: EtcdMember = request.getfixturevalue("etcd_member")

        async def open_etcd() -> EtcdKV:
            return EtcdKV(await member.client(), prefix=f"/test-{uuid.uuid4().hex[:8]}/", timeout=5)

        etcd_kv = run(open_etcd())

        async def compact(revision: int) -> None:
            await etcd_kv._client.compact(revision)

        yield KVCase(etcd_kv, compact)
        run(etcd_kv.close())
        return
    local: LocalStore = SQLiteStore(str(tmp_path)) if request.param == "sqlite" else MemoryStore()

    async def forget(revision: int) -> None:
        hub = local._hub
        with hub._lock:
            hub._compacted = max(hub._compacted, revision - 1)
            hub._history = deque(e for e in hub._history if e.revision >= revision)

    yield KVCase(local.kv, forget)
    local.close()


@pytest.fixture
def kv(kv_case: KVCase) -> KVStore:
    return kv_case.kv


def network(nid: str = "n1", **changes: Any) -> NetworkRecord:
    return dataclasses.replace(NetworkRecord(
        id=nid, name=f"net-{nid}", driver="bridge", created="2024-05-01T10:00:00Z",
        options={"com.docker.network.bridge.name": "br-x"}, labels={"a": "b"},
        ipv4_pools=[PoolRecord(pool_id="LocalDefault/172.18.0.0/16", subnet=ip_network("172.18.0.0/16"),
                               gateway=ip_interface("172.18.0.1/16"), aux_addresses={"h": ip_address("172.18.0.9")},
                               user_config={"Subnet": "172.18.0.0/16"})],
        ipv6_pools=[PoolRecord(pool_id="p6", subnet=ip_network("fd00::/64"), gateway=ip_interface("fd00::1/64"))],
        ready=True), **changes)


def endpoint(eid: str = "e1") -> EndpointRecord:
    return EndpointRecord(id=eid, network_id="n1", sandbox_id="s1", name="web", ifname="eth0",
                          mac="02:42:ac:12:00:02", ipv4=IPv4Interface("172.18.0.2/16"),
                          ipv6=IPv6Interface("fd00::2/64"), aliases=["www"],
                          ipam_config={"IPv4Address": "172.18.0.2"}, gateway_v4=IPv4Address("172.18.0.1"),
                          published=[{"proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8080, "port": 80}],
                          created_seq=1, ready=True)


def sandbox(sid: str = "s1") -> SandboxRecord:
    return SandboxRecord(id=sid, name="c1", hostname="c1", created="2024-05-01T10:00:00Z",
                         netns_path="/run/cnm/netns/s1", mode="default", owns_netns=False,
                         netns_identity=(64769, 4026532000),
                         port_bindings={"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                         exposed_ports=["80/tcp"], dns=["1.1.1.1"], extra_hosts=["h:10.0.0.1"], next_seq=2)


# -- the key-value contract, on each local store ------------------------------

def test_errors_are_the_projects_with_their_status() -> None:
    assert issubclass(KeyNotFound, errors.NotFound) and KeyNotFound("k").status == 404
    assert issubclass(RevisionMismatch, errors.Conflict) and RevisionMismatch("k", 1, 2).status == 409
    assert issubclass(Compacted, errors.Conflict)
    assert issubclass(StoreUnavailable, errors.Unavailable) and StoreUnavailable("x").status == 503


def test_local_stores_offer_both_surfaces(store: LocalStore) -> None:
    # Checked by mypy: the local stores implement the contract's protocols.
    kv: KVStore = store.kv
    records: RecordStore = store
    assert kv.scope is Scope.LOCAL and records is store
    assert MemoryStore(Scope.GLOBAL).kv.scope is Scope.GLOBAL


def test_put_and_get_track_revisions(kv: KVStore) -> None:
    r1 = run(kv.put("a/1", b"one"))
    r2 = run(kv.put("a/2", b"two"))
    r3 = run(kv.put("a/1", b"uno"))
    assert r1 < r2 < r3
    got = run(kv.get("a/1"))
    assert (got.key, got.value, got.create_revision, got.mod_revision, got.version) == ("a/1", b"uno", r1, r3, 2)
    with pytest.raises(KeyNotFound):
        run(kv.get("a/3"))


def test_cas_succeeds_on_the_revision_read(kv: KVStore) -> None:
    rev = run(kv.put("k", b"v1"))
    new = run(kv.cas("k", b"v2", rev))
    assert new > rev
    assert run(kv.get("k")).value == b"v2"


def test_cas_on_a_stale_revision_fails_and_writes_nothing(kv: KVStore) -> None:
    first = run(kv.put("k", b"v1"))
    second = run(kv.put("k", b"v2"))
    with pytest.raises(RevisionMismatch) as caught:
        run(kv.cas("k", b"lost", first))
    assert (caught.value.expected, caught.value.actual) == (first, second)
    assert run(kv.get("k")).value == b"v2"
    assert run(kv.list("")).revision == second       # a failed compare is no change
    assert run(kv.put("k", b"v3")) == second + 1     # and leaves no transaction open


def test_cas_at_zero_creates_only_when_absent(kv: KVStore) -> None:
    rev = run(kv.cas("pool/10.0.0.0-24", b"n1", 0))
    with pytest.raises(RevisionMismatch) as caught:
        run(kv.cas("pool/10.0.0.0-24", b"n2", 0))
    assert caught.value.actual == rev
    assert run(kv.get("pool/10.0.0.0-24")).value == b"n1"
    with pytest.raises(RevisionMismatch) as absent:
        run(kv.cas("pool/other", b"x", 5))
    assert absent.value.actual == 0


def test_delete(kv: KVStore) -> None:
    created = run(kv.put("k", b"v"))
    assert run(kv.delete("k")) is True
    with pytest.raises(KeyNotFound):
        run(kv.get("k"))
    revision = run(kv.list("")).revision
    assert revision == created + 1
    assert run(kv.delete("k")) is False
    assert run(kv.list("")).revision == revision      # deleting nothing changes nothing
    again = run(kv.put("k", b"w"))
    got = run(kv.get("k"))
    assert (got.create_revision, got.version) == (again, 1)


def test_delete_with_expected_revision(kv: KVStore) -> None:
    rev = run(kv.put("k", b"v"))
    with pytest.raises(RevisionMismatch):
        run(kv.delete("k", expect_revision=rev - 1))
    assert run(kv.get("k")).value == b"v"
    assert run(kv.delete("k", expect_revision=rev)) is True
    with pytest.raises(RevisionMismatch):
        run(kv.delete("k", expect_revision=rev))


def test_list_by_prefix_in_creation_order(kv: KVStore) -> None:
    for key in ("network/b", "networkx/c", "network/a", "endpoint/d", "network/c"):
        first = run(kv.put(key, key.encode()))
    run(kv.put("network/b", b"updated"))                # keeps its place
    run(kv.delete("network/c"))
    listing = run(kv.list("network/"))
    assert [e.key for e in listing.entries] == ["network/b", "network/a"]
    assert listing.entries[0].value == b"updated"
    assert listing.revision == first + 2
    assert len(run(kv.list("")).entries) == 4
    assert run(kv.list("nothing/")).entries == ()


def test_prefix_end_bounds_exactly_the_prefix() -> None:
    assert prefix_end("network/") == "network0"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("") is None
    assert prefix_end("\ud7ff") == "\ue000"


def test_unicode_keys_list_by_prefix(kv: KVStore) -> None:
    for key in ("é/1", "é/2", "ê/1", "e/1"):
        run(kv.put(key, b""))
    assert [e.key for e in run(kv.list("é/")).entries] == ["é/1", "é/2"]


# -- watches ------------------------------------------------------------------------

async def collect(watch: Any, count: int) -> list[WatchEvent]:
    events = []
    async for event in watch:
        events.append(event)
        if len(events) == count:
            break
    return events


def test_watch_delivers_changes_under_its_prefix_in_order(kv: KVStore) -> None:

    async def scenario() -> list[WatchEvent]:
        async with kv.watch("network/") as watch:
            r1 = await kv.put("network/a", b"1")
            await kv.put("endpoint/x", b"not for us")
            await kv.put("network/b", b"2")
            await kv.put("network/a", b"3")
            await kv.delete("network/b")
            events = await asyncio.wait_for(collect(watch, 4), 5)
            assert events[0].revision == r1
            return events

    events = run(scenario())
    assert [(e.type, e.key, e.value) for e in events] == [
        (EventType.PUT, "network/a", b"1"), (EventType.PUT, "network/b", b"2"),
        (EventType.PUT, "network/a", b"3"), (EventType.DELETE, "network/b", None)]
    assert [e.revision for e in events] == sorted(e.revision for e in events)


def test_watch_waits_for_changes_made_later(kv: KVStore) -> None:

    async def scenario() -> list[WatchEvent]:
        async with kv.watch("k") as watch:
            reader = asyncio.ensure_future(collect(watch, 2))
            await asyncio.sleep(0.01)
            assert not reader.done()
            await kv.put("k1", b"a")
            await asyncio.sleep(0.01)
            await kv.put("k2", b"b")
            return await asyncio.wait_for(reader, 5)

    assert [e.key for e in run(scenario())] == ["k1", "k2"]


def test_record_puts_are_watch_events(store: LocalStore) -> None:
    async def scenario() -> list[WatchEvent]:
        async with store.kv.watch("network/") as watch:
            store.put("network", network())
            store.delete("network", "n1")
            return await asyncio.wait_for(collect(watch, 2), 5)

    put, delete = run(scenario())
    assert put.key == "network/n1" and codec.decode(put.value or b"", NetworkRecord) == network()
    assert (delete.type, delete.key) == (EventType.DELETE, "network/n1")


def test_list_then_watch_from_the_next_revision_misses_nothing(kv: KVStore) -> None:

    async def scenario() -> list[WatchEvent]:
        await kv.put("n/1", b"a")
        listing = await kv.list("n/")
        await kv.put("n/2", b"b")                     # between the list and the watch
        async with kv.watch("n/", start_revision=listing.revision + 1) as watch:
            await kv.put("n/3", b"c")
            return await asyncio.wait_for(collect(watch, 2), 5)

    assert [e.key for e in run(scenario())] == ["n/2", "n/3"]


def test_watch_from_a_revision_no_longer_kept_is_compacted(kv_case: KVCase) -> None:
    kv = kv_case.kv

    async def scenario() -> None:
        revisions = [await kv.put(f"k/{i}", b"") for i in range(5)]
        await kv_case.forget(revisions[3])
        with pytest.raises(Compacted):
            async with kv.watch("k/", start_revision=revisions[1]):
                pass
        async with kv.watch("k/", start_revision=revisions[3]) as watch:
            assert [e.key for e in await collect(watch, 2)] == ["k/3", "k/4"]

    run(scenario())


def test_the_local_history_keeps_its_size(store: LocalStore) -> None:
    store._hub._history_size = 2
    kv = store.kv

    async def scenario() -> None:
        for i in range(5):
            await kv.put(f"k/{i}", b"")
        with pytest.raises(Compacted):
            async with kv.watch("k/", start_revision=3):
                pass
        async with kv.watch("k/", start_revision=4) as watch:
            assert [e.key for e in await collect(watch, 2)] == ["k/3", "k/4"]

    run(scenario())


def test_a_reopened_store_cannot_replay_what_came_before(tmp_path: Any) -> None:
    s = Store(str(tmp_path))
    s.put("network", network())
    s.close()
    s = Store(str(tmp_path))

    async def scenario() -> None:
        with pytest.raises(Compacted):
            async with s.kv.watch("", start_revision=1):
                pass
        async with s.kv.watch("", start_revision=2) as watch:   # the next change: fine
            await s.kv.put("k", b"")
            assert [e.revision for e in await collect(watch, 1)] == [2]

    try:
        run(scenario())
    finally:
        s.close()


def test_a_watcher_too_far_behind_is_told_to_list_again(store: LocalStore) -> None:
    store._hub._max_pending = 3
    kv = store.kv

    async def scenario() -> None:
        async with kv.watch("") as watch:
            for i in range(5):
                await kv.put(f"k/{i}", b"")
            with pytest.raises(Compacted):
                await collect(watch, 5)

    run(scenario())


def test_watch_ends_when_the_store_closes(kv: KVStore) -> None:
    async def scenario() -> list[WatchEvent]:
        async with kv.watch("") as watch:
            reader = asyncio.ensure_future(collect(watch, 10))
            await kv.put("k", b"v")
            await asyncio.sleep(0.1)
            await kv.close()
            return await asyncio.wait_for(reader, 5)

    assert [e.key for e in run(scenario())] == ["k"]


def test_writes_from_other_threads_reach_the_loop_in_order(store: LocalStore) -> None:
    async def scenario() -> list[WatchEvent]:
        async with store.kv.watch("t/") as watch:
            def writer(n: int) -> None:
                for i in range(50):
                    store.put_key(f"t/{n}/{i}", b"")
            threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
            for t in threads:
                t.start()
            events = await asyncio.wait_for(collect(watch, 150), 10)
            for t in threads:
                t.join()
            return events

    events = run(scenario())
    assert [e.revision for e in events] == sorted(e.revision for e in events)
    assert len({e.key for e in events}) == 150


# -- records (the controller's synchronous surface) -------------------------------

def test_records_round_trip_by_kind(store: LocalStore) -> None:
    store.put("network", network("n2"))
    store.put("network", network("n1"))
    store.put("endpoint", endpoint())
    store.put("sandbox", sandbox())
    assert list(store.load("network")) == [network("n2"), network("n1")]
    assert list(store.load("endpoint")) == [endpoint()]
    [sb] = store.load("sandbox")
    assert sb == sandbox() and sb.netns_identity == (64769, 4026532000)
    store.delete("network", "n2")
    store.delete("network", "n2")                       # gone already: fine
    assert [n.id for n in store.load("network")] == ["n1"]


def test_a_record_that_does_not_decode_is_named(store: LocalStore) -> None:
    store.put_key("sandbox/s9", b'{"id": "s9", "name": "c", "hostname": "c", "created": "t", "netns_path": "/p", '
                                b'"port_bindings": {"80/tcp": [{"HostPort": 8080}]}}')
    with pytest.raises(codec.BadRecord, match=r"sandbox/s9: .*port_bindings"):
        list(store.load("sandbox"))


def test_load_lets_the_caller_write_while_walking(store: LocalStore) -> None:
    for i in range(3):
        store.put("endpoint", endpoint(f"e{i}"))
    for record in store.load("endpoint"):
        record.ready = False
        store.put("endpoint", record)
        store.put("endpoint", endpoint(record.id + "-new"))
    assert len(list(store.load("endpoint"))) == 6


# -- the SQLite file ---------------------------------------------------------------

def test_reopen_reads_back_and_revisions_go_on(tmp_path: Any) -> None:
    s = Store(str(tmp_path))
    s.put("network", network())
    s.put("endpoint", endpoint())
    rev = s.put("sandbox", sandbox())
    s.delete("endpoint", "e1")
    s.close()
    s = Store(str(tmp_path))
    try:
        assert list(s.load("network")) == [network()]
        assert list(s.load("sandbox")) == [sandbox()]
        assert list(s.load("endpoint")) == []
        assert s.put("endpoint", endpoint()) == rev + 2
    finally:
        s.close()


def old_store_file(data_root: Any, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
    """state.db as the first store wrote it: one JSON body per (kind, id), rowid order."""
    db = sqlite3.connect(os.path.join(str(data_root), "state.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, "
               "PRIMARY KEY (kind, id))")
    for kind, rid, body in rows:
        db.execute("INSERT INTO records(kind, id, body) VALUES (?, ?, ?) "
                   "ON CONFLICT(kind, id) DO UPDATE SET body = excluded.body",
                   (kind, rid, json.dumps(body, separators=(",", ":"), default=str)))
    db.close()


def test_a_state_db_of_the_first_store_migrates_in_place(tmp_path: Any) -> None:
    old_network = dataclasses.asdict(network("n2"))
    old_network["retired_field"] = {"anything": 1}     # a field since removed
    del old_network["ipv6_pools"]                       # one added since: takes its default
    old_sandbox = dataclasses.asdict(sandbox())         # netns_identity as a JSON array
    old_store_file(tmp_path, [
        ("network", "n2", old_network),
        ("network", "n1", dataclasses.asdict(network("n1"))),
        ("sandbox", "s1", old_sandbox),
        ("endpoint", "e1", dataclasses.asdict(endpoint())),
        ("network", "n2", old_network),                 # an update keeps the rowid: still first
    ])
    s = Store(str(tmp_path))
    try:
        networks = list(s.load("network"))
        assert [n.id for n in networks] == ["n2", "n1"]
        assert networks[0] == network("n2", ipv6_pools=[])
        assert networks[1] == network("n1")
        assert list(s.load("sandbox")) == [sandbox()]
        assert list(s.load("endpoint")) == [endpoint()]
        assert s.put("endpoint", endpoint("e2")) == 5
    finally:
        s.close()
    db = sqlite3.connect(os.path.join(str(tmp_path), "state.db"))
    assert db.execute("PRAGMA user_version").fetchone() == (1,)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'records'").fetchone() is None
    db.close()


def test_a_state_db_of_a_newer_schema_is_refused(tmp_path: Any) -> None:
    db = sqlite3.connect(os.path.join(str(tmp_path), "state.db"))
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(errors.Internal, match="newer"):
        Store(str(tmp_path))


def test_each_put_is_committed_on_return(tmp_path: Any) -> None:
    s = Store(str(tmp_path))
    try:
        s.put("network", network())
        # Another connection sees it: nothing waits in an open transaction.
        other = sqlite3.connect(os.path.join(str(tmp_path), "state.db"))
        assert other.execute("SELECT key FROM kv").fetchall() == [("network/n1",)]
        other.close()
    finally:
        s.close()


CRASHER = """
import sys
from libnetwork.store import Store
from libnetwork.model import EndpointRecord
s = Store(sys.argv[1])
i = 0
while True:
    s.put("endpoint", EndpointRecord(id=f"e{i}", network_id="n", sandbox_id="s", name=f"c{i}", created_seq=i))
    print(i, flush=True)
    i += 1
"""


def test_a_killed_daemon_leaves_every_put_it_returned_from_and_no_half_one(tmp_path: Any) -> None:
    proc = subprocess.Popen([sys.executable, "-c", CRASHER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for returned, _ in enumerate(proc.stdout, start=1):
        if returned == 300:
            break
    proc.send_signal(signal.SIGKILL)     # in the middle of later puts
    proc.wait(timeout=30)
    proc.stdout.close()
    s = Store(str(tmp_path))
    try:
        loaded = [e.created_seq for e in s.load("endpoint")]
        assert len(loaded) >= returned
        assert loaded == list(range(len(loaded)))
        assert s.list_keys("").revision == len(loaded)
    finally:
        s.close()


# -- the codec ----------------------------------------------------------------------

@dataclass
class TypedPool:
    subnet: IPv4Network | IPv6Network
    gateway: IPv4Interface | IPv6Interface | None = None
    aux_addresses: dict[str, IPv4Address | IPv6Address] = field(default_factory=dict)


@dataclass
class TypedEndpoint:
    """What the records become once their fields are typed."""

    id: str
    ipv4: IPv4Interface | None = None
    ipv6: IPv6Interface | None = None
    gateway_v4: IPv4Address | None = None
    pools: list[TypedPool] = field(default_factory=list)
    first_pool: TypedPool | None = None
    routes: tuple[IPv4Network | IPv6Network, ...] = ()
    identity: tuple[int, int] | None = None
    dns: list[IPv4Address | IPv6Address] = field(default_factory=list)


def typed_endpoint() -> TypedEndpoint:
    return TypedEndpoint(
        id="e1", ipv4=IPv4Interface("172.18.0.2/16"), ipv6=IPv6Interface("fd00::2/64"),
        gateway_v4=IPv4Address("172.18.0.1"),
        pools=[TypedPool(IPv4Network("172.18.0.0/16"), IPv4Interface("172.18.0.1/16"),
                         {"host": IPv4Address("172.18.0.9")}),
               TypedPool(IPv6Network("fd00::/64"), IPv6Interface("fd00::1/64"), {"h6": IPv6Address("fd00::9")})],
        first_pool=TypedPool(IPv6Network("fd00::/64")),
        routes=(IPv4Network("10.0.0.0/8"), IPv6Network("2001:db8::/32")),
        identity=(1, 2), dns=[IPv6Address("2001:db8::53"), IPv4Address("1.1.1.1")])


def test_typed_addresses_round_trip_as_their_text() -> None:
    record = typed_endpoint()
    data = codec.encode(record)
    body = json.loads(data)
    assert body["ipv4"] == "172.18.0.2/16" and body["pools"][1]["subnet"] == "fd00::/64"
    assert body["dns"] == ["2001:db8::53", "1.1.1.1"] and body["identity"] == [1, 2]
    back = codec.decode(data, TypedEndpoint)
    assert back == record
    assert type(back.pools[1].gateway) is IPv6Interface and type(back.routes[0]) is IPv4Network
    assert type(back.dns[0]) is IPv6Address and back.identity == (1, 2)


def test_records_stored_as_strings_load_into_typed_fields() -> None:
    # An endpoint written before its fields were typed.
    old = json.dumps({"id": "e1", "ipv4": "172.18.0.2/16", "gateway_v4": "172.18.0.1",
                      "pools": [{"subnet": "172.18.0.0/16", "gateway": "172.18.0.1/16"}], "mac": "02:42:..."})
    record = codec.decode(old, TypedEndpoint)
    assert record.ipv4 == ipaddress.ip_interface("172.18.0.2/16")
    assert record.pools == [TypedPool(IPv4Network("172.18.0.0/16"), IPv4Interface("172.18.0.1/16"))]


def test_typed_records_through_the_store(kv: KVStore) -> None:
    run(kv.put("typed/e1", codec.encode(typed_endpoint())))
    [entry] = run(kv.list("typed/")).entries
    assert codec.decode(entry.value, TypedEndpoint) == typed_endpoint()


def test_unknown_fields_are_ignored_and_missing_ones_take_defaults() -> None:
    record = codec.decode(b'{"id": "s1", "name": "c", "hostname": "c", "created": "t", "netns_path": "/p", '
                          b'"from_the_future": [1, 2]}', SandboxRecord)
    assert record == SandboxRecord(id="s1", name="c", hostname="c", created="t", netns_path="/p")


@pytest.mark.parametrize("body", [
    b'{"id": "e1", "ipv4": "300.0.0.1/16"}',       # not an address
    b'{"id": "e1", "ipv4": "fd00::2/64"}',         # the wrong family
    b'{"id": "e1", "routes": [5]}',                # not text
    b'{"id": "e1", "identity": [1, 2, 3]}',
    b'{"ipv4": "10.0.0.1/8"}',                     # a required field missing
    b'not json',
])
def test_bad_records_raise_a_typed_error(body: bytes) -> None:
    with pytest.raises(codec.BadRecord):
        codec.decode(body, TypedEndpoint)


def test_model_records_round_trip() -> None:
    for record in (network(), endpoint(), sandbox(), task_endpoint()):
        assert codec.decode(codec.encode(record), type(record)) == record


def task_endpoint() -> EndpointRecord:
    return dataclasses.replace(endpoint("e2"), service=ServiceBinding(
        service_id="svc1", service_name="web", vip=IPv4Interface("10.0.1.2/24"), aliases=("www", "front"),
        ingress_ports=(IngressPort("tcp", 8080, 80), IngressPort("udp", 5353, 53))))


def test_a_task_endpoints_service_binding_round_trips() -> None:
    for binding in (task_endpoint().service, ServiceBinding("svc2", "db", "dnsrr")):
        record = dataclasses.replace(task_endpoint(), service=binding)
        data = codec.encode(record)
        back = codec.decode(data, EndpointRecord)
        assert back == record and back.service is not None
        assert type(back.service.aliases) is tuple and type(back.service.ingress_ports) is tuple
    body = json.loads(codec.encode(task_endpoint()))
    assert body["service"]["vip"] == "10.0.1.2/24"
    assert body["service"]["ingress_ports"][1] == {"protocol": "udp", "published": 5353, "target": 53}


def test_an_endpoint_stored_before_service_bindings_loads_without_one() -> None:
    old = json.loads(codec.encode(endpoint()))
    del old["service"]
    record = codec.decode(json.dumps(old), EndpointRecord)
    assert record == endpoint() and record.service is None


@pytest.mark.parametrize("service", [
    {"service_id": "", "service_name": "web"},                                    # its own checks
    {"service_id": "s", "service_name": "web", "endpoint_mode": "dnsrr", "vip": "10.0.1.2/24"},
    {"service_id": "s", "service_name": "web", "vip": "fd00::2/64"},             # not IPv4
    {"service_id": "s", "service_name": "web", "ingress_ports": [{"protocol": "sctp", "published": 1, "target": 1}]},
    {"service_id": "s", "service_name": "web", "ingress_ports": [[1, 2]]},
    {"service_name": "web"},
])
def test_a_bad_stored_binding_is_a_bad_record(service: dict[str, Any]) -> None:
    body = {**json.loads(codec.encode(endpoint())), "service": service}
    with pytest.raises(codec.BadRecord):
        codec.decode(json.dumps(body), EndpointRecord)


def test_a_union_it_cannot_tell_apart_is_refused_at_once() -> None:
    @dataclass
    class Mixed:
        where: IPv4Address | IPv4Network

    with pytest.raises(TypeError, match="mixes"):
        codec.decode(b'{"where": "10.0.0.1"}', Mixed)


# -- the etcd store beside the contract ------------------------------------------------

@pytest.mark.etcd
def test_the_etcd_store_is_global_and_keeps_to_its_prefix(etcd_member: EtcdMember) -> None:
    async def scenario() -> None:
        ours = EtcdKV(await etcd_member.client(), prefix="/ours/")
        theirs = EtcdKV(await etcd_member.client(), prefix="/theirs/")
        try:
            assert ours.scope is Scope.GLOBAL
            await ours.put("network/n1", b"1")
            await theirs.put("network/n2", b"2")
            assert [e.key for e in (await ours.list("")).entries] == ["network/n1"]
            raw = await etcd_member.client()
            try:
                got = await raw.get(b"/ours/network/n1")
                assert got is not None and got.value == b"1"
            finally:
                await raw.close()
        finally:
            await ours.close()
            await theirs.close()

    run(scenario())


@pytest.mark.etcd
def test_an_unreachable_etcd_is_unavailable_within_the_timeout() -> None:
    async def scenario() -> None:
        kv = EtcdKV(EtcdClient(f"127.0.0.1:{free_tcp_port()}"), timeout=0.5)
        try:
            for call in (kv.get("k"), kv.put("k", b""), kv.cas("k", b"", 0), kv.list("")):
                with pytest.raises(StoreUnavailable):
                    await asyncio.wait_for(call, 3)
            with pytest.raises(StoreUnavailable):
                async with kv.watch(""):
                    pass
        finally:
            await kv.close()

    run(scenario())
