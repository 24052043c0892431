"""Docker's event log: this host's recent events in Docker's message shape, and live streams.

The log subscribes to the core's event bus and keeps the last 256 messages
(dockerd's ``eventsLimit``) for ``--since``/``--until`` replay; each open
``/events`` stream gets its own bounded queue of what follows.  Taking the
replay and opening the queue happen in one step on the event loop, so a
stream sees every event exactly once, as dockerd does under its mutex.

Only this host's own events are logged: dockerd reports an engine event on
the node where it happened (``scope: local``), and an endpoint learnt from
another node is that node's event, not ours.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from .events import LOCAL, EndpointJoined, EndpointLeft, Event, EventBus

log = logging.getLogger("cnmd.events")

# dockerd's eventsLimit (daemon/events/events.go).
RING_SIZE = 256
# dockerd's per-subscriber bufferSize: a reader further behind loses events.
QUEUE_SIZE = 1024

Message = dict[str, Any]


def time_ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)


def render(event: Event) -> Message:
    """The event as dockerd's events.Message (key order as Go encodes it)."""
    attributes = {"name": event.network.name, "type": event.network.driver}
    if isinstance(event, (EndpointJoined, EndpointLeft)):
        attributes["container"] = event.endpoint.sandbox_id
    nanos = time_ns(event.time)
    return {
        "Type": "network",
        "Action": event.action,
        # Go encodes a map with its keys sorted.
        "Actor": {"ID": event.network.id, "Attributes": dict(sorted(attributes.items()))},
        # Engine events are local scope whatever the network's scope (swarm ones come from the cluster).
        "scope": "local",
        "time": nanos // 1_000_000_000,
        "timeNano": nanos,
    }


class Stream:
    """One reader's queue of messages that arrive after it subscribed; None when the log ends it."""

    def __init__(self, log_: EventLog, include: Callable[[Message], bool], size: int):
        self._log = log_
        self.include = include
        self.limit = size
        # Unbounded so the end of the stream always fits; ``offer`` keeps the limit.
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.dropped = 0

    def offer(self, message: Message) -> None:
        if self.queue.qsize() >= self.limit:
            if not self.dropped:
                log.warning("events reader too slow, dropping events", extra={"queued": self.queue.qsize()})
            self.dropped += 1
            return
        self.queue.put_nowait(message)

    def end(self) -> None:
        self.queue.put_nowait(None)

    def close(self) -> None:
        self._log.unsubscribe(self)


class EventLog:
    def __init__(self, size: int = RING_SIZE, queue_size: int = QUEUE_SIZE):
        self._ring: deque[Message] = deque(maxlen=size)
        self._queue_size = queue_size
        self._streams: list[Stream] = []
        self._detach: Callable[[], None] | None = None

    def attach(self, bus: EventBus) -> None:
        self._detach = bus.subscribe(self.record)

    def detach(self) -> None:
        if self._detach is not None:
            self._detach()
            self._detach = None
        self.end_streams()

    def end_streams(self) -> None:
        """Tell every reader the stream is over (the daemon is stopping)."""
        for stream in list(self._streams):
            stream.end()

    @property
    def subscribers(self) -> int:
        return len(self._streams)

    def record(self, event: Event) -> None:
        if event.source != LOCAL:
            return
        message = render(event)
        self._ring.append(message)
        for stream in self._streams:
            if stream.include(message):
                stream.offer(message)

    def subscribe(self, since_ns: int | None, until_ns: int | None,
                  include: Callable[[Message], bool]) -> tuple[list[Message], Stream]:
        """The logged messages between ``since_ns`` and ``until_ns`` (none when neither is
        given, as dockerd), and a stream of those that come after."""
        replay: list[Message] = []
        if since_ns is not None or until_ns is not None:
            replay = [m for m in self._ring
                      if (since_ns is None or m["timeNano"] >= since_ns)
                      and (until_ns is None or m["timeNano"] <= until_ns) and include(m)]
        stream = Stream(self, include, self._queue_size)
        self._streams.append(stream)
        return replay, stream

    def unsubscribe(self, stream: Stream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)
