"""The store contract: what the daemon may ask of a key-value store, local or global.

Two implementations sit behind it: SQLite under ``--data-root`` for this
host's state (``Scope.LOCAL``), and etcd for the cluster's (``Scope.GLOBAL``,
next).  The contract is etcd v3's data model cut to what the daemon uses, so
the etcd store is a thin adapter and the SQLite store behaves the same:

* Keys are ``str`` (UTF-8 in etcd); a record lives at ``<kind>/<id>``
  (``record_key``), so ``kind_prefix(kind)`` lists one kind.  An
  implementation may root every key under a namespace of its own (etcd:
  a cluster prefix); callers never see it.  Values are ``bytes``: records go
  through ``libnetwork.store.codec``.
* One store-wide ``revision`` counter grows by one with every change (a put,
  or a delete of a key that exists); a delete of an absent key changes
  nothing.  Each key carries ``create_revision`` (when it was created),
  ``mod_revision`` (its last change) and ``version`` (changes since created),
  as etcd's ``mvccpb.KeyValue`` does.
* Compare-and-swap compares ``mod_revision``, etcd's ``Txn(Compare(
  ModRevision(key) == r), Put)``.  An absent key has ``mod_revision`` 0, so
  ``cas(key, value, 0)`` creates only when absent.  A failed compare raises
  ``RevisionMismatch`` carrying the key's current ``mod_revision``.
* ``list(prefix)`` answers the entries in creation order (etcd: sort by
  ``CREATE``, ascending) and the store revision it read at; to follow a
  prefix without a gap, list, then ``watch(prefix, start_revision=
  listing.revision + 1)``.
* ``watch`` delivers every change under a prefix, in revision order, one
  event per change.  With ``start_revision`` it first replays the changes
  from that revision on; when they are no longer kept (etcd compaction; the
  SQLite store keeps recent changes in memory, and sees only its own
  process's writes) it raises ``Compacted``, as it does when a consumer
  falls too far behind.  The answer to ``Compacted`` is always the same:
  list again and watch from the new listing.

Why two surfaces, an async ``KVStore`` and a sync ``RecordStore``: etcd is a
network round trip, so the contract every scope shares is async.  But the
controller writes its local records in the middle of a request, between
kernel steps, from its event loop thread (a record is written not-ready
first, then ready), and a local SQLite commit takes microseconds: an
``await`` there would buy nothing, would add a point where other requests
interleave, and would turn every record write in the controller into a
coroutine.  So local stores also offer ``RecordStore``, synchronous, by kind
and record, and both surfaces of one local store share its keys, revisions
and watchers (a record put is a ``KVStore`` change under
``record_key(kind, id)``).  Global state is never on that path: cluster
allocations are explicit async compare-and-swap loops.

Errors are those of ``libnetwork.errors`` (with their HTTP status), so an
API handler that lets one through answers correctly.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from ..errors import Conflict, NotFound, Unavailable


class Scope(enum.Enum):
    """Where state lives: this host only, or the whole cluster (Docker's datastore scopes)."""

    LOCAL = "local"
    GLOBAL = "global"


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@dataclass(frozen=True, slots=True)
class Listing:
    entries: tuple[KeyValue, ...]
    # The store revision the listing was read at (etcd's response header).
    revision: int


class EventType(enum.Enum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    key: str
    # The new value; None for a delete.
    value: bytes | None
    # The revision of this change (the key's new mod_revision for a put).
    revision: int


class KeyNotFound(NotFound):
    def __init__(self, key: str):
        super().__init__(f"no such key: {key}")
        self.key = key


class RevisionMismatch(Conflict):
    """A compare-and-swap lost: the key changed (or appeared, or went) since it was read."""

    def __init__(self, key: str, expected: int, actual: int):
        super().__init__(f"{key} is at revision {actual}, not {expected}")
        self.key = key
        self.expected = expected
        # The key's mod_revision now; 0 when absent.
        self.actual = actual


class Compacted(Conflict):
    """A watch cannot deliver every change it owes: list again, then watch from that listing."""


class StoreUnavailable(Unavailable):
    """The store cannot be reached (etcd without quorum); the operation may be retried."""


def record_key(kind: str, record_id: str) -> str:
    return f"{kind}/{record_id}"


def kind_prefix(kind: str) -> str:
    return f"{kind}/"


class Watch(Protocol):
    """A subscription to the changes under a prefix.

    ``async with store.watch(prefix) as events: async for event in events``.
    Entering subscribes (etcd: the watch is created on the server), so a
    change committed after ``__aenter__`` returns is delivered even when
    iteration starts later; leaving unsubscribes.  Iteration ends when the
    store closes; ``__anext__`` raises ``Compacted`` as described above.
    """

    async def __aenter__(self) -> Watch: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...

    def __aiter__(self) -> Watch: ...

    async def __anext__(self) -> WatchEvent: ...


class KVStore(Protocol):
    """The contract of every scope; see the module docstring for the semantics."""

    @property
    def scope(self) -> Scope: ...

    async def get(self, key: str) -> KeyValue:
        """Raises ``KeyNotFound``."""
        ...

    async def put(self, key: str, value: bytes) -> int:
        """Create or replace; answers the new revision."""
        ...

    async def cas(self, key: str, value: bytes, expect_revision: int) -> int:
        """Put only if the key's mod_revision is ``expect_revision`` (0: absent); raises ``RevisionMismatch``."""
        ...

    async def delete(self, key: str, *, expect_revision: int | None = None) -> bool:
        """Answers whether the key existed; with ``expect_revision``, as ``cas`` (absent is 0)."""
        ...

    async def list(self, prefix: str) -> Listing: ...

    def watch(self, prefix: str, *, start_revision: int | None = None) -> Watch: ...

    async def close(self) -> None: ...


class Record(Protocol):
    @property
    def id(self) -> str: ...


class RecordStore(Protocol):
    """The local stores' synchronous surface for the controller's records (see above for why).

    Each put and delete is one transaction: after a crash a record is either
    the old or the new one, never half of each.  ``load`` answers a kind's
    records in creation order, decoded to ``libnetwork.model.RECORD_TYPES``.
    """

    def put(self, kind: str, record: Record) -> int: ...

    def delete(self, kind: str, record_id: str) -> None: ...

    def load(self, kind: str) -> Iterator[Any]: ...

    def close(self) -> None: ...
