"""Docker's swarm and node routes over the swarm service (``libnetwork.cluster.swarm``).

Shapes, statuses and texts are dockerd's (docs/reference/swarm-api.md, from
captures of dockerd 20.10 and the moby v26 source): ``Version.Index`` is the
etcd revision of the record, durations are nanoseconds, timestamps RFC 3339
with nanoseconds.  Routes this daemon has no use for yet (secrets, configs)
answer a manager with empty lists, anyone else with the same 503 texts
dockerd gives.  Services and tasks are api/services.py's.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import Conflict, Internal, InvalidParameter, NotImplementedByDriver, Unavailable
from .replies import json_reply, query_flag, read_json

if TYPE_CHECKING:
    from ..cluster.records import ClusterRecord, NodeRecord
    from ..cluster.swarm import Swarm

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
                 'to connect this node to swarm and try again.')
NOT_IN_A_SWARM = "This node is not part of a swarm"

SWARM: web.AppKey[Swarm] = web.AppKey("swarm")

# The Swarm section of /info (swarm.Info) for a node in no swarm.
INACTIVE_INFO: dict[str, Any] = {
    "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
    "Error": "", "RemoteManagers": None,
}
TWO_MANAGERS_WARNING = (
    "WARNING: Running Swarm in a two-manager configuration. This configuration provides\n"
    "         no fault tolerance, and poses a high risk to lose control over the cluster.\n"
    "         Refer to https://docs.docker.com/engine/swarm/admin_guide/ to configure the\n"
    "         Swarm for fault-tolerance.")
NETWORK_PLUGINS = ("bridge", "host", "macvlan", "null", "overlay")


def _swarm(request: web.Request) -> Swarm:
    return request.app[SWARM]


def _empty() -> web.Response:
    return web.Response(status=200)


def _version(request: web.Request, what: str) -> int:
    text = request.query.get("version", "")
    try:
        return int(text)
    except ValueError:
        raise InvalidParameter(f"invalid {what} version '{text}': strconv.ParseUint: parsing \"{text}\": "
                               "invalid syntax") from None


# -- views ---------------------------------------------------------------------------------

def tls_info(root_pem: str) -> dict[str, str]:
    cert = x509.load_pem_x509_certificate(root_pem.encode())
    public = cert.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"TrustRoot": root_pem, "CertIssuerSubject": base64.b64encode(cert.subject.public_bytes()).decode(),
            "CertIssuerPublicKey": base64.b64encode(public).decode()}


def cluster_info(cluster: ClusterRecord, revision: int) -> dict[str, Any]:
    return {
        "ID": cluster.id, "Version": {"Index": revision}, "CreatedAt": cluster.created_at,
        "UpdatedAt": cluster.updated_at, "Spec": cluster.spec, "TLSInfo": tls_info(cluster.root_ca),
        "RootRotationInProgress": False, "DefaultAddrPool": cluster.default_addr_pool,
        "SubnetSize": cluster.subnet_size, "DataPathPort": cluster.data_path_port,
    }


def node_view(node: NodeRecord, revision: int, serf_status: str | None, leader: str | None,
              root_pem: str) -> dict[str, Any]:
    up = serf_status == "alive"
    status: dict[str, Any] = {"State": "ready" if up else "down"}
    if not up:
        status["Message"] = "heartbeat failure"
    status["Addr"] = node.addr
    view: dict[str, Any] = {
        "ID": node.id, "Version": {"Index": revision}, "CreatedAt": node.created_at, "UpdatedAt": node.updated_at,
        "Spec": {"Labels": node.labels, "Role": node.role, "Availability": node.availability},
        "Description": {
            "Hostname": node.hostname,
            "Platform": {"Architecture": node.architecture, "OS": node.os},
            "Resources": {"NanoCPUs": node.nano_cpus, "MemoryBytes": node.memory_bytes},
            "Engine": {"EngineVersion": node.engine_version,
                       "Plugins": [{"Type": "Network", "Name": name} for name in NETWORK_PLUGINS]},
            "TLSInfo": tls_info(root_pem),
        },
        "Status": status,
    }
    if node.role == "manager" and node.manager_addr:
        manager: dict[str, Any] = {}
        if leader == node.id:
            manager["Leader"] = True
        manager["Reachability"] = "reachable" if up else "unreachable"
        manager["Addr"] = node.manager_addr
        view["ManagerStatus"] = manager
    return view


async def swarm_info(swarm: Swarm) -> tuple[dict[str, Any], list[str]]:
    """The Swarm section of /info, and warnings for its top level."""
    state = swarm.state
    if state is None:
        return dict(INACTIVE_INFO), []
    info: dict[str, Any] = {
        "NodeID": state.node_id, "NodeAddr": state.advertise_addr, "LocalNodeState": "active",
        "ControlAvailable": swarm.is_manager, "Error": "",
        "RemoteManagers": [{"NodeID": m.node_id, "Addr": m.addr} for m in state.remote_managers],
    }
    if not swarm.is_manager:
        return info, []
    try:
        nodes = await swarm.nodes()
        cluster, revision = await swarm.cluster()
    except (Unavailable, Internal) as err:
        info["Error"] = err.message
        return info, []
    managers = [n for n, _ in nodes if n.role == "manager" and n.manager_addr]
    info["RemoteManagers"] = [{"NodeID": n.id, "Addr": n.manager_addr} for n in managers]
    info["Nodes"], info["Managers"] = len(nodes), len(managers)
    view = cluster_info(cluster, revision)
    info["Cluster"] = view
    warnings = [TWO_MANAGERS_WARNING] if len(managers) == 2 else []
    if warnings:
        info["Warnings"] = warnings
    return info, warnings


def ping_state(swarm: Swarm) -> str:
    if swarm.state is None:
        return "inactive"
    return "active/manager" if swarm.is_manager else "active/worker"


# -- routes --------------------------------------------------------------------------------

async def init(request: web.Request) -> web.Response:
    node_id = await _swarm(request).init(await read_json(request))
    return json_reply(node_id)


async def join(request: web.Request) -> web.Response:
    await _swarm(request).join(await read_json(request))
    return _empty()


async def leave(request: web.Request) -> web.Response:
    await _swarm(request).leave(force=_bool_value(request.query.get("force", "")))
    return _empty()


def _bool_value(text: str) -> bool:
    """Docker's httputils.BoolValue: anything but empty, 0, no, false, none is true."""
    return text.strip().lower() not in ("", "0", "no", "false", "none")


