"""The HTTP API: Docker Engine's network routes plus sandbox routes, over aiohttp.

Errors are turned into ``{"message": ...}`` with their status in one place
(``errors_middleware``); every route answers bare and under ``/v1.N/``.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from .. import __version__, lookup
from ..errors import CnmError, InvalidParameter
from ..eventlog import EventLog
from . import events, filters, parse, services, swarm, system, views
from .replies import error_reply, json_reply, query_flag, read_json

if TYPE_CHECKING:
    from ..cluster.swarm import Swarm
    from ..controller import Controller

log = logging.getLogger("cnmd.api")

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
# Controller is imported only for type checking (it imports this module), hence no type argument.
CONTROLLER: web.AppKey[Controller] = web.AppKey("controller")
# nginx's "client closed request": never sent (no one is there), seen in metrics only.
CLIENT_CLOSED = 499

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        raise InvalidParameter(f"invalid API version: {text}") from None


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        version = request.match_info.get("version")
        if version is not None:
            if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
                raise InvalidParameter(f"client version {version} is too old. Minimum supported API version is "
                                       f"{MIN_API_VERSION}, please upgrade your client to a newer version")
            if _version_tuple(version) > _version_tuple(API_VERSION):
                raise InvalidParameter(f"client version {version} is too new. Maximum supported API version is "
                                       f"{API_VERSION}")
        return await handler(request)
    except CnmError as err:
        log.debug("request failed", extra={"method": request.method, "path": request.path,
                                           "status": err.status, "error": err.message})
        return error_reply(err.status, err.message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return error_reply(404, "page not found")
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        # The handler is cancelled when the daemon stops under it: not a failure of the request.
        log.debug("request cancelled", extra={"method": request.method, "path": request.path})
        raise
    except ConnectionResetError as err:
        if not _client_gone(request):
            log.exception("request crashed", extra={"method": request.method, "path": request.path})
            return error_reply(500, str(err) or type(err).__name__)
        # The client hung up mid-request (a body cut short, a reply with no one to read it).
        log.debug("client went away", extra={"method": request.method, "path": request.path, "error": str(err)})
        return error_reply(CLIENT_CLOSED, "client closed the connection")
    except Exception as err:  # the daemon never dies on a request
        log.exception("request crashed", extra={"method": request.method, "path": request.path})
        return error_reply(500, str(err) or type(err).__name__)


async def _standard_headers(request: web.Request, response: web.StreamResponse) -> None:
    # On prepare rather than in a middleware, so streamed replies (/events) carry them too.
    response.headers["Api-Version"] = API_VERSION
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = f"cnmd/{__version__} (linux)"


def _ctl(request: web.Request) -> Controller:
    return request.app[CONTROLLER]


# -- system --------------------------------------------------------------------

async def ping(request: web.Request) -> web.Response:
    headers = {"Builder-Version": "", "Swarm": swarm.ping_state(request.app[swarm.SWARM]),
               "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
    if request.method == "HEAD":
        return web.Response(headers=headers, content_type="text/plain", charset="utf-8")
    return web.Response(text="OK", headers=headers, content_type="text/plain", charset="utf-8")


async def version(request: web.Request) -> web.Response:
    engine = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
              "Arch": platform.machine(), "KernelVersion": platform.release(), "GitCommit": "",
              "GoVersion": f"python{platform.python_version()}"}
    return json_reply({
        "Platform": {"Name": "cnmd"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": engine}],
        "Version": __version__, **engine, "BuildTime": "",
    })


async def info(request: web.Request) -> web.Response:
    swarm_section, warnings = await swarm.swarm_info(request.app[swarm.SWARM])
    return json_reply(system.info(_ctl(request), request.app[events.EVENT_LOG].subscribers, swarm_section, warnings))


# -- networks --------------------------------------------------------------------

async def list_networks(request: web.Request) -> web.Response:
    ctl = _ctl(request)
    wanted = filters.parse(request.query.get("filters"), filters.LIST_FILTERS)
    matches = filters.network_matcher(wanted, lambda n: bool(ctl.network_endpoints(n.id)))
    records = [n for n in ctl.networks.values() if n.ready and matches(n)]
    return json_reply([views.network(ctl, n, detailed=False) for n in records])


async def inspect_network(request: web.Request) -> web.Response:
    ctl = _ctl(request)
    query_flag(request, "verbose")
    term, scope = request.match_info["id"], request.query.get("scope", "")
    if scope:
        # dockerd looks only among the networks of that scope: another scope's is not found.
        record = lookup.find_network([n for n in ctl.networks.values() if n.scope == scope], term)
    else:
        record = ctl.find_network(term)
    return json_reply(views.network(ctl, record))


async def create_network(request: web.Request) -> web.Response:
    ctl = _ctl(request)
    create = parse.network_create(await read_json(request))
    record = await ctl.create_network(create)
    return json_reply({"Id": record.id, "Warning": ""}, status=201)


async def delete_network(request: web.Request) -> web.Response:
    await _ctl(request).delete_network(request.match_info["id"])
    return web.Response(status=204)


async def connect(request: web.Request) -> web.Response:
    container, endpoint = parse.connect(await read_json(request))
    await _ctl(request).connect(request.match_info["id"], container, endpoint)
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.Response:
    container, force = parse.disconnect(await read_json(request))
    await _ctl(request).disconnect(request.match_info["id"], container, force)
    return web.Response(status=200)


async def prune_networks(request: web.Request) -> web.Response:
    wanted = filters.parse(request.query.get("filters"), filters.PRUNE_FILTERS)
    deleted = await _ctl(request).prune_networks(filters.prune_keeper(wanted))
    return json_reply({"NetworksDeleted": deleted or None})


# -- sandboxes and containers -------------------------------------------------------

async def create_sandbox(request: web.Request) -> web.Response:
    body = await read_json(request)
    record = await _ctl(request).create_sandbox(parse.sandbox_create(body))
    return json_reply({"Id": record.id, "Warnings": []}, status=201)


async def list_sandboxes(request: web.Request) -> web.Response:
    ctl = _ctl(request)
    return json_reply([views.sandbox(ctl, s) for s in ctl.sandboxes.values() if s.ready])


async def inspect_sandbox(request: web.Request) -> web.Response:
    ctl = _ctl(request)
    return json_reply(views.sandbox(ctl, ctl.find_sandbox(request.match_info["id"])))


async def delete_sandbox(request: web.Request) -> web.Response:
    await _ctl(request).delete_sandbox(request.match_info["id"], force=query_flag(request, "force"))
    return web.Response(status=204)


async def list_containers(request: web.Request) -> web.Response:
    ctl = _ctl(request)
    return json_reply([views.container_summary(ctl, s) for s in ctl.sandboxes.values() if s.ready])


async def inspect_container(request: web.Request) -> web.Response:
    ctl = _ctl(request)
    return json_reply(views.container(ctl, ctl.find_sandbox(request.match_info["id"])))


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
    ("GET", "/events", events.get_events),
    ("GET", "/networks", list_networks),
    ("GET", "/networks/", list_networks),
    ("POST", "/networks/create", create_network),
    ("POST", "/networks/prune", prune_networks),
    ("GET", "/networks/{id}", inspect_network),
    ("DELETE", "/networks/{id}", delete_network),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
    ("POST", "/sandboxes/create", create_sandbox),
    ("GET", "/sandboxes", list_sandboxes),
    ("GET", "/sandboxes/{id}", inspect_sandbox),
    ("DELETE", "/sandboxes/{id}", delete_sandbox),
    ("GET", "/containers/json", list_containers),
    ("GET", "/containers/{id}/json", inspect_container),
    *swarm.ROUTES,
    *services.ROUTES,
)


def build_app(controller: Controller, cluster: Swarm, service_backend: services.ServiceBackend | None = None, *,
              metrics: bool = False) -> web.Application:
    middlewares: list = [errors_middleware]
    if metrics:
        from .. import metrics as metrics_

        # Outermost: it sees the status errors_middleware made of an exception.
        middlewares.insert(0, metrics_.middleware)
    app = web.Application(middlewares=middlewares, client_max_size=4 * 1024 * 1024)
    app[CONTROLLER] = controller
    app[swarm.SWARM] = cluster
    app[services.SERVICES] = service_backend if service_backend is not None else services.NoServices()
    event_log = EventLog()
    # Subscribed here, after the controller started: like dockerd, no events for
    # the predefined networks or what a restart restores.
    event_log.attach(controller.events)
    app[events.EVENT_LOG] = event_log

    async def end_streams(_: web.Application) -> None:
        # Before aiohttp waits for running handlers: an open /events would hold the shutdown.
        event_log.end_streams()

    async def detach(_: web.Application) -> None:
        event_log.detach()

    app.on_shutdown.append(end_streams)
    app.on_cleanup.append(detach)
    app.on_response_prepare.append(_standard_headers)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, "/v{version:[0-9.]+}" + path, handler)
    return app
