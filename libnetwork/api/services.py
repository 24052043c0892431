"""Docker's service and task routes over a ``ServiceBackend`` (the managers' service store).

The routes parse and answer; the backend owns the records, their versions
and every refusal that needs the cluster's state (texts in
``cluster.servicespec``).  A node that is no manager answers dockerd's 503,
before anything else is read.  Shapes: docs/reference/services-api.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from ..errors import InvalidParameter, NotImplementedByDriver, Unavailable
from . import serviceviews
from .replies import json_reply, query_flag, read_json
from .swarm import SWARM

if TYPE_CHECKING:
    from ..cluster.servicerecords import ServiceRecord, TaskRecord


class ServiceBackend(Protocol):
    """What the routes need of the service store; every method raises ``libnetwork.errors`` types."""

    async def create_service(self, spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        """Store a new service (``spec`` as posted); the record and its version."""

    async def list_services(self) -> list[tuple[ServiceRecord, int]]: ...

    async def find_service(self, reference: str) -> tuple[ServiceRecord, int]:
        """By ID, unique ID prefix or name; ``NotFound`` otherwise."""

    async def update_service(self, reference: str, version: int,
                             spec: dict[str, Any]) -> tuple[ServiceRecord, int]: ...

    async def remove_service(self, reference: str) -> None: ...

    async def list_tasks(self) -> list[tuple[TaskRecord, int]]: ...

    async def find_task(self, reference: str) -> tuple[TaskRecord, int]: ...

    def network_view(self, network_id: str) -> dict[str, Any] | None:
        """Docker's network JSON for a task's NetworksAttachments, if known."""


class NoServices:
    """The backend of an app built without one (tests of other routes): managers get 503 anyway first."""

    def _absent(self) -> Unavailable:
        return Unavailable("services are not available on this daemon")

    async def create_service(self, spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        raise self._absent()

    async def list_services(self) -> list[tuple[ServiceRecord, int]]:
        raise self._absent()

    async def find_service(self, reference: str) -> tuple[ServiceRecord, int]:
        raise self._absent()

    async def update_service(self, reference: str, version: int,
                             spec: dict[str, Any]) -> tuple[ServiceRecord, int]:
        raise self._absent()

    async def remove_service(self, reference: str) -> None:
        raise self._absent()

    async def list_tasks(self) -> list[tuple[TaskRecord, int]]:
        raise self._absent()

    async def find_task(self, reference: str) -> tuple[TaskRecord, int]:
        raise self._absent()

    def network_view(self, network_id: str) -> dict[str, Any] | None:
        return None


SERVICES: web.AppKey[ServiceBackend] = web.AppKey("services")


def _backend(request: web.Request) -> ServiceBackend:
    request.app[SWARM].require_manager()
    return request.app[SERVICES]


def _version(request: web.Request) -> int:
    text = request.query.get("version", "")
    if not text.isdigit():
        raise InvalidParameter(f"invalid service version '{text}': strconv.ParseUint: parsing \"{text}\": "
                               "invalid syntax")
    return int(text)


async def list_services(request: web.Request) -> web.Response:
    backend = _backend(request)
    found = serviceviews.parse_filters(request.query.get("filters"), serviceviews.SERVICE_FILTERS)
    services = [(r, v) for r, v in await backend.list_services() if serviceviews.service_matches(r, found)]
    tasks = [t for t, _ in await backend.list_tasks()] if query_flag(request, "status") and services else None
    return json_reply([serviceviews.service_view(
        r, v, status=serviceviews.service_status(r, tasks) if tasks is not None else None) for r, v in services])


async def create_service(request: web.Request) -> web.Response:
    backend = _backend(request)
    record, version = await backend.create_service(await read_json(request))
    return json_reply({"ID": record.id, "Warnings": None}, status=201)


async def inspect_service(request: web.Request) -> web.Response:
    backend = _backend(request)
    record, version = await backend.find_service(request.match_info["id"])
    return json_reply(serviceviews.service_view(record, version, defaults=query_flag(request, "insertDefaults")))


async def update_service(request: web.Request) -> web.Response:
    backend = _backend(request)
    version = _version(request)
    spec = await read_json(request)
    await backend.update_service(request.match_info["id"], version, spec)
    return json_reply({"Warnings": None})


async def remove_service(request: web.Request) -> web.Response:
    await _backend(request).remove_service(request.match_info["id"])
    return web.Response(status=200)


async def _resolve_services(backend: ServiceBackend, references: list[str]) -> list[str]:
    """dockerd looks each ``service`` filter value up (ID, name, prefix) before it filters: an unknown one is 404."""
    return [(await backend.find_service(reference))[0].id for reference in references]


async def list_tasks(request: web.Request) -> web.Response:
    backend = _backend(request)
    found = serviceviews.parse_filters(request.query.get("filters"), serviceviews.TASK_FILTERS)
    if found.get("service"):
        found["service"] = await _resolve_services(backend, found["service"])
    services = {r.id: r for r, _ in await backend.list_services()}
    views = [serviceviews.task_view(t, v, services.get(t.service_id), backend.network_view)
             for t, v in await backend.list_tasks()
             if serviceviews.task_matches(t, services.get(t.service_id), found)]
    return json_reply(views)


async def inspect_task(request: web.Request) -> web.Response:
    backend = _backend(request)
    task, version = await backend.find_task(request.match_info["id"])
    services = {r.id: r for r, _ in await backend.list_services()}
    return json_reply(serviceviews.task_view(task, version, services.get(task.service_id), backend.network_view))


async def logs(request: web.Request) -> web.Response:
    _backend(request)
    raise NotImplementedByDriver("service and task logs are not implemented by this daemon")


ROUTES = (
    ("GET", "/services", list_services),
    ("POST", "/services/create", create_service),
    ("GET", "/services/{id}", inspect_service),
    ("POST", "/services/{id}/update", update_service),
    ("DELETE", "/services/{id}", remove_service),
    ("GET", "/services/{id}/logs", logs),
    ("GET", "/tasks", list_tasks),
    ("GET", "/tasks/{id}", inspect_task),
    ("GET", "/tasks/{id}/logs", logs),
)