async def inspect(request: web.Request) -> web.Response:
    swarm = _swarm(request)
    cluster, revision = await swarm.cluster()
    view = cluster_info(cluster, revision)
    view["JoinTokens"] = {"Worker": cluster.worker_token, "Manager": cluster.manager_token}
    return json_reply(view)


async def update(request: web.Request) -> web.Response:
    swarm = _swarm(request)
    swarm.require_manager()
    version = _version(request, "swarm")
    spec = await read_json(request)
    await swarm.update(version, spec, rotate_worker=query_flag(request, "rotateWorkerToken"),
                       rotate_manager=query_flag(request, "rotateManagerToken"))
    return _empty()


async def unlock_key(request: web.Request) -> web.Response:
    _swarm(request).require_manager()
    return json_reply({"UnlockKey": ""})


async def unlock(request: web.Request) -> web.Response:
    _swarm(request).require_manager()
    raise Conflict("swarm is not locked")


async def _node_views(swarm: Swarm, nodes: list[tuple[NodeRecord, int]]) -> list[dict[str, Any]]:
    """Nodes as the API shows them: their records with Serf's view of them and etcd's leader."""
    status = await swarm.status()
    leader = await swarm.leader()
    cluster, _ = await swarm.cluster()
    return [node_view(n, r, status.get(n.id), leader, cluster.root_ca) for n, r in nodes]


