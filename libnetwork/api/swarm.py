"""Docker's swarm routes, answered as dockerd answers on a node that is in no swarm.

Clients ask these before they know whether the node is in a swarm
(docker-py's tests leave any swarm after each test; ``docker info`` prints
the Swarm section), so they must get dockerd's own refusals rather than a
404.  Texts and statuses from moby v26.1.5 daemon/cluster (``errNoManager``
with no swarm node, ``errNoSwarm``; both errdefs Unavailable, 503).  The
cluster issue replaces this module with the real routes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import CnmError, Unavailable

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 'to connect this node to swarm and try again.')
NOT_IN_A_SWARM = "This node is not part of a swarm"

# The Swarm section of /info (swarm.Info) for a node in no swarm.
INACTIVE_INFO: dict[str, Any] = {
    "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
    "Error": "", "RemoteManagers": None,
}


class SwarmNotImplemented(CnmError):
    """Forming a swarm is the cluster issue's work; until then say so rather than pretend."""

    status = 501


async def not_a_manager(request: web.Request) -> web.Response:
    raise Unavailable(NOT_A_MANAGER)


async def leave(request: web.Request) -> web.Response:
    raise Unavailable(NOT_IN_A_SWARM)


async def not_implemented(request: web.Request) -> web.Response:
    raise SwarmNotImplemented("swarm mode is not implemented by this daemon yet")


ROUTES = (
    ("POST", "/swarm/init", not_implemented),
    ("POST", "/swarm/join", not_implemented),
    ("POST", "/swarm/leave", leave),
    ("GET", "/swarm", not_a_manager),
    ("GET", "/swarm/unlockkey", not_a_manager),
    ("POST", "/swarm/update", not_a_manager),
    ("POST", "/swarm/unlock", not_a_manager),
    ("GET", "/services", not_a_manager),
    ("GET", "/services/{id}", not_a_manager),
    ("POST", "/services/create", not_a_manager),
    ("POST", "/services/{id}/update", not_a_manager),
    ("DELETE", "/services/{id}", not_a_manager),
    ("GET", "/services/{id}/logs", not_a_manager),
    ("GET", "/nodes", not_a_manager),
    ("GET", "/nodes/{id}", not_a_manager),
    ("DELETE", "/nodes/{id}", not_a_manager),
    ("POST", "/nodes/{id}/update", not_a_manager),
    ("GET", "/tasks", not_a_manager),
    ("GET", "/tasks/{id}", not_a_manager),
    ("GET", "/tasks/{id}/logs", not_a_manager),
    ("GET", "/secrets", not_a_manager),
    ("POST", "/secrets/create", not_a_manager),
    ("GET", "/secrets/{id}", not_a_manager),
    ("DELETE", "/secrets/{id}", not_a_manager),
    ("POST", "/secrets/{id}/update", not_a_manager),
    ("GET", "/configs", not_a_manager),
    ("POST", "/configs/create", not_a_manager),
    ("GET", "/configs/{id}", not_a_manager),
    ("DELETE", "/configs/{id}", not_a_manager),
    ("POST", "/configs/{id}/update", not_a_manager),
)
