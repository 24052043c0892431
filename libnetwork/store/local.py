"""What every store in this process shares: both surfaces of the contract over four primitives.

A subclass (SQLite, memory) implements ``_read``, ``_range``, ``_write`` and
``_remove``, each one atomic commit; this class turns them into the
synchronous ``RecordStore`` the controller calls, the async ``KVStore``
(``.kv``) the rest of the daemon shares with the etcd store, and the
watches, published after each commit in revision order.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterator
from typing import Any

from .. import model
from . import codec
from .api import (
    EventType,
    KeyNotFound,
    KeyValue,
    Listing,
    Record,
    RevisionMismatch,
    Scope,
    WatchEvent,
    kind_prefix,
    record_key,
)
from .watch import LocalWatch, WatchHub


class LocalStore(abc.ABC):
    def __init__(self, scope: Scope, revision: int):
        self.scope = scope
        # One operation at a time: a commit and its publication stay
        # together (watchers see revision order whichever thread wrote), and
        # a read never lands inside another thread's transaction.
        self._lock = threading.Lock()
        self._hub = WatchHub(revision)
        self.kv = LocalKV(self)

    # -- what a subclass provides ------------------------------------------

    @abc.abstractmethod
    def _read(self, key: str) -> KeyValue | None: ...

    @abc.abstractmethod
    def _range(self, prefix: str) -> Listing:
        """In creation order."""

    @abc.abstractmethod
    def _write(self, key: str, value: bytes, expect_revision: int | None) -> KeyValue:
        """One commit; raises ``RevisionMismatch`` (and writes nothing) when the compare fails."""

    @abc.abstractmethod
    def _remove(self, key: str, expect_revision: int | None) -> int:
        """One commit; answers its revision, 0 when the key was absent (nothing changed)."""

    @abc.abstractmethod
    def _close(self) -> None: ...

    def _items(self, prefix: str) -> list[tuple[str, bytes]]:
        """``_range`` without the revisions, for loading records in bulk; a subclass may make it cheaper."""
        return [(kv.key, kv.value) for kv in self._range(prefix).entries]

    # -- key-value, synchronous (LocalKV awaits nothing) -------------------------

    def get_key(self, key: str) -> KeyValue:
        with self._lock:
            kv = self._read(key)
        if kv is None:
            raise KeyNotFound(key)
        return kv

    def put_key(self, key: str, value: bytes, expect_revision: int | None = None) -> int:
        with self._lock:
            kv = self._write(key, value, expect_revision)
            self._hub.publish(WatchEvent(EventType.PUT, key, value, kv.mod_revision))
        return kv.mod_revision

    def delete_key(self, key: str, expect_revision: int | None = None) -> bool:
        with self._lock:
            revision = self._remove(key, expect_revision)
            if revision:
                self._hub.publish(WatchEvent(EventType.DELETE, key, None, revision))
        return bool(revision)

    def list_keys(self, prefix: str) -> Listing:
        with self._lock:
            return self._range(prefix)

    # -- records (api.RecordStore) -------------------------------------------

    def put(self, kind: str, record: Record) -> int:
        return self.put_key(record_key(kind, record.id), codec.encode(record))

    def delete(self, kind: str, record_id: str) -> None:
        self.delete_key(record_key(kind, record_id))

    def load(self, kind: str) -> Iterator[Any]:
        cls = model.RECORD_TYPES[kind]
        with self._lock:
            items = self._items(kind_prefix(kind))
        # Decoded up front: a caller may write while it walks the records.
        records: list[Any] = []
        for key, value in items:
            try:
                records.append(codec.decode(value, cls))
            except codec.BadRecord as err:
                raise codec.BadRecord(f"{key}: {err.message}") from err
        return iter(records)

    def close(self) -> None:
        self._hub.close()
        with self._lock:
            self._close()


class LocalKV:
    """``api.KVStore`` over a ``LocalStore``: each call is a local commit, so none awaits."""

    def __init__(self, store: LocalStore):
        self._store = store

    @property
    def scope(self) -> Scope:
        return self._store.scope

    async def get(self, key: str) -> KeyValue:
        return self._store.get_key(key)

    async def put(self, key: str, value: bytes) -> int:
        return self._store.put_key(key, value)

    async def cas(self, key: str, value: bytes, expect_revision: int) -> int:
        return self._store.put_key(key, value, expect_revision)

    async def delete(self, key: str, *, expect_revision: int | None = None) -> bool:
        return self._store.delete_key(key, expect_revision)

    async def list(self, prefix: str) -> Listing:
        return self._store.list_keys(prefix)

    def watch(self, prefix: str, *, start_revision: int | None = None) -> LocalWatch:
        return LocalWatch(self._store._hub, prefix, start_revision)

    async def close(self) -> None:
        self._store.close()


def check_revision(key: str, current: KeyValue | None, expect_revision: int | None) -> None:
    """The compare of a compare-and-swap, as etcd makes it (an absent key is at 0)."""
    if expect_revision is None:
        return
    actual = current.mod_revision if current is not None else 0
    if actual != expect_revision:
        raise RevisionMismatch(key, expect_revision, actual)


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (etcd's range_end); None: no bound.

    Strings compare by code point, which is UTF-8 byte order too, so this is
    the bound for SQLite's BINARY collation as well.
    """
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        if code <= 0x10FFFF:
            # Surrogates cannot be encoded; the next code point above them can.
            return prefix[:i] + chr(0xE000 if 0xD800 <= code <= 0xDFFF else code)
    return None