def _matches(view: dict[str, Any], filters: dict[str, Any]) -> bool:
    def allowed(name: str, value: str) -> bool:
        wanted = filters.get(name)
        return not wanted or value in wanted
    return (allowed("id", view["ID"]) or any(view["ID"].startswith(p) for p in filters.get("id", ()))) \
        and allowed("name", view["Description"]["Hostname"]) and allowed("role", view["Spec"]["Role"]) \
        and allowed("membership", "accepted")


def _filters(request: web.Request) -> dict[str, Any]:
    text = request.query.get("filters", "")
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError as err:
        raise InvalidParameter(f"invalid filter: {err}") from None
    known = {"id", "label", "membership", "name", "node.label", "role"}
    for name in raw:
        if name not in known:
            raise InvalidParameter(f"invalid filter '{name}'")
    for role in raw.get("role", {}):
        if role not in ("manager", "worker"):
            raise InvalidParameter(f"Invalid role '{role}' passed to filter, expected 'manager' or 'worker'")
    # Docker sends each filter as {"value": true}; a list of values reads the same
    return {name: list(values) for name, values in raw.items()}


async def list_nodes(request: web.Request) -> web.Response:
    swarm = _swarm(request)
    swarm.require_manager()
    filters = _filters(request)
    return json_reply([v for v in await _node_views(swarm, await swarm.nodes()) if _matches(v, filters)])


async def inspect_node(request: web.Request) -> web.Response:
    swarm = _swarm(request)
    swarm.require_manager()
    (view,) = await _node_views(swarm, [await swarm.find_node(request.match_info["id"])])
    return json_reply(view)


async def update_node(request: web.Request) -> web.Response:
    swarm = _swarm(request)
    swarm.require_manager()
    version = _version(request, "node")
    await swarm.update_node(request.match_info["id"], version, await read_json(request))
    return _empty()


async def remove_node(request: web.Request) -> web.Response:
    swarm = _swarm(request)
    swarm.require_manager()
    await swarm.remove_node(request.match_info["id"], force=_bool_value(request.query.get("force", "")))
    return _empty()


async def rotate_gossip_key(request: web.Request) -> web.Response:
    """Not Docker's: rotate the gossip key now rather than at the next 12-hour turn."""
    await _swarm(request).rotate_gossip_key()
    return _empty()


async def empty_list(request: web.Request) -> web.Response:
    _swarm(request).require_manager()
    return json_reply([])


async def not_implemented(request: web.Request) -> web.Response:
    _swarm(request).require_manager()
    raise NotImplementedByDriver("secrets and configs are not implemented by this daemon yet")


ROUTES = (
    ("POST", "/swarm/init", init),
    ("POST", "/swarm/join", join),
    ("POST", "/swarm/leave", leave),
    ("GET", "/swarm", inspect),
    ("GET", "/swarm/unlockkey", unlock_key),
    ("POST", "/swarm/update", update),
    ("POST", "/swarm/unlock", unlock),
    ("POST", "/swarm/gossip-key/rotate", rotate_gossip_key),
    ("GET", "/nodes", list_nodes),
    ("GET", "/nodes/{id}", inspect_node),
    ("DELETE", "/nodes/{id}", remove_node),
    ("POST", "/nodes/{id}/update", update_node),
    ("GET", "/secrets", empty_list),
    ("POST", "/secrets/create", not_implemented),
    ("GET", "/secrets/{id}", not_implemented),
    ("DELETE", "/secrets/{id}", not_implemented),
    ("POST", "/secrets/{id}/update", not_implemented),
    ("GET", "/configs", empty_list),
    ("POST", "/configs/create", not_implemented),
    ("GET", "/configs/{id}", not_implemented),
    ("DELETE", "/configs/{id}", not_implemented),
    ("POST", "/configs/{id}/update", not_implemented),
)
