"""Swarm services in the embedded DNS: task endpoints (local and remote) answer tasks.NAME, a VIP answers NAME.

Local tasks take the controller's path (their record, ``endpoint_ref``, the
resolver's ``publish``); remote ones the gossip's (an entry through the wire
format, ``_endpoint_ref``, the bus), so both paths are checked to agree.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from types import SimpleNamespace

from dnslib import QTYPE, DNSRecord

from libnetwork import events
from libnetwork.dns.answer import FORWARD, respond
from libnetwork.dns.api import EndpointNames, Membership, SandboxNames
from libnetwork.endpoint_gossip import _endpoint_ref
from libnetwork.endpoint_table import Entry
from libnetwork.endpoint_wire import decode_event, encode_event
from libnetwork.endpoints import endpoint_ref
from libnetwork.model import EndpointRecord, NetworkRecord, SandboxRecord
from libnetwork.networks import network_ref
from libnetwork.resolvers import SandboxResolvers, answered_names
from libnetwork.service_binding import ServiceBinding

FRONT_RECORD = NetworkRecord(id="f" * 64, name="front", driver="overlay", created="t", scope="swarm", ready=True)
FRONT = network_ref(FRONT_RECORD)
WEB = ServiceBinding("svc-web", "web", vip=ipaddress.IPv4Interface("10.0.0.100/24"), aliases=("www",))
DB = ServiceBinding("svc-db", "db", "dnsrr", aliases=("database",))
CLIENT = "c" * 64


@dataclass
class FakeController:
    """What SandboxResolvers reads of the controller for local sandboxes."""

    sandboxes: dict[str, SandboxRecord] = field(default_factory=dict)
    endpoints: dict[str, EndpointRecord] = field(default_factory=dict)
    networks: dict[str, NetworkRecord] = field(default_factory=lambda: {FRONT_RECORD.id: FRONT_RECORD})
    settings: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(resolv_conf="/nonexistent", dns=[]))

    def sandbox_endpoints(self, sid: str) -> list[EndpointRecord]:
        return [e for e in self.endpoints.values() if e.sandbox_id == sid]


class World:
    def __init__(self) -> None:
        self.ctl = FakeController()
        self.bus = events.EventBus()
        self.resolvers = SandboxResolvers(self.ctl)  # type: ignore[arg-type]
        # No namespaces in a unit test: local sandboxes publish their names without sockets.
        self.resolvers.wants_resolver = lambda sandbox: False  # type: ignore[method-assign]
        self.bus.subscribe(self.resolvers.on_endpoint, events.EndpointJoined, events.EndpointLeft)
        self.bus.subscribe(self.resolvers.on_network_removed, events.NetworkRemoved)
        # A plain sandbox on the network, asking.
        self.resolvers.resolver.update(SandboxNames(sid=CLIENT, memberships=(
            Membership(FRONT.id, FRONT.name, EndpointNames(("client",), ipaddress.IPv4Address("10.0.0.2"))),)))

    async def local_task(self, name: str, sid: str, ip: str, binding: ServiceBinding) -> EndpointRecord:
        sandbox = SandboxRecord(id=sid, name=name, hostname=sid[:12], created="t", netns_path="/p")
        endpoint = EndpointRecord(id="e" + sid[1:], network_id=FRONT.id, sandbox_id=sid, name=name,
                                  ipv4=ipaddress.IPv4Interface(f"{ip}/24"), ready=True, service=binding)
        self.ctl.sandboxes[sid], self.ctl.endpoints[endpoint.id] = sandbox, endpoint
        await self.bus.publish(events.EndpointJoined(FRONT, endpoint_ref(endpoint, sandbox)))
        return endpoint

    async def local_leaves(self, endpoint: EndpointRecord) -> None:
        del self.ctl.endpoints[endpoint.id]
        sandbox = self.ctl.sandboxes[endpoint.sandbox_id]
        await self.bus.publish(events.EndpointLeft(FRONT, endpoint_ref(endpoint, sandbox)))

    async def remote_task(self, node: str, name: str, sid: str, ip: str, binding: ServiceBinding) -> Entry:
        entry = Entry(network=FRONT.id, endpoint="e" + sid[1:], owner=node, version=1,
                      ip=ipaddress.IPv4Interface(f"{ip}/24"), ipv6=None, mac="02:42:0a:00:00:01",
                      vtep=ipaddress.ip_address("192.168.0.2"), name=name, aliases=(sid[:12],), sandbox=sid,
                      service=binding)
        received = decode_event(encode_event(entry))
        await self.bus.publish(events.EndpointJoined(FRONT, _endpoint_ref(received), source=node))
        return received

    async def remote_leaves(self, entry: Entry) -> None:
        await self.bus.publish(events.EndpointLeft(FRONT, _endpoint_ref(entry), source=entry.owner))

    def ask(self, name: str, qtype: str = "A", sid: str = CLIENT) -> list[str] | None:
        """The sorted answers to ``name``, or None when it is not ours (forwarded)."""
        view = self.resolvers.resolver.view(sid)
        assert view is not None
        response = respond(view.answers, DNSRecord.question(name, qtype).pack())
        if response is FORWARD:
            return None
        return sorted(str(rr.rdata) for rr in DNSRecord.parse(response).rr if rr.rtype == getattr(QTYPE, qtype))

    def orders(self, name: str) -> int:
        """How many answer orders the name rotates through (round robin when more than one)."""
        view = self.resolvers.resolver.view(CLIENT)
        question = bytes(DNSRecord.question(name).pack()[12:])
        assert view is not None
        return len(view.answers[question.lower()].variants)


def run(scenario) -> None:
    asyncio.run(scenario(World()))


def test_a_vip_service_name_answers_its_vip_and_tasks_name_every_task() -> None:
    async def scenario(world: World) -> None:
        local = await world.local_task("web.1.aaaa", "a" * 64, "10.0.0.11", WEB)
        remote = await world.remote_task("node-2", "web.2.bbbb", "b" * 64, "10.0.0.12", WEB)
        for name in ("web", "www", "web.front", "www.front"):
            assert world.ask(name) == ["10.0.0.100"], name
        assert world.ask("web", "AAAA") == []
        for name in ("tasks.web", "tasks.www", "tasks.web.front"):
            assert world.ask(name) == ["10.0.0.11", "10.0.0.12"], name
        assert world.orders("tasks.web") == 2
        # Each task's own names stay: task name, short sandbox ID (its hostname here).
        assert world.ask("web.1.aaaa") == ["10.0.0.11"] and world.ask("a" * 12) == ["10.0.0.11"]
        assert world.ask("web.2.bbbb") == ["10.0.0.12"] and world.ask("b" * 12) == ["10.0.0.12"]
        assert world.ask("100.0.0.10.in-addr.arpa", "PTR") == ["web.front."]
        assert world.ask("11.0.0.10.in-addr.arpa", "PTR") == ["web.1.aaaa.front."]
        assert world.ask("12.0.0.10.in-addr.arpa", "PTR") == ["web.2.bbbb.front."]
        # The task sees it as the client does.
        assert world.ask("web", sid="a" * 64) == ["10.0.0.100"]
        assert world.ask("tasks.web", sid="a" * 64) == ["10.0.0.11", "10.0.0.12"]

        await world.remote_leaves(remote)
        assert world.ask("tasks.web") == ["10.0.0.11"]
        assert world.ask("web.2.bbbb") is None and world.ask("12.0.0.10.in-addr.arpa", "PTR") is None
        assert world.ask("web") == ["10.0.0.100"], "one task left: the VIP stays"

        await world.local_leaves(local)
        for name in ("web", "www", "tasks.web", "web.1.aaaa"):
            assert world.ask(name) is None, name
        assert world.ask("100.0.0.10.in-addr.arpa", "PTR") is None
        await world.resolvers.close()
    run(scenario)


def test_the_vip_comes_with_a_remote_task_alone_and_goes_with_it() -> None:
    async def scenario(world: World) -> None:
        remote = await world.remote_task("node-2", "web.2.bbbb", "b" * 64, "10.0.0.12", WEB)
        assert world.ask("web") == ["10.0.0.100"]
        second = await world.remote_task("node-3", "web.3.cccc", "d" * 64, "10.0.0.13", WEB)
        await world.remote_leaves(remote)
        assert world.ask("web") == ["10.0.0.100"] and world.ask("tasks.web") == ["10.0.0.13"]
        await world.remote_leaves(second)
        assert world.ask("web") is None and world.ask("100.0.0.10.in-addr.arpa", "PTR") is None
        await world.resolvers.close()
    run(scenario)


def test_a_dnsrr_service_name_answers_every_task_in_turn() -> None:
    async def scenario(world: World) -> None:
        local = await world.local_task("db.1.aaaa", "a" * 64, "10.0.0.21", DB)
        first = await world.remote_task("node-2", "db.2.bbbb", "b" * 64, "10.0.0.22", DB)
        await world.remote_task("node-3", "db.3.cccc", "d" * 64, "10.0.0.23", DB)
        every = ["10.0.0.21", "10.0.0.22", "10.0.0.23"]
        for name in ("db", "database", "tasks.db", "tasks.database", "db.front"):
            assert world.ask(name) == every, name
        assert world.orders("db") == 6, "round robin over every order of three"
        # PTR of a task answers its own name, never the service's.
        assert world.ask("21.0.0.10.in-addr.arpa", "PTR") == ["db.1.aaaa.front."]

        await world.remote_leaves(first)
        assert world.ask("db") == ["10.0.0.21", "10.0.0.23"] and world.ask("db.2.bbbb") is None
        await world.local_leaves(local)
        assert world.ask("db") == ["10.0.0.23"] and world.ask("tasks.db") == ["10.0.0.23"]
        assert world.ask("db.1.aaaa") is None
        await world.resolvers.close()
    run(scenario)


def test_two_services_side_by_side_and_a_plain_endpoint_with_a_shared_alias() -> None:
    async def scenario(world: World) -> None:
        await world.local_task("web.1.aaaa", "a" * 64, "10.0.0.11", WEB)
        await world.remote_task("node-2", "db.2.bbbb", "b" * 64, "10.0.0.22", DB)
        assert world.ask("web") == ["10.0.0.100"] and world.ask("db") == ["10.0.0.22"]
        assert world.ask("tasks.web") == ["10.0.0.11"] and world.ask("tasks.db") == ["10.0.0.22"]
        await world.resolvers.close()
    run(scenario)


def test_a_removed_network_takes_its_vips_with_it() -> None:
    async def scenario(world: World) -> None:
        await world.remote_task("node-2", "web.2.bbbb", "b" * 64, "10.0.0.12", WEB)
        assert world.resolvers.resolver.view("service/" + FRONT.id + "/svc-web") is not None
        await world.bus.publish(events.NetworkRemoved(FRONT))
        assert world.resolvers.resolver.view("service/" + FRONT.id + "/svc-web") is None
        await world.resolvers.close()
    run(scenario)


def test_answered_names_are_one_computation_for_every_endpoint() -> None:
    own = ("web.1.aaaa", "alias", "aaaaaaaaaaaa")
    assert answered_names(own, None) == own
    assert answered_names(own, WEB) == (*own, "tasks.web", "tasks.www")
    assert answered_names(own, DB) == (*own, "tasks.db", "tasks.database", "db", "database")
    # A vip-mode binding without its VIP on this network answers the tasks, as Docker does.
    assert answered_names(own, ServiceBinding("s", "api"))[-1] == "api"
    assert answered_names(("db", "db"), DB) == ("db", "tasks.db", "tasks.database", "database")
