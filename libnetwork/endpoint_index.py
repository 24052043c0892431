"""The controller's endpoints in memory, indexed by network and by sandbox.

Connect, disconnect, DNS and inspect ask "which endpoints are on this
network / in this sandbox" many times per request; answering from an index
keeps those requests as fast with a thousand endpoints as with one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .model import EndpointRecord


class EndpointIndex(Mapping[str, EndpointRecord]):
    """endpoint ID -> record, plus the endpoints of each network and of each sandbox."""

    def __init__(self) -> None:
        self._by_id: dict[str, EndpointRecord] = {}
        self._by_network: dict[str, dict[str, EndpointRecord]] = {}
        self._by_sandbox: dict[str, dict[str, EndpointRecord]] = {}

    def __getitem__(self, eid: str) -> EndpointRecord:
        return self._by_id[eid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, endpoint: EndpointRecord) -> None:
        self.discard(endpoint.id)
        self._by_id[endpoint.id] = endpoint
        self._by_network.setdefault(endpoint.network_id, {})[endpoint.id] = endpoint
        self._by_sandbox.setdefault(endpoint.sandbox_id, {})[endpoint.id] = endpoint

    def discard(self, eid: str) -> None:
        endpoint = self._by_id.pop(eid, None)
        if endpoint is None:
            return
        for index, key in ((self._by_network, endpoint.network_id), (self._by_sandbox, endpoint.sandbox_id)):
            group = index[key]
            del group[eid]
            if not group:
                del index[key]

    def in_network(self, nid: str) -> list[EndpointRecord]:
        """In the order they were added."""
        return list(self._by_network.get(nid, {}).values())

    def in_sandbox(self, sid: str) -> list[EndpointRecord]:
        """In connection order (eth0 first)."""
        return sorted(self._by_sandbox.get(sid, {}).values(), key=lambda e: e.created_seq)
