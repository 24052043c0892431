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
from typing import TYPE_CHECKING

from . import events, gateway_bridge, publish
from .errors import CnmError, NotFound
from .firewall import open_load_balancer
from .firewall.lbapi import Backend, LoadBalancer, ServiceVip
from .netlink import set_netns_sysctls
from .requests import EndpointRequest, NetworkAttachment, SandboxCreate

if TYPE_CHECKING:
    from .controller import Controller
    from .model import SandboxRecord

log = logging.getLogger("cnmd")

SANDBOX_NAME = "ingress-sbox"
# (protocol, published port) on every node.
PortKey = tuple[str, int]


class IngressMesh:
    def __init__(self, ctl: Controller):
        self._ctl = ctl
        self._programmed: dict[PortKey, ServiceVip] = {}
        self._sandbox: SandboxRecord | None = None
        self._balancer: LoadBalancer | None = None
        self._front: ipaddress.IPv4Address | None = None  # the sandbox's address on docker_gwbridge
        self._changing: asyncio.Task[None] | None = None
        self._programming = asyncio.Lock()

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
            except Exception:  # a bug or the kernel: logged, and tried again at the next task change
                log.exception("ingress sandbox change failed")

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
            if binding is not None and binding.ingress_ports and self._ingress_network(event.network.id):
                if self._balancer is None:
                    self._change(self._ensure_sandbox(event.network.id))  # a setup that failed: again
                else:
                    await self._program()

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
        gateway = await gateway_bridge.ensure(ctl)
        front = next((e for e in ctl.sandbox_endpoints(sandbox.id) if e.network_id == gateway.id), None)
        if front is None:
            front = await ctl.connect(gateway.id, sandbox.id, EndpointRequest())
        back = next(e for e in ctl.sandbox_endpoints(sandbox.id) if e.network_id == ingress_id)
        path = ctl.netns_path(sandbox)
        front_if, back_if = front.ifname, back.ifname
        assert front.ipv4 is not None and front_if is not None and back_if is not None

        def route(balancer: LoadBalancer) -> None:
            balancer.add_interface(front_if)
            balancer.masquerade_between(front_if, back_if)

        # The sandbox routes between docker_gwbridge and ingress (Docker's ingress-sbox forwards too).
        await ctl.run(set_netns_sysctls, path, {"ipv4/ip_forward": "1"})
        balancer = await ctl.run(open_load_balancer, ctl.settings.iptables, path, route)
        if self._balancer is not None:
            self._balancer.close()
        self._balancer = balancer
        self._sandbox, self._front = sandbox, front.ipv4.ip
        log.info("ingress sandbox ready", extra={"sandbox": sandbox.id[:12], "address": str(self._front)})
        await self._program()

    async def _remove_sandbox(self) -> None:
        sandbox, self._sandbox, self._front = self._sandbox, None, None
        self._programmed.clear()
        if self._balancer is not None:
            self._balancer.close()
            self._balancer = None
        if sandbox is not None:
            with contextlib.suppress(CnmError):
                await self._ctl.delete_sandbox(sandbox.id, force=True)

    # -- ports -----------------------------------------------------------------------------------

    def _wanted(self) -> dict[PortKey, tuple[str, list[Backend]]]:
        """Every published port of the mesh: its service and its tasks on ingress, from the controller's index."""
        wanted: dict[PortKey, tuple[str, list[Backend]]] = {}
        for nid in self._ctl.services.networks():
            if not self._ingress_network(nid):
                continue
            for service_id, binding in self._ctl.services.bindings(nid).items():
                state = self._ctl.services.service(nid, service_id)
                addresses = state.addresses() if state is not None else []
                for port in binding.ingress_ports:
                    wanted[(port.protocol, port.published)] = (
                        service_id, [Backend(address, port.target) for address in addresses])
        return wanted

    async def _program(self) -> None:
        """The balancer's ports as the tasks now are, then the node's published ports to match."""
        # From an event's delivery and from the sandbox's own set-up: one at a time.
        async with self._programming:
            await self._program_now()

    async def _program_now(self) -> None:
        if self._sandbox is None or self._balancer is None or self._front is None:
            return
        wanted = self._wanted()
        for (protocol, published), (service_id, targets) in sorted(wanted.items()):
            vip = ServiceVip(service_id, self._front, protocol, published)
            try:
                await self._ctl.run(self._balancer.ensure_service, vip, targets)
            except CnmError as err:
                log.error("programming an ingress port failed", extra={"port": f"{published}/{protocol}",
                                                                        "error": err.message})
            self._programmed[(protocol, published)] = vip
        for pkey in [k for k in self._programmed if k not in wanted]:
            await self._ctl.attempt(self._balancer.remove_service, self._programmed.pop(pkey))
        bindings = {f"{published}/{protocol}": [{"HostIp": "", "HostPort": str(published)}]
                    for protocol, published in wanted}
        if bindings != self._sandbox.port_bindings:
            try:
                await publish.rebind(self._ctl, self._sandbox, bindings)
            except CnmError as err:
                log.error("publishing ingress ports failed", extra={"ports": sorted(bindings), "error": err.message})
