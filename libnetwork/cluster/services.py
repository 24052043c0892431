"""Services as the managers keep them: the desired state in etcd, with their virtual IPs and ports.

This is the service API's backend (``api.services.ServiceBackend``).  A
create reads the spec once (``servicespec``), resolves its networks against
the swarm's definitions, assigns published ports and one virtual IP per
network (vip mode), and writes the record in one compare-and-swap; every
step is undone if a later one fails, so a refused create takes nothing.
Tasks are the orchestrator's (``orchestrator.py``); this module only reads
them, and records what the nodes report of their own (``report_task``).

Workers never read etcd: they reach the same functions through the cluster
port's manager calls (``tasks.assigned``, ``tasks.report``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from ..errors import CnmError, Conflict, Forbidden, Internal, InvalidParameter, NotFound
from ..ids import generate_id
from ..store.api import KeyNotFound, RevisionMismatch
from . import records, servicerecords, servicespec
from .ca import NodeIdentity
from .globalnets import GlobalNetwork, GlobalNetworks
from .servicerecords import AssignedPort, ServiceRecord, TaskNetwork, TaskRecord, VirtualIP
from .servicespec import ServiceIntent
from .swarm import Swarm

log = logging.getLogger("cnmd")

# swarmkit's dynamic range for published ports left at 0.
DYNAMIC_PORTS = range(30000, 32768)
INGRESS = "ingress"
_CAS_ATTEMPTS = 20


class Services:
    """Docker's service routes over etcd; ``changed`` wakes the orchestrator after every change."""

    def __init__(self, swarm: Swarm, allocator: Any, is_local_network: Callable[[str], bool] = lambda _term: False):
        """``allocator``: a coroutine function answering the swarm's ``GlobalNetworks`` (manager only);
        ``is_local_network``: whether a name or ID is one of this node's local-scope networks."""
        self.swarm = swarm
        self._allocator = allocator
        self._is_local_network = is_local_network
        self.changed = asyncio.Event()
        swarm.manager_calls["tasks.assigned"] = self._serve_assigned
        swarm.manager_calls["tasks.report"] = self._serve_report
        self._network_views: dict[str, dict[str, Any]] = {}
        # Names and published ports are checked, then written: one change at a time on this manager.
        self._writing = asyncio.Lock()

    # -- reading ----------------------------------------------------------------------------------

    async def list_services(self) -> list[tuple[ServiceRecord, int]]:
        self.swarm.require_manager()
        listing = await self.swarm.kv.list(servicerecords.SERVICE_PREFIX)
        return [(servicerecords.decode_service(e.value), e.mod_revision) for e in listing.entries]

    async def find_service(self, reference: str) -> tuple[ServiceRecord, int]:
        """By full ID, by name, then by unique ID prefix, as dockerd looks services up."""
        found = await self.list_services()
        for matches in ([p for p in found if p[0].id == reference],
                        [p for p in found if p[0].spec.get("Name") == reference],
                        [p for p in found if reference and p[0].id.startswith(reference)]):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise NotFound(f"service {reference} is ambiguous ({len(matches)} matches found)")
        raise NotFound(f"service {reference} not found")

    async def list_tasks(self) -> list[tuple[TaskRecord, int]]:
        self.swarm.require_manager()
        listing = await self.swarm.kv.list(servicerecords.TASK_PREFIX)
        return [(servicerecords.decode_task(e.value), e.mod_revision) for e in listing.entries]

    async def find_task(self, reference: str) -> tuple[TaskRecord, int]:
        found = await self.list_tasks()
        for matches in ([p for p in found if p[0].id == reference],
                        [p for p in found if reference and p[0].id.startswith(reference)]):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise NotFound(f"task {reference} is ambiguous ({len(matches)} matches found)")
        raise NotFound(f"task {reference} not found")

    def network_view(self, network_id: str) -> dict[str, Any] | None:
        return self._network_views.get(network_id)

    # -- create, update, remove ---------------------------------------------------------------------

    async def create_service(self, spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        self.swarm.require_manager()
        async with self._writing:
            return await self._create(spec)

    async def _create(self, spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        spec = servicespec.fill_defaults(spec)
        intent = servicespec.parse_spec(spec)
        existing = await self.list_services()
        if any(record.spec.get("Name") == intent.name for record, _ in existing):
            raise Conflict(servicespec.NAME_CONFLICT.format(name=intent.name))
        allocator: GlobalNetworks = await self._allocator()
        service_id = generate_id()[:25]
        async with contextlib.AsyncExitStack() as undo:
            networks, aliases = await self._resolve_networks(allocator, intent)
            ports = self._assign_ports(intent, service_id, [r for r, _ in existing])
            vips = await self._allocate_vips(allocator, intent, networks, undo)
            now = records.now_text()
            record = ServiceRecord(id=service_id, created_at=now, updated_at=now, spec=spec,
                                   networks=[n.id for n in networks], aliases=aliases, vips=vips, ports=ports)
            revision = await self.swarm.kv.cas(servicerecords.service_key(service_id),
                                               servicerecords.encode(record), 0)
            undo.pop_all()
        log.info("service created", extra={"service": intent.name, "id": service_id, "replicas": intent.replicas,
                                           "vips": [v.addr for v in vips]})
        self.changed.set()
        return record, revision

    async def update_service(self, reference: str, version: int, spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        self.swarm.require_manager()
        async with self._writing:
            return await self._update(reference, version, spec)

    async def _update(self, reference: str, version: int, spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        current, revision = await self.find_service(reference)
        if version != revision:
            raise Internal(servicespec.OUT_OF_SEQUENCE)
        spec = servicespec.fill_defaults(spec)
        intent = servicespec.parse_spec(spec)
        allocator: GlobalNetworks = await self._allocator()
        others = [r for r, _ in await self.list_services() if r.id != current.id]
        if any(other.spec.get("Name") == intent.name for other in others):  # a rename, as dockerd 20.10 allows
            raise Conflict(servicespec.NAME_CONFLICT.format(name=intent.name))
        async with contextlib.AsyncExitStack() as undo:
            networks, aliases = await self._resolve_networks(allocator, intent)
            ports = self._assign_ports(intent, current.id, others, keep=current.ports)
            kept = [v for v in current.vips if v.network_id in {n.id for n in networks}
                    and intent.endpoint_mode == "vip"]
            wanted = [n for n in networks if n.id not in {v.network_id for v in kept}]
            vips = kept + await self._allocate_vips(allocator, intent, wanted, undo)
            dropped = [v for v in current.vips if v not in kept]
            rerun = (_without_mode(spec) != _without_mode(current.spec) or ports != current.ports
                     or [n.id for n in networks] != current.networks)
            updated = msgspec.structs.replace(
                current, spec=spec, previous_spec=current.spec, updated_at=records.now_text(),
                spec_version=current.spec_version + (1 if rerun else 0),
                networks=[n.id for n in networks], aliases=aliases, vips=vips, ports=ports)
            try:
                revision = await self.swarm.kv.cas(servicerecords.service_key(current.id),
                                                   servicerecords.encode(updated), version)
            except RevisionMismatch:
                raise Internal(servicespec.OUT_OF_SEQUENCE) from None
            undo.pop_all()
        await self._release_vips(allocator, dropped)
        log.info("service updated", extra={"service": intent.name, "id": current.id, "replicas": intent.replicas})
        self.changed.set()
        return updated, revision

    async def remove_service(self, reference: str) -> None:
        self.swarm.require_manager()
        record, revision = await self.find_service(reference)
        if not await self.swarm.kv.delete(servicerecords.service_key(record.id), expect_revision=revision):
            raise Conflict(f"service {reference} changed while being removed; try again")
        await self._release_vips(await self._allocator(), record.vips)
        log.info("service removed", extra={"service": record.spec.get("Name"), "id": record.id})
        self.changed.set()

    # -- the pieces of a create ---------------------------------------------------------------------

    async def _resolve_networks(self, allocator: GlobalNetworks,
                                intent: ServiceIntent) -> tuple[list[GlobalNetwork], dict[str, list[str]]]:
        """The spec's networks as swarm definitions, ingress first when a port goes through the mesh,
        and the service's aliases on each."""
        found: list[GlobalNetwork] = []
        aliases: dict[str, list[str]] = {}
        if any(p.mode == "ingress" for p in intent.ports):
            found.append(await allocator.find(INGRESS))
        for target in intent.networks:
            try:
                network = await allocator.find(target.target)
            except NotFound:
                if self._is_local_network(target.target):
                    raise Forbidden(servicespec.NETWORK_LOCAL_SCOPE.format(network=target.target)) from None
                # dockerd answers 500 here
                raise Internal(servicespec.NETWORK_NOT_FOUND.format(network=target.target)) from None
            if network.ingress:
                raise InvalidParameter(servicespec.INGRESS_NOT_ATTACHABLE.format(network=target.target))
            if network.id not in {n.id for n in found}:
                found.append(network)
            if target.aliases:
                aliases.setdefault(network.id, []).extend(target.aliases)
        for network in found:
            self._network_views.setdefault(network.id, _network_view(network))
        return found, aliases

    def _assign_ports(self, intent: ServiceIntent, service_id: str, others: Iterable[ServiceRecord],
                      keep: Iterable[AssignedPort] = ()) -> list[AssignedPort]:
        """Published ports: a port the mesh publishes is the cluster's, so two services cannot share one."""
        taken: dict[tuple[str, int], ServiceRecord] = {}
        for other in others:
            for used in other.ports:
                if used.mode == "ingress":
                    taken[(used.protocol, used.published)] = other
        before = {(p.protocol, p.target, p.mode): p.published for p in keep}
        assigned: list[AssignedPort] = []
        for port in intent.ports:
            published = port.published or before.get((port.protocol, port.target, port.mode), 0)
            if port.mode == "ingress" and published == 0:
                published = next((n for n in DYNAMIC_PORTS if (port.protocol, n) not in taken), 0)
                if published == 0:
                    raise Forbidden(servicespec.NO_DYNAMIC_PORT)
            if port.mode == "ingress":
                holder = taken.get((port.protocol, published))
                if holder is not None:
                    raise InvalidParameter(servicespec.PORT_IN_USE.format(
                        port=published, service=holder.spec.get("Name"), id=holder.id))
                taken[(port.protocol, published)] = ServiceRecord(
                    id=service_id, created_at="", updated_at="", spec={"Name": intent.name})
            assigned.append(AssignedPort(protocol=port.protocol, target=port.target, published=published,
                                         mode=port.mode))
        return assigned

    async def _allocate_vips(self, allocator: GlobalNetworks, intent: ServiceIntent, networks: list[GlobalNetwork],
                             undo: contextlib.AsyncExitStack) -> list[VirtualIP]:
        if intent.endpoint_mode != "vip":
            return []
        vips = []
        for network in networks:
            try:
                address = await allocator.allocate_address(network.id)
            except CnmError as err:
                raise type(err)(servicespec.VIP_FAILED.format(network=network.name, error=err.message)) from None
            undo.push_async_callback(allocator.release_address, network.id, address)
            vips.append(VirtualIP(network_id=network.id, addr=address))
        return vips

    async def _release_vips(self, allocator: GlobalNetworks, vips: Iterable[VirtualIP]) -> None:
        for vip in vips:
            try:
                await allocator.release_address(vip.network_id, vip.addr)
            except CnmError as err:
                log.warning("releasing a virtual IP failed", extra={"vip": vip.addr, "error": err.message})

    # -- tasks, as their nodes see them -----------------------------------------------------------------

    async def assigned(self, node_id: str) -> dict[str, Any]:
        """What a node runs: its tasks and their services, and the network definitions they use."""
        tasks = [t for t, _ in await self.list_tasks() if t.node_id == node_id]
        services = {r.id: r for r, _ in await self.list_services()}
        wanted = {s.id: s for s in services.values() if s.id in {t.service_id for t in tasks}}
        return {"tasks": msgspec.to_builtins(tasks), "services": msgspec.to_builtins(list(wanted.values()))}

    async def report_task(self, node_id: str, report: dict[str, Any]) -> None:
        """A node's news of its own task: its state and what it made (sandbox, process, addresses)."""
        task_id = str(report.get("id", ""))
        for _ in range(_CAS_ATTEMPTS):
            try:
                entry = await self.swarm.kv.get(servicerecords.task_key(task_id))
            except KeyNotFound:
                return  # removed meanwhile: nothing to record
            task = servicerecords.decode_task(entry.value)
            if task.node_id != node_id:
                raise Forbidden(f"task {task_id} is not assigned to node {node_id}")
            networks = [TaskNetwork(network_id=str(n["network_id"]), addresses=[str(a) for a in n["addresses"]])
                        for n in report.get("networks", [])]
            updated = msgspec.structs.replace(
                task, state=str(report.get("state", task.state)), message=str(report.get("message", task.message)),
                err=str(report.get("err", "")), sandbox_id=str(report.get("sandbox_id", task.sandbox_id)),
                pid=int(report.get("pid", task.pid)), exit_code=int(report.get("exit_code", task.exit_code)),
                networks=networks or task.networks)
            if updated == task:
                return  # nothing new: no write, no wake-up of the orchestrator
            updated = msgspec.structs.replace(updated, updated_at=records.now_text())
            try:
                await self.swarm.kv.cas(servicerecords.task_key(task_id), servicerecords.encode(updated),
                                        entry.mod_revision)
                self.changed.set()
                return
            except RevisionMismatch:
                continue

    async def _serve_assigned(self, caller: NodeIdentity, body: dict[str, Any]) -> dict[str, Any]:
        return await self.assigned(caller.node_id)

    async def _serve_report(self, caller: NodeIdentity, body: dict[str, Any]) -> dict[str, Any]:
        await self.report_task(caller.node_id, body)
        return {}


def _without_mode(spec: dict[str, Any]) -> dict[str, Any]:
    """What a task runs: a scale changes only the Mode."""
    return {key: value for key, value in spec.items() if key != "Mode"}


def _network_view(network: GlobalNetwork) -> dict[str, Any]:
    """The part of Docker's network object a task's NetworksAttachments shows."""
    return {
        "ID": network.id,
        "Spec": {"Name": network.name, "Labels": dict(network.labels),
                 "DriverConfiguration": {"Name": network.driver},
                 "Attachable": network.attachable, "Ingress": network.ingress,
                 "IPAMOptions": {"Driver": {"Name": "default"},
                                 "Configs": [{"Subnet": s.subnet, "Gateway": s.gateway} for s in network.subnets]},
                 "Scope": "swarm"},
        "DriverState": {"Name": network.driver, "Options": network.driver_options()},
        "IPAMOptions": {"Driver": {"Name": "default"},
                        "Configs": [{"Subnet": s.subnet, "Gateway": s.gateway} for s in network.subnets]},
    }
