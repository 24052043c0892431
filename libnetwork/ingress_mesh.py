"""The routing mesh: a service's published port answers on every node, tasks or not, as Docker's.

Docker's design, kept: each node has a sandbox ``ingress-sbox`` on the
``ingress`` overlay and on ``docker_gwbridge``.  The node publishes the port
as it publishes a container's (``publish.py``: the firewall's DNAT) towards
that sandbox's address on ``docker_gwbridge``; inside, the load balancer sends
each new connection to one task's address on ``ingress``, wherever the task
runs, and masquerades it there, so the task answers through the same node.
As on Docker, the task sees the ingress sandbox's address, not the client's:
``--publish mode=host`` keeps the client's address (the task's own node
publishes it, ``taskagent``).

The ports and their tasks come from the endpoint stream: a task's endpoint on
``ingress`` carries its service's published ports (``ServiceBinding.ingress_ports``),
from this node or any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import events, publish
from .errors import CnmError, NotFound
from .firewall import create_load_balancer
from .firewall.lbapi import Backend, LoadBalancer, ServiceVip
from .gateway_bridge import NAME as GATEWAY_BRIDGE
from .netlink import set_netns_sysctls
from .requests import EndpointRequest, NetworkAttachment, SandboxCreate

if TYPE_CHECKING:
    from .controller import Controller
    from .model import SandboxRecord

log = logging.getLogger("cnmd")

SANDBOX_NAME = "ingress-sbox"
# (protocol, published port) on every node.
PortKey = tuple[str, int]
BackendKey = tuple[str, str]


@dataclass
class _Port:
    service_id: str
    # (source, endpoint ID) -> (task address on ingress, target port)
    backends: dict[BackendKey, tuple[ipaddress.IPv4Address, int]] = field(default_factory=dict)


class IngressMesh:
    def __init__(self, ctl: Controller):
        self._ctl = ctl
        self._ports: dict[PortKey, _Port] = {}
        self._sandbox: SandboxRecord | None = None
        self._balancer: LoadBalancer | None = None
        self._front: ipaddress.IPv4Address | None = None  # the sandbox's address on docker_gwbridge
        self._changing: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Follow the events (before the controller's restore, which replays them)."""
        self._ctl.events.subscribe(self.on_event, events.EndpointJoined, events.EndpointLeft,
                                   events.NetworkCreated, events.NetworkRemoved)

    def resume(self) -> None:
        """After the restore: an ingress network this node already has gets (or finds) its sandbox."""
        ingress = next((nid for nid in self._ctl.networks if self._ingress_network(nid)), None)
        if ingress is not None:
            self._change(self._ensure_sandbox(ingress))

    def _change(self, work) -> None:
        # The sandbox's own connects publish events: they cannot run inside an event's delivery.
        previous = self._changing

        async def after_previous() -> None:
            if previous is not None:
                with contextlib.suppress(BaseException):
                    await previous
            try:
                await work
            except CnmError as err:
                log.error("ingress sandbox change failed", extra={"error": err.message})

        self._changing = asyncio.create_task(after_previous(), name="ingress-sandbox")

    async def close(self) -> None:
        if self._changing is not None:
            self._changing.cancel()
            with contextlib.suppress(BaseException):
                await self._changing
        if self._balancer is not None:
            self._balancer.close()
            self._balancer = None

    def _ingress_network(self, nid: str) -> bool:
        network = self._ctl.networks.get(nid)
        return network is not None and network.ingress and network.scope == "swarm"

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.NetworkCreated) and self._ingress_network(event.network.id):
            self._change(self._ensure_sandbox(event.network.id))
        elif isinstance(event, events.NetworkRemoved) and self._sandbox is not None:
            if not any(self._ingress_network(n) for n in self._ctl.networks):
                self._change(self._remove_sandbox())
        elif isinstance(event, (events.EndpointJoined, events.EndpointLeft)):
            binding = event.endpoint.service
            if binding is None or not binding.ingress_ports or event.endpoint.ipv4 is None:
                return
            key = (event.source, event.endpoint.id)
            changed = set()
            for port in binding.ingress_ports:
                pkey = (port.protocol, port.published)
                entry = self._ports.setdefault(pkey, _Port(binding.service_id))
                if isinstance(event, events.EndpointJoined):
                    entry.backends[key] = (event.endpoint.ipv4.ip, port.target)
                else:
                    entry.backends.pop(key, None)
                changed.add(pkey)
            await self._program(changed)

    # -- the ingress sandbox ---------------------------------------------------------------------

    async def _ensure_sandbox(self, ingress_id: str) -> None:
        """Made once per node (or found again after a restart), on ingress and on docker_gwbridge."""
        ctl = self._ctl
        if self._sandbox is not None and self._sandbox.id in ctl.sandboxes:
            return
        try:
            sandbox = ctl.find_sandbox(SANDBOX_NAME)
        except NotFound:
            sandbox = await ctl.create_sandbox(SandboxCreate(
                name=SANDBOX_NAME, hostname=SANDBOX_NAME, swarm_task=True,
                networks=(NetworkAttachment(network=ingress_id),)))
        endpoints = ctl.sandbox_endpoints(sandbox.id)
        front = next((e for e in endpoints if ctl.networks.get(e.network_id) is not None
                      and ctl.networks[e.network_id].name == GATEWAY_BRIDGE), None)
        if front is None:
            front = await ctl.connect(GATEWAY_BRIDGE, sandbox.id, EndpointRequest())
        back = next(e for e in ctl.sandbox_endpoints(sandbox.id) if e.network_id == ingress_id)
        path = ctl.netns_path(sandbox)
        front_if, back_if = front.ifname, back.ifname
        assert front.ipv4 is not None and front_if is not None and back_if is not None

        def open_balancer() -> LoadBalancer:
            # The sandbox routes between docker_gwbridge and ingress (Docker's ingress-sbox forwards too).
            set_netns_sysctls(path, {"ipv4/ip_forward": "1"})
            made = create_load_balancer(ctl.settings.iptables, netns=path)
            made.setup()
            made.add_interface(front_if)
            made.masquerade_between(front_if, back_if)
            return made

        self._balancer = await ctl.run(open_balancer)
        self._sandbox, self._front = sandbox, front.ipv4.ip
        log.info("ingress sandbox ready", extra={"sandbox": sandbox.id[:12], "address": str(self._front)})
        await self._program(set(self._ports))

    async def _remove_sandbox(self) -> None:
        sandbox, self._sandbox = self._sandbox, None
        if self._balancer is not None:
            self._balancer.close()
            self._balancer = None
        if sandbox is not None:
            with contextlib.suppress(CnmError):
                await self._ctl.delete_sandbox(sandbox.id, force=True)

    # -- ports -----------------------------------------------------------------------------------

    async def _program(self, changed: set[PortKey]) -> None:
        """The balancer's view of the changed ports, then the node's published ports to match."""
        if self._sandbox is None or self._balancer is None or self._front is None:
            return
        for pkey in sorted(changed):
            protocol, published = pkey
            entry = self._ports[pkey]
            vip = ServiceVip(entry.service_id, self._front, protocol, published)
            try:
                if entry.backends:
                    targets = [Backend(address, target) for address, target in dict.fromkeys(entry.backends.values())]
                    await self._ctl.run(self._balancer.ensure_service, vip, targets)
                else:
                    await self._ctl.run(self._balancer.remove_service, vip)
                    del self._ports[pkey]
            except CnmError as err:
                log.error("programming an ingress port failed", extra={"port": f"{published}/{protocol}",
                                                                        "error": err.message})
        wanted = {f"{published}/{protocol}": [{"HostIp": "", "HostPort": str(published)}]
                  for protocol, published in self._ports}
        if wanted != self._sandbox.port_bindings:
            try:
                await publish.rebind(self._ctl, self._sandbox, wanted)
            except CnmError as err:
                log.error("publishing ingress ports failed", extra={"ports": sorted(wanted), "error": err.message})
