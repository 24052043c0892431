"""An endpoint announced by another host reaches a local sandbox's DNS view through the event bus, and leaves it."""

from __future__ import annotations

import asyncio
import ipaddress
from types import SimpleNamespace

from libnetwork import events
from libnetwork.dns.api import EndpointNames, Membership, SandboxNames
from libnetwork.dns.zone import A_IN, encode_name
from libnetwork.resolvers import SandboxResolvers

FRONT = events.NetworkRef(id="nid-front", name="front", driver="overlay", scope="swarm")
BACK = events.NetworkRef(id="nid-back", name="back", driver="overlay", scope="swarm")


def remote(network: events.NetworkRef, eid: str, names: tuple[str, ...], ip: str, order: int = 0,
           sandbox: str = "sid-remote") -> events.EndpointRef:
    return events.EndpointRef(id=eid, network_id=network.id, sandbox_id=sandbox, name=names[0], dns_names=names,
                              ipv4=ipaddress.IPv4Interface(f"{ip}/24"), order=order)


def addresses(resolvers: SandboxResolvers, sid: str, name: str) -> list[str] | None:
    view = resolvers.resolver.view(sid)
    wire = encode_name(name)
    assert view is not None and wire is not None
    answer = view.answers.get(wire.lower() + A_IN)
    if answer is None:
        return None
    return sorted(str(ipaddress.IPv4Address(r[-4:])) for r in _records(answer.variants[0]))


def _records(wire: bytes) -> list[bytes]:
    # Each A record is a compressed pointer, type, class, TTL, length 4 and the address: 16 bytes.
    return [wire[i:i + 16] for i in range(0, len(wire), 16)]


async def scenario() -> None:
    bus = events.EventBus()
    resolvers = SandboxResolvers(SimpleNamespace(sandboxes={}))  # type: ignore[arg-type]
    bus.subscribe(resolvers.on_endpoint, events.EndpointJoined, events.EndpointLeft)
    # A local sandbox on "front" (as the controller describes it after its connect).
    resolvers.resolver.update(SandboxNames(sid="sid-local", memberships=(
        Membership(FRONT.id, FRONT.name, EndpointNames(("web",), ipaddress.IPv4Address("10.0.0.2"))),)))
    assert addresses(resolvers, "sid-local", "db") is None

    db = remote(FRONT, "eid-db", ("db", "database"), "10.0.0.7")
    await bus.publish(events.EndpointJoined(FRONT, db, source="node-2"))
    assert addresses(resolvers, "sid-local", "db") == ["10.0.0.7"]
    assert addresses(resolvers, "sid-local", "database") == ["10.0.0.7"]
    assert addresses(resolvers, "sid-local", "db.front") == ["10.0.0.7"]

    # The same remote sandbox on a network the local one is not on: not visible here.
    await bus.publish(events.EndpointJoined(BACK, remote(BACK, "eid-db-back", ("db",), "10.1.0.7", order=1),
                                            source="node-2"))
    assert addresses(resolvers, "sid-local", "db") == ["10.0.0.7"]

    # A second remote endpoint with the same alias: round robin over both.
    await bus.publish(events.EndpointJoined(FRONT, remote(FRONT, "eid-db2", ("db2", "database"), "10.0.0.8",
                                                          sandbox="sid-other"), source="node-3"))
    assert addresses(resolvers, "sid-local", "database") == ["10.0.0.7", "10.0.0.8"]

    await bus.publish(events.EndpointLeft(FRONT, db, source="node-2"))
    assert addresses(resolvers, "sid-local", "db") is None
    assert addresses(resolvers, "sid-local", "database") == ["10.0.0.8"]
    await resolvers.close()


def test_remote_endpoint_appears_in_dns_and_leaves() -> None:
    asyncio.run(scenario())
