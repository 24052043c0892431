"""An in-memory ServiceBackend with dockerd's lookups, and an app serving the service routes over it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from libnetwork.api import services, swarm
from libnetwork.api.replies import json_reply
from libnetwork.api.server import errors_middleware
from libnetwork.cluster import servicespec
from libnetwork.cluster.servicerecords import AssignedPort, ServiceRecord, TaskNetwork, TaskRecord, VirtualIP
from libnetwork.errors import Conflict, InvalidParameter, NotFound

if TYPE_CHECKING:
    from libnetwork.cluster.swarm import Swarm

NODE_ID = "91ty66tyx7frwifupibt0q9nf"
INGRESS_ID = "zqz75lgwvn0wcnb1hzsu0zucw"
INGRESS_VIEW = {
    "ID": INGRESS_ID, "Version": {"Index": 6}, "CreatedAt": "2026-12-06T06:00:12.725607592Z",
    "UpdatedAt": "2026-12-06T06:00:12.734896415Z",
    "Spec": {"Name": "ingress", "Labels": {}, "DriverConfiguration": {}, "Ingress": True,
             "IPAMOptions": {"Driver": {}}, "Scope": "swarm"},
    "DriverState": {"Name": "overlay", "Options": {"com.docker.network.driver.overlay.vxlanid_list": "4096"}},
    "IPAMOptions": {"Driver": {"Name": "default"}, "Configs": [{"Subnet": "10.0.0.0/24", "Gateway": "10.0.0.1"}]},
}
NOW = "2026-12-06T06:00:40.395543117Z"


class FakeServices:
    def __init__(self) -> None:
        self.services: dict[str, tuple[ServiceRecord, int]] = {}
        self.tasks: dict[str, tuple[TaskRecord, int]] = {}
        self.revision = 10
        self.counter = 0

    def _next(self) -> int:
        self.revision += 1
        return self.revision

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:0>{25 - len(prefix)}}"

    def add(self, record: ServiceRecord) -> None:
        self.services[record.id] = (record, self._next())

    def add_task(self, task: TaskRecord) -> None:
        self.tasks[task.id] = (task, self._next())

    async def create_service(self, spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        spec = servicespec.fill_defaults(spec)
        intent = servicespec.parse_spec(spec)
        if any(r.spec["Name"] == intent.name for r, _ in self.services.values()):
            raise Conflict(servicespec.NAME_CONFLICT.format(name=intent.name))
        ingress = any(p.mode == "ingress" for p in intent.ports)
        record = ServiceRecord(
            id=self._id("svc"), created_at=NOW, updated_at=NOW, spec=spec,
            networks=[INGRESS_ID] if ingress else [],
            vips=[VirtualIP(network_id=INGRESS_ID, addr="10.0.0.3/24")] if ingress else [],
            ports=[AssignedPort(protocol=p.protocol, target=p.target, published=p.published or 30000, mode=p.mode)
                   for p in intent.ports])
        self.add(record)
        for slot in range(1, intent.replicas + 1):
            self.add_task(TaskRecord(id=self._id("task"), service_id=record.id, slot=slot, node_id=NODE_ID,
                                     created_at=NOW, updated_at=NOW, state="running", message="started",
                                     sandbox_id="d44a58849ae7", pid=6257,
                                     networks=[TaskNetwork(network_id=INGRESS_ID, addresses=["10.0.0.5/24"])]
                                     if ingress else []))
        return self.services[record.id]

    async def list_services(self) -> list[tuple[ServiceRecord, int]]:
        return list(self.services.values())

    async def find_service(self, reference: str) -> tuple[ServiceRecord, int]:
        found = list(self.services.values())
        for matches in ([p for p in found if p[0].id == reference],
                        [p for p in found if p[0].spec.get("Name") == reference],
                        [p for p in found if reference and p[0].id.startswith(reference)]):
            if len(matches) == 1:
                return matches[0]
        raise NotFound(servicespec.SERVICE_NOT_FOUND.format(reference=reference))

    async def update_service(self, reference: str, version: int, spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        record, current = await self.find_service(reference)
        if version != current:
            raise InvalidParameter(servicespec.OUT_OF_SEQUENCE)
        spec = servicespec.fill_defaults(spec)
        servicespec.parse_spec(spec)
        updated = ServiceRecord(id=record.id, created_at=record.created_at, updated_at=NOW, spec=spec,
                                previous_spec=record.spec, networks=record.networks, vips=record.vips,
                                ports=record.ports)
        self.add(updated)
        return self.services[record.id]

    async def remove_service(self, reference: str) -> None:
        record, _ = await self.find_service(reference)
        del self.services[record.id]
        self.tasks = {k: v for k, v in self.tasks.items() if v[0].service_id != record.id}

    async def list_tasks(self) -> list[tuple[TaskRecord, int]]:
        return list(self.tasks.values())

    async def find_task(self, reference: str) -> tuple[TaskRecord, int]:
        for task, version in self.tasks.values():
            if task.id == reference or task.id.startswith(reference):
                return task, version
        raise NotFound(servicespec.TASK_NOT_FOUND.format(reference=reference))

    def network_view(self, network_id: str) -> dict[str, Any] | None:
        return INGRESS_VIEW if network_id == INGRESS_ID else None


NODE = {"ID": NODE_ID, "Version": {"Index": 9}, "CreatedAt": NOW, "UpdatedAt": NOW,
        "Spec": {"Labels": {}, "Role": "manager", "Availability": "active"},
        "Description": {"Hostname": "vm", "Platform": {"Architecture": "x86_64", "OS": "linux"},
                        "Resources": {}, "Engine": {"EngineVersion": "0.1"}},
        "Status": {"State": "ready", "Addr": "10.99.0.1"}}


async def _ping(request: web.Request) -> web.Response:
    return web.Response(text="OK", headers={"API-Version": "1.45", "OSType": "linux", "Swarm": "active/manager"})


async def _version(request: web.Request) -> web.Response:
    return json_reply({"Version": "0.1", "ApiVersion": "1.45", "MinAPIVersion": "1.24", "Os": "linux"})


async def _info(request: web.Request) -> web.Response:
    return json_reply({"ID": "x", "Name": "vm", "Swarm": {"NodeID": NODE_ID, "LocalNodeState": "active",
                                                         "ControlAvailable": True}})


async def _nodes(request: web.Request) -> web.Response:
    return json_reply([NODE])


async def _node(request: web.Request) -> web.Response:
    if not NODE_ID.startswith(request.match_info["id"]):
        raise NotFound(f"node {request.match_info['id']} not found")
    return json_reply(NODE)


def build_app(backend: services.ServiceBackend, manager: bool = True) -> web.Application:
    """The service routes over ``backend`` plus the few others the docker CLI calls around them."""
    from libnetwork.errors import Unavailable

    def require_manager() -> None:
        if not manager:
            raise Unavailable(swarm.NOT_A_MANAGER)

    app = web.Application(middlewares=[errors_middleware])
    app[swarm.SWARM] = cast("Swarm", SimpleNamespace(require_manager=require_manager))
    app[services.SERVICES] = backend
    routes = [("GET", "/_ping", _ping), ("HEAD", "/_ping", _ping), ("GET", "/version", _version),
              ("GET", "/info", _info), ("GET", "/nodes", _nodes), ("GET", "/nodes/{id}", _node),
              *services.ROUTES]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/v{version:[0-9.]+}" + path, handler)
    return app
