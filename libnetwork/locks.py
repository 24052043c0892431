"""Per-network and per-sandbox locks, so unrelated changes proceed at once.

A change holds the locks of the sandboxes and networks it touches, taken
together and in one global order (sandboxes before networks, each by ID), so
two requests can never wait on each other in a cycle.  Nothing takes a lock
while holding another set; a change that learns what it touches only after
looking (deleting a sandbox: which networks is it on?) looks, takes the
whole set, and checks again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable


def sandbox_key(sid: str) -> str:
    return f"0sandbox/{sid}"


def network_key(nid: str) -> str:
    return f"1network/{nid}"


def keys(sandboxes: Iterable[str] = (), networks: Iterable[str] = ()) -> tuple[str, ...]:
    return tuple(sorted({*map(sandbox_key, sandboxes), *map(network_key, networks)}))


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, *, sandboxes: Iterable[str] = (), networks: Iterable[str] = ()) -> AsyncIterator[None]:
        held: list[str] = []
        try:
            for key in keys(sandboxes, networks):
                lock = self._locks.setdefault(key, asyncio.Lock())
                self._waiters[key] = self._waiters.get(key, 0) + 1
                try:
                    await lock.acquire()
                except BaseException:
                    self._drop(key)
                    raise
                held.append(key)
            yield
        finally:
            for key in reversed(held):
                self._locks[key].release()
                self._drop(key)

    def _drop(self, key: str) -> None:
        self._waiters[key] -= 1
        # Locks of gone networks and sandboxes must not pile up.
        if not self._waiters[key]:
            del self._waiters[key], self._locks[key]
