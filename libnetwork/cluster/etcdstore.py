"""The store contract (``libnetwork.store.api``) over etcd: the cluster's global state.

The contract is etcd's data model cut down, so this is a thin adapter: a
key's revisions are etcd's, compare-and-swap is one transaction comparing
``mod_revision``, a listing is one range read sorted by creation revision,
and a watch is an etcd watch (``Compacted`` when its start is older than the
last compaction).

Every call is bounded (``timeout``) and asks for a leader, so a member cut
off from its quorum answers ``StoreUnavailable`` at once, and an unreachable
one within the timeout: a request handler never hangs on etcd.  A watch on a
member that loses its leader ends with ``StoreUnavailable``; the caller
lists again and watches anew, as after ``Compacted``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from types import TracebackType
from typing import Any, NoReturn, TypeVar

import aetcd
from aetcd import rpc

from libnetwork.cluster.etcd import REQUIRE_LEADER
from libnetwork.errors import Internal
from libnetwork.store.api import (
    Compacted,
    EventType,
    KeyNotFound,
    KeyValue,
    Listing,
    RevisionMismatch,
    Scope,
    StoreUnavailable,
    WatchEvent,
)
from libnetwork.store.local import prefix_end

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0


class EtcdKV:
    """``api.KVStore`` of scope GLOBAL, every key rooted under ``prefix``.

    It owns ``client`` (``EtcdMember.client()`` makes one that requires a
    leader): ``close`` closes it, which also ends every watch.
    """

    def __init__(self, client: aetcd.Client, prefix: str = "/cnm/", *, timeout: float = DEFAULT_TIMEOUT):
        if not prefix:
            raise ValueError("an etcd store needs a key prefix of its own")
        self._client = client
        self._prefix = prefix
        self._timeout = timeout
        self._closed = False

    @property
    def scope(self) -> Scope:
        return Scope.GLOBAL

    def _key(self, key: str) -> bytes:
        return (self._prefix + key).encode()

    def _range_end(self, prefix: str) -> bytes:
        end = prefix_end(self._prefix + prefix)
        assert end is not None  # the root prefix is never empty
        return end.encode()

    def _unroot(self, key: bytes) -> str:
        return key.decode()[len(self._prefix):]

    def _kv(self, kv: Any) -> KeyValue:
        return KeyValue(self._unroot(kv.key), kv.value, kv.create_revision, kv.mod_revision, kv.version)

    async def _call(self, stub: str, method: str, request: Any) -> Any:
        await self._client.connect()
        call = getattr(getattr(self._client, stub), method)
        return await _bounded(call(request, timeout=self._timeout, metadata=REQUIRE_LEADER), self._timeout)

    async def get(self, key: str) -> KeyValue:
        response = await self._call("kvstub", "Range", rpc.RangeRequest(key=self._key(key)))
        if not response.kvs:
            raise KeyNotFound(key)
        return self._kv(response.kvs[0])

    async def put(self, key: str, value: bytes) -> int:
        response = await self._call("kvstub", "Put", rpc.PutRequest(key=self._key(key), value=value))
        return int(response.header.revision)

    async def cas(self, key: str, value: bytes, expect_revision: int) -> int:
        success = rpc.RequestOp(request_put=rpc.PutRequest(key=self._key(key), value=value))
        response = await self._txn(key, expect_revision, success)
        return int(response.header.revision)

    async def delete(self, key: str, *, expect_revision: int | None = None) -> bool:
        request = rpc.DeleteRangeRequest(key=self._key(key))
        if expect_revision is None:
            response = await self._call("kvstub", "DeleteRange", request)
            return bool(response.deleted)
        response = await self._txn(key, expect_revision, rpc.RequestOp(request_delete_range=request))
        return bool(response.responses[0].response_delete_range.deleted)

    async def _txn(self, key: str, expect_revision: int, success: Any) -> Any:
        """``success`` if the key's mod_revision is ``expect_revision`` (etcd compares an absent key as 0);
        else the key is read in the same transaction, for the revision the mismatch reports."""
        compare = rpc.Compare(key=self._key(key), target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                              mod_revision=expect_revision)
        failure = rpc.RequestOp(request_range=rpc.RangeRequest(key=self._key(key)))
        response = await self._call("kvstub", "Txn",
                                    rpc.TxnRequest(compare=[compare], success=[success], failure=[failure]))
        if not response.succeeded:
            kvs = response.responses[0].response_range.kvs
            raise RevisionMismatch(key, expect_revision, kvs[0].mod_revision if kvs else 0)
        return response

    async def list(self, prefix: str) -> Listing:
        request = rpc.RangeRequest(key=self._key(prefix), range_end=self._range_end(prefix),
                                   sort_order=rpc.RangeRequest.ASCEND, sort_target=rpc.RangeRequest.CREATE)
        response = await self._call("kvstub", "Range", request)
        return Listing(tuple(self._kv(kv) for kv in response.kvs), int(response.header.revision))

    def watch(self, prefix: str, *, start_revision: int | None = None) -> EtcdWatch:
        return EtcdWatch(self, prefix, start_revision)

    async def close(self) -> None:
        self._closed = True
        await self._client.close()


class EtcdWatch:
    """``api.Watch`` over one etcd watch (aetcd multiplexes them on one stream per client)."""

    def __init__(self, store: EtcdKV, prefix: str, start_revision: int | None):
        self._store = store
        self._prefix = prefix
        self._start_revision = start_revision
        self._watch: aetcd.Watch | None = None
        self._events: AsyncIterator[aetcd.Event] | None = None

    async def __aenter__(self) -> EtcdWatch:
        store = self._store
        await store._client.connect()
        if self._start_revision is not None:
            await self._check_kept(self._start_revision)
        watch: aetcd.Watch = await _bounded(store._client.watch(
            store._key(self._prefix), range_end=store._range_end(self._prefix),
            start_revision=self._start_revision), store._timeout)
        self._watch, self._events = watch, aiter(watch)
        return self

    async def _check_kept(self, revision: int) -> None:
        """Raise ``Compacted`` now rather than at the first event, as the local stores do.

        etcd 3.4 creates a watch on a compacted revision and cancels it in its next message, so only a
        read at that revision tells in advance (a revision not yet reached is never compacted).
        """
        store = self._store
        request = rpc.RangeRequest(key=store._key(self._prefix), limit=1, count_only=True)
        head = await store._call("kvstub", "Range", request)
        if revision > head.header.revision:
            return
        # Compacted, when it is (etcd's OUT_OF_RANGE, "required revision has been compacted").
        await store._call("kvstub", "Range", rpc.RangeRequest(key=store._key(self._prefix), limit=1,
                                                              count_only=True, revision=revision))

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        watch, self._watch, self._events = self._watch, None, None
        # A closed client has dropped its watches with its stream (and aetcd's cancel would fail).
        if watch is not None and not self._store._closed:
            try:
                await asyncio.wait_for(watch.cancel(), self._store._timeout)
            except (aetcd.ClientError, rpc.AioRpcError, TimeoutError):
                pass  # the stream is gone already: nothing left to cancel

    def __aiter__(self) -> EtcdWatch:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._events is None:
            raise RuntimeError("iterate a watch inside 'async with'")
        try:
            event = await anext(self._events)
        except Exception as err:
            _reraise(err)
        kind = EventType.PUT if event.kind == aetcd.EventKind.PUT else EventType.DELETE
        kv = event.kv
        return WatchEvent(kind, self._store._unroot(kv.key), kv.value if kind is EventType.PUT else None,
                          kv.mod_revision)


async def _bounded(call: Awaitable[T], timeout: float) -> T:
    try:
        return await asyncio.wait_for(call, timeout)
    except Exception as err:
        _reraise(err)


def _reraise(err: Exception) -> NoReturn:
    translated = _translate(err)
    if translated is err:
        raise err
    raise translated from err


def _translate(err: Exception) -> Exception:
    """etcd's and gRPC's errors as the contract's: what is worth retrying is ``StoreUnavailable``."""
    if isinstance(err, aetcd.RevisionCompactedError):
        return Compacted(f"etcd history is compacted up to revision {err.compacted_revision}: list again")
    if isinstance(err, TimeoutError):
        return StoreUnavailable("etcd did not answer in time")
    if isinstance(err, rpc.AioRpcError):
        code, details = err.code(), err.details() or ""
        if code == rpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
            return Compacted(f"etcd: {details}: list again")
        if code in (rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.DEADLINE_EXCEEDED, rpc.StatusCode.CANCELLED):
            return StoreUnavailable(f"etcd unavailable: {details}")
        return Internal(f"etcd: {code.name}: {details}")
    if isinstance(err, (aetcd.ConnectionFailedError, aetcd.ConnectionTimeoutError, aetcd.WatchTimeoutError)):
        return StoreUnavailable(f"etcd unavailable: {err}")
    if isinstance(err, aetcd.ClientError):
        return Internal(f"etcd: {err}")
    return err
