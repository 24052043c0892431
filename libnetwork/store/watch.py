"""Watches of a store that lives in this process (SQLite, memory).

The store calls ``WatchHub.publish`` once per committed change, in revision
order, from whichever thread committed it; each subscriber gets its own
buffer, so a slow one never holds up the writer or the other subscribers.
The hub keeps the last ``history`` changes so that a watch can start from a
recent revision (list, then watch from ``listing.revision + 1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from types import TracebackType

from .api import Compacted, WatchEvent

# A subscriber this far behind is cut off with Compacted rather than let
# its buffer grow without bound.
MAX_PENDING = 10_000


class _Subscriber:
    def __init__(self, prefix: str, loop: asyncio.AbstractEventLoop, max_pending: int):
        self.prefix = prefix
        self.loop = loop
        self.max_pending = max_pending
        # Appended under the hub's lock by the writer's thread, popped by the
        # loop: one deque keeps revision order whichever thread wrote.
        self.pending: deque[WatchEvent] = deque()
        self.lost = False
        self.closed = False
        self.waiter: asyncio.Future[None] | None = None

    def deliver(self, event: WatchEvent) -> None:
        if self.lost:
            return
        if len(self.pending) >= self.max_pending:
            self.lost = True
            self.pending.clear()
        else:
            self.pending.append(event)
        self.notify()

    def notify(self) -> None:
        if asyncio._get_running_loop() is self.loop:
            self.wake()
        else:
            # A watcher whose loop has ended is simply not woken.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.wake)

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class WatchHub:
    def __init__(self, revision: int, history: int = 1024, max_pending: int = MAX_PENDING):
        self._lock = threading.Lock()
        self._subscribers: list[_Subscriber] = []
        self._history: deque[WatchEvent] = deque()
        self._history_size = history
        self._max_pending = max_pending
        # Changes up to this revision can no longer be replayed.
        self._compacted = revision
        self._closed = False

    def publish(self, event: WatchEvent) -> None:
        with self._lock:
            self._history.append(event)
            if len(self._history) > self._history_size:
                self._compacted = self._history.popleft().revision
            for sub in self._subscribers:
                if event.key.startswith(sub.prefix):
                    sub.deliver(event)

    def subscribe(self, prefix: str, start_revision: int | None) -> _Subscriber:
        sub = _Subscriber(prefix, asyncio.get_running_loop(), self._max_pending)
        with self._lock:
            if self._closed:
                sub.closed = True
                return sub
            if start_revision is not None:
                if start_revision <= self._compacted:
                    raise Compacted(f"revision {start_revision} is compacted (kept from {self._compacted + 1})")
                sub.pending.extend(e for e in self._history
                                   if e.revision >= start_revision and e.key.startswith(prefix))
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for sub in self._subscribers:
                sub.closed = True
                sub.notify()
            self._subscribers.clear()


class LocalWatch:
    """``api.Watch`` over a ``WatchHub``."""

    def __init__(self, hub: WatchHub, prefix: str, start_revision: int | None):
        self._hub = hub
        self._prefix = prefix
        self._start_revision = start_revision
        self._sub: _Subscriber | None = None

    async def __aenter__(self) -> LocalWatch:
        self._sub = self._hub.subscribe(self._prefix, self._start_revision)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._sub is not None:
            self._hub.unsubscribe(self._sub)
            self._sub = None

    def __aiter__(self) -> LocalWatch:
        return self

    async def __anext__(self) -> WatchEvent:
        sub = self._sub
        if sub is None:
            raise RuntimeError("iterate a watch inside 'async with'")
        while True:
            if sub.pending:
                return sub.pending.popleft()
            if sub.lost:
                raise Compacted(f"watch of {self._prefix!r} fell {sub.max_pending} changes behind")
            if sub.closed:
                raise StopAsyncIteration
            sub.waiter = sub.loop.create_future()
            try:
                await sub.waiter
            finally:
                sub.waiter = None
