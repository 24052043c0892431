"""docker_gwbridge: the way out of the cluster for sandboxes on swarm networks.

An overlay network reaches only its own members.  As on Docker's nodes, a
sandbox attached to a swarm network that is not ``--internal`` also gets an
endpoint on a local bridge network, ``docker_gwbridge`` (made on first use,
masqueraded, no traffic between its members), and its default route goes
there; the endpoint goes when the sandbox's last such network does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import Conflict, NotFound
from .model import NetworkRecord, SandboxRecord
from .requests import EndpointRequest, NetworkCreate

if TYPE_CHECKING:
    from .controller import Controller

NAME = "docker_gwbridge"
OPTIONS = {
    "com.docker.network.bridge.name": NAME,
    "com.docker.network.bridge.enable_icc": "false",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
}


def needs_gateway(ctl: Controller, sandbox: SandboxRecord) -> bool:
    return any(_leads_out(ctl.networks.get(e.network_id)) for e in ctl.sandbox_endpoints(sandbox.id))


def _leads_out(network: NetworkRecord | None) -> bool:
    return network is not None and network.scope == "swarm" and not network.internal and not network.ingress


def _on_gateway(ctl: Controller, sandbox: SandboxRecord, gateway: NetworkRecord) -> bool:
    return any(e.network_id == gateway.id for e in ctl.sandbox_endpoints(sandbox.id))


async def ensure(ctl: Controller) -> NetworkRecord:
    """docker_gwbridge, made if this node has none."""
    try:
        return ctl.find_network(NAME)
    except NotFound:
        pass
    try:
        return await ctl.create_network(NetworkCreate(name=NAME, driver="bridge", options=OPTIONS))
    except Conflict:  # another connect made it meanwhile
        return ctl.find_network(NAME)


async def after_connect(ctl: Controller, network: NetworkRecord, sandbox: SandboxRecord) -> None:
    if not _leads_out(network) or sandbox.mode != "default":
        return
    gateway = await ensure(ctl)
    if not _on_gateway(ctl, sandbox, gateway):
        await ctl.connect(gateway.id, sandbox.id, EndpointRequest())


async def after_disconnect(ctl: Controller, sandbox: SandboxRecord) -> None:
    try:
        gateway = ctl.find_network(NAME)
    except NotFound:
        return
    if _on_gateway(ctl, sandbox, gateway) and not needs_gateway(ctl, sandbox):
        await ctl.disconnect(gateway.id, sandbox.id)
