"""The services each network has, counted from endpoint events of every source."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from libnetwork import events
from libnetwork.service_binding import ServiceBinding
from libnetwork.service_index import ServiceIndex

NET = events.NetworkRef(id="n1", name="front", driver="overlay", scope="swarm")
OTHER = events.NetworkRef(id="n2", name="back", driver="overlay", scope="swarm")
WEB = ServiceBinding("svc-web", "web", vip=ipaddress.IPv4Interface("10.0.0.100/24"))


def ref(eid: str, ip: str, binding: ServiceBinding | None = WEB, network: events.NetworkRef = NET
        ) -> events.EndpointRef:
    return events.EndpointRef(id=eid, network_id=network.id, sandbox_id="s-" + eid, name=eid,
                              ipv4=ipaddress.IPv4Interface(f"{ip}/24"), service=binding)


def joined(eid: str, ip: str, source: str = events.LOCAL, **kw) -> events.EndpointJoined:
    endpoint = ref(eid, ip, **kw)
    network = NET if endpoint.network_id == NET.id else OTHER
    return events.EndpointJoined(network, endpoint, source=source)


def left(eid: str, source: str = events.LOCAL, binding: ServiceBinding | None = WEB) -> events.EndpointLeft:
    return events.EndpointLeft(NET, ref(eid, "10.0.0.1", binding), source=source)


def kinds(changes) -> list[tuple[str, str]]:
    return [(c.kind, c.service_id) for c in changes]


def test_first_backend_adds_the_service_and_the_last_removes_it() -> None:
    index = ServiceIndex()
    assert kinds(index.apply(joined("e1", "10.0.0.11"))) == [("added", "svc-web")]
    assert kinds(index.apply(joined("e2", "10.0.0.12", source="node-2"))) == [("updated", "svc-web")]
    state = index.service("n1", "svc-web")
    assert state is not None and state.addresses() == [ipaddress.IPv4Address(a) for a in ("10.0.0.11", "10.0.0.12")]
    assert index.bindings("n1") == {"svc-web": WEB} and index.networks() == {"n1"}
    assert kinds(index.apply(left("e1"))) == [("updated", "svc-web")]
    # The same endpoint ID from another source is another backend: nothing to remove here.
    assert index.apply(left("e2")) == []
    assert kinds(index.apply(left("e2", source="node-2"))) == [("removed", "svc-web")]
    assert index.bindings("n1") == {} and index.networks() == set() and index.service("n1", "svc-web") is None


def test_a_leave_without_its_binding_still_removes_the_backend() -> None:
    index = ServiceIndex()
    index.apply(joined("e1", "10.0.0.11", source="node-2"))
    [change] = index.apply(left("e1", source="node-2", binding=None))
    assert change.kind == "removed" and change.binding == WEB


def test_endpoints_without_a_binding_and_predefined_networks_are_not_services() -> None:
    index = ServiceIndex()
    assert index.apply(joined("e1", "10.0.0.11", binding=None)) == []
    bridge = events.NetworkRef(id="b", name="bridge", driver="bridge", predefined=True)
    assert index.apply(events.EndpointJoined(bridge, ref("e2", "172.17.0.2"))) == []
    assert index.networks() == set()


def test_a_rejoin_is_one_update_and_the_last_joined_binding_wins() -> None:
    index = ServiceIndex()
    index.apply(joined("e1", "10.0.0.11"))
    [again] = index.apply(joined("e1", "10.0.0.11"))
    assert again.kind == "updated" and again.previous == again.binding == WEB
    updated = replace(WEB, aliases=("www",))
    [change] = index.apply(joined("e2", "10.0.0.12", binding=updated))
    assert change.kind == "updated" and change.previous == WEB and change.binding == updated
    # The newest task leaves: the service falls back to what the remaining one says.
    [change] = index.apply(left("e2"))
    assert change.binding == WEB and change.previous == updated


def test_an_endpoint_moving_to_another_service_leaves_the_first() -> None:
    index = ServiceIndex()
    index.apply(joined("e1", "10.0.0.11"))
    other = ServiceBinding("svc-api", "api", vip=ipaddress.IPv4Interface("10.0.0.101/24"))
    assert kinds(index.apply(joined("e1", "10.0.0.11", binding=other))) == [("removed", "svc-web"),
                                                                            ("added", "svc-api")]


def test_services_are_per_network_and_go_with_their_network() -> None:
    index = ServiceIndex()
    index.apply(joined("e1", "10.0.0.11"))
    index.apply(joined("e2", "10.1.0.11", network=OTHER))
    assert index.networks() == {"n1", "n2"}
    assert kinds(index.apply(events.NetworkRemoved(NET))) == [("removed", "svc-web")]
    assert index.networks() == {"n2"}
    # Its endpoints' late leaves change nothing any more.
    assert index.apply(left("e1")) == []
    assert kinds(index.apply(joined("e1", "10.0.0.11"))) == [("added", "svc-web")]
