"""The core's event stream: networks and endpoints appearing and going, wherever they live.

Every change the controller commits is published here as a typed event, and
everything that reacts to topology subscribes instead of reading the
controller's records: the embedded DNS, the sandbox files, port publishing,
the ``/events`` API and the metrics; later the overlay's peer table and the
service load balancer.  An event carries a ``source``: ``LOCAL`` for this
host's own endpoints, or the ID of the node that owns it.  An endpoint that
arrives from another host (gossip, a bulk sync) is published on the same bus
with its node as source and takes the same path into DNS as a local one, as
Docker's agent turns its networkdb table events into endpoint state.

Delivery: ``publish`` awaits each subscriber in the order they subscribed,
one event at a time, so when the request that caused an event returns, every
subscriber has seen it (a connect answers only once its names resolve).  A
subscriber's failure is logged and never reaches the publisher: the change is
committed by then.  Subscribers must not publish from inside a callback.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from .service_binding import ServiceBinding

log = logging.getLogger("cnmd")

# The source of this host's own networks and endpoints.
LOCAL = "local"


@dataclass(frozen=True)
class NetworkRef:
    """What a subscriber needs to know of a network."""

    id: str
    name: str
    driver: str
    scope: str = "local"
    # The predefined networks (bridge, host, none) have no embedded DNS.
    predefined: bool = False
    internal: bool = False


@dataclass(frozen=True)
class EndpointRef:
    """An endpoint as it is seen from every host: addresses and names, no kernel handles."""

    id: str
    network_id: str
    # The sandbox (container) it belongs to; on its own host that sandbox is
    # a local record, elsewhere only an ID.
    sandbox_id: str
    name: str
    # Docker's DNSNames: name, aliases, short ID, hostname; the first answers PTR.
    dns_names: tuple[str, ...] = ()
    ipv4: ipaddress.IPv4Interface | None = None
    ipv6: ipaddress.IPv6Interface | None = None
    mac: str | None = None
    # Connection order inside its sandbox (eth0 first): the first network answers first.
    order: int = 0
    # A swarm task's endpoint: the service it is a backend of on this network.
    service: ServiceBinding | None = None


@dataclass(frozen=True)
class NetworkCreated:
    network: NetworkRef
    source: str = LOCAL
    time: float = field(default_factory=time.time)
    action: ClassVar[str] = "create"


@dataclass(frozen=True)
class NetworkRemoved:
    network: NetworkRef
    source: str = LOCAL
    time: float = field(default_factory=time.time)
    action: ClassVar[str] = "destroy"


@dataclass(frozen=True)
class EndpointJoined:
    """An endpoint is up on a network (a local connect, or one learnt from its owner)."""

    network: NetworkRef
    endpoint: EndpointRef
    source: str = LOCAL
    time: float = field(default_factory=time.time)
    # Replayed at start from the records, not a new connect (no user-visible event).
    restored: bool = False
    action: ClassVar[str] = "connect"


@dataclass(frozen=True)
class EndpointLeft:
    network: NetworkRef
    endpoint: EndpointRef
    source: str = LOCAL
    time: float = field(default_factory=time.time)
    # The sandbox goes too: nothing of it needs refreshing (names, files, ports).
    sandbox_leaving: bool = False
    action: ClassVar[str] = "disconnect"


Event = NetworkCreated | NetworkRemoved | EndpointJoined | EndpointLeft
EndpointEvent = EndpointJoined | EndpointLeft
Subscriber = Callable[[Event], Awaitable[None] | None]


class EventBus:
    """In-order delivery to subscribers; see the module docstring for the guarantees."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, tuple[type, ...]]] = []
        self._lock = asyncio.Lock()

    def subscribe(self, callback: Subscriber, *kinds: type) -> Callable[[], None]:
        """Call ``callback`` for every event (or those of ``kinds``); answers the unsubscribe."""
        entry = (callback, kinds)
        self._subscribers.append(entry)
        return lambda: self._subscribers.remove(entry) if entry in self._subscribers else None

    async def publish(self, event: Event) -> None:
        # One event at a time: two requests on unrelated networks publish
        # concurrently, and a subscriber must see each event whole.
        async with self._lock:
            for callback, kinds in list(self._subscribers):
                if kinds and not isinstance(event, kinds):
                    continue
                try:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception as err:  # committed already: a subscriber cannot undo it
                    log.exception("event subscriber failed", extra={
                        "event": type(event).__name__, "subscriber": getattr(callback, "__qualname__", repr(callback)),
                        "error": str(err)})
