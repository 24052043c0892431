"""Which services each network has, and their backends, as the endpoint events tell it (local and remote alike).

A service exists on a network for as long as at least one endpoint bound to
it (``EndpointRef.service``) is known there, on this node or any other; it
is forgotten with the last one, as Docker's service records are when their
last task's entry goes.  Its binding is that of the endpoint that joined
last, so a service update (new aliases) shows as soon as one of its new tasks
is up.

Pure: it reads events and answers what they change, with no I/O.  The DNS
keeps one to hold each VIP's names; the controller keeps another
(``Controller.services``) for anyone who asks which bindings a network has.
A backend leaves by its key, whatever its leave event carries, so a
tombstone that lost its binding still removes it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from . import events
from .service_binding import ServiceBinding

BackendKey = tuple[str, str]
"""(source, endpoint ID): one backend, wherever it lives."""


@dataclass(frozen=True)
class Backend:
    network: events.NetworkRef
    service_id: str
    binding: ServiceBinding
    ipv4: ipaddress.IPv4Address | None


@dataclass
class ServiceState:
    """One service on one network: its current binding and every backend known."""

    network: events.NetworkRef
    binding: ServiceBinding
    backends: dict[BackendKey, Backend] = field(default_factory=dict)

    def addresses(self) -> list[ipaddress.IPv4Address]:
        """The backends' addresses, each once, in join order."""
        return list(dict.fromkeys(b.ipv4 for b in self.backends.values() if b.ipv4 is not None))


@dataclass(frozen=True)
class ServiceChange:
    """``added``: the service's first backend on the network; ``removed``: its last one left
    (``binding`` is the last it had); ``updated``: a backend came or went, or the binding changed
    (``previous`` is the binding before, equal to ``binding`` when only backends moved)."""

    kind: Literal["added", "updated", "removed"]
    network: events.NetworkRef
    service_id: str
    binding: ServiceBinding
    previous: ServiceBinding | None = None


class ServiceIndex:
    def __init__(self) -> None:
        # network ID -> service ID -> state
        self._services: dict[str, dict[str, ServiceState]] = {}
        # (network ID, backend key) -> the service it is a backend of there
        self._backends: dict[tuple[str, BackendKey], str] = {}

    # -- reading ----------------------------------------------------------------------------

    def bindings(self, nid: str) -> dict[str, ServiceBinding]:
        """Service ID -> binding, for every service known on the network."""
        return {sid: state.binding for sid, state in self._services.get(nid, {}).items()}

    def service(self, nid: str, service_id: str) -> ServiceState | None:
        return self._services.get(nid, {}).get(service_id)

    def networks(self) -> set[str]:
        """The networks with at least one service."""
        return set(self._services)

    # -- following the bus ------------------------------------------------------------------

    def on_event(self, event: events.Event) -> None:
        """An EventBus subscriber: follow every event (what changed is not needed)."""
        self.apply(event)

    def apply(self, event: events.Event) -> list[ServiceChange]:
        if isinstance(event, events.NetworkRemoved):
            return self.forget_network(event.network.id)
        if not isinstance(event, (events.EndpointJoined, events.EndpointLeft)) or event.network.predefined:
            return []
        nid, key = event.network.id, (event.source, event.endpoint.id)
        binding = event.endpoint.service if isinstance(event, events.EndpointJoined) else None
        if binding is not None and self._backends.get((nid, key)) == binding.service_id:
            # The same endpoint again (its entry updated, a restart's replay): one change, not a leave and a join.
            return self._join(event.network, key, event.endpoint, binding)
        changes = self._leave(nid, key)
        if binding is not None:
            changes += self._join(event.network, key, event.endpoint, binding)
        return changes

    def forget_network(self, nid: str) -> list[ServiceChange]:
        """The network is gone from this node: its services with it."""
        services = self._services.pop(nid, {})
        self._backends = {k: v for k, v in self._backends.items() if k[0] != nid}
        return [ServiceChange("removed", s.network, sid, s.binding) for sid, s in services.items()]

    # -- inside -----------------------------------------------------------------------------

    def _leave(self, nid: str, key: BackendKey) -> list[ServiceChange]:
        service_id = self._backends.pop((nid, key), None)
        if service_id is None:
            return []
        state = self._services[nid][service_id]
        del state.backends[key]
        if not state.backends:
            del self._services[nid][service_id]
            if not self._services[nid]:
                del self._services[nid]
            return [ServiceChange("removed", state.network, service_id, state.binding)]
        previous = state.binding
        state.binding = next(reversed(state.backends.values())).binding
        return [ServiceChange("updated", state.network, service_id, state.binding, previous)]

    def _join(self, network: events.NetworkRef, key: BackendKey, ref: events.EndpointRef,
              binding: ServiceBinding) -> list[ServiceChange]:
        nid, service_id = network.id, binding.service_id
        backend = Backend(network, service_id, binding, ref.ipv4.ip if ref.ipv4 is not None else None)
        self._backends[(nid, key)] = service_id
        state = self._services.setdefault(nid, {}).get(service_id)
        if state is None:
            self._services[nid][service_id] = ServiceState(network, binding, {key: backend})
            return [ServiceChange("added", network, service_id, binding)]
        previous = state.binding
        # Last joined, last in order: its binding is the service's now.
        state.backends.pop(key, None)
        state.backends[key] = backend
        state.binding, state.network = binding, network
        return [ServiceChange("updated", network, service_id, binding, previous)]
