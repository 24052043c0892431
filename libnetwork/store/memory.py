"""A store in memory, of either scope: for tests (a cluster's global store shared by simulated nodes)."""

from __future__ import annotations

from .api import KeyValue, Listing, Scope
from .local import LocalStore, check_revision


class MemoryStore(LocalStore):
    def __init__(self, scope: Scope = Scope.LOCAL):
        self._data: dict[str, KeyValue] = {}
        self._revision = 0
        super().__init__(scope, 0)

    def _read(self, key: str) -> KeyValue | None:
        return self._data.get(key)

    def _range(self, prefix: str) -> Listing:
        # A dict keeps insertion order, and a replaced key keeps its place:
        # creation order, as long as a deleted key is removed (it is).
        entries = tuple(kv for key, kv in self._data.items() if key.startswith(prefix))
        return Listing(entries, self._revision)

    def _write(self, key: str, value: bytes, expect_revision: int | None) -> KeyValue:
        current = self._data.get(key)
        check_revision(key, current, expect_revision)
        self._revision += 1
        if current is None:
            kv = KeyValue(key, value, self._revision, self._revision, 1)
        else:
            kv = KeyValue(key, value, current.create_revision, self._revision, current.version + 1)
        self._data[key] = kv
        return kv

    def _remove(self, key: str, expect_revision: int | None) -> int:
        check_revision(key, self._data.get(key), expect_revision)
        if self._data.pop(key, None) is None:
            return 0
        self._revision += 1
        return self._revision

    def _close(self) -> None:
        pass
