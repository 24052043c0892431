"""Service virtual IPs, balanced in every local sandbox on the service's network, as swarm does.

dockerd programs IPVS inside each container's namespace for every service on
that container's networks, so a client's connection to a VIP is spread
before it leaves the client, and the task sees the client's own address.
This does the same with the firewall layer's load balancer (nftables, one
table per sandbox namespace, ``firewall/LOADBALANCER.md``): a VIP answers
every port, and each new connection goes to one task.

Everything comes from the core's endpoint events, local or from other hosts
alike: an endpoint whose ``ServiceBinding`` has a VIP is a backend of that
service on that network; a local sandbox that joins a swarm network gets
that network's services.  A backend that leaves is removed from every
sandbox's map at once; flows already established with other backends are
untouched (conntrack keeps them), and so are its own until they close.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import events
from .errors import CnmError
from .firewall import open_load_balancer
from .firewall.lbapi import EVERY_PORT, LB_PROTOCOLS, Backend, LbRuleset, LbService, LoadBalancer, ServiceVip
from .ingress_mesh import SANDBOX_NAME as INGRESS_SANDBOX
from .service_binding import ServiceBinding

if TYPE_CHECKING:
    from .controller import Controller

log = logging.getLogger("cnmd")

def _vips(binding: ServiceBinding) -> list[ServiceVip]:
    assert binding.vip is not None
    return [ServiceVip(binding.service_id, binding.vip.ip, protocol, EVERY_PORT) for protocol in LB_PROTOCOLS]


class ServiceBalancer:
    """Programs what the controller's ``ServiceIndex`` knows (it has seen each event first)."""

    def __init__(self, ctl: Controller):
        self._ctl = ctl
        # sandbox ID -> its load balancer, and the (network, service) pairs programmed in it
        self._balancers: dict[str, LoadBalancer] = {}
        self._programmed: dict[str, set[tuple[str, str]]] = {}

    def start(self) -> None:
        self._ctl.events.subscribe(self.on_endpoint, events.EndpointJoined, events.EndpointLeft)

    async def close(self) -> None:
        for balancer in self._balancers.values():
            balancer.close()
        self._balancers.clear()

    def _vip_services(self, nid: str) -> list[ServiceBinding]:
        return [b for b in self._ctl.services.bindings(nid).values() if b.vip is not None]

    async def on_endpoint(self, event: events.Event) -> None:
        if not isinstance(event, (events.EndpointJoined, events.EndpointLeft)) or event.network.scope != "swarm":
            return
        ref, nid = event.endpoint, event.network.id
        binding = ref.service
        if binding is not None and binding.vip is not None:
            # a backend came or went, here or on another host: every local sandbox on the network follows
            for sid in self._sandboxes_on(nid):
                await self._program(sid, nid, binding)
        if event.source == events.LOCAL:
            if isinstance(event, events.EndpointJoined):
                for service in self._vip_services(nid):
                    await self._program(ref.sandbox_id, nid, service)
            else:
                await self._sandbox_left(ref.sandbox_id, nid, event.sandbox_leaving)

    # -- local sandboxes ------------------------------------------------------------------------

    def _sandboxes_on(self, nid: str) -> list[str]:
        return [e.sandbox_id for e in self._ctl.network_endpoints(nid) if e.ready]

    async def _sandbox_left(self, sid: str, nid: str, sandbox_leaving: bool) -> None:
        if sandbox_leaving:
            balancer = self._balancers.pop(sid, None)
            self._programmed.pop(sid, None)
            if balancer is not None:
                balancer.close()  # its table goes with the namespace
            return
        for service_id in [s for n, s in self._programmed.get(sid, set()) if n == nid]:
            await self._unprogram(sid, nid, service_id)

    async def _balancer(self, sid: str) -> LoadBalancer | None:
        balancer = self._balancers.get(sid)
        if balancer is not None:
            return balancer
        sandbox = self._ctl.sandboxes.get(sid)
        if sandbox is None or (sandbox.swarm_task and sandbox.name == INGRESS_SANDBOX):
            # The routing mesh's sandbox sends no connection of its own to a VIP; its table is the mesh's.
            return None
        balancer = await self._ctl.run(open_load_balancer, self._ctl.settings.iptables, self._ctl.netns_path(sandbox))
        self._balancers[sid] = balancer
        # After a restart the namespace's table is as cnmd left it: services removed meanwhile go now.
        desired, programmed = self._desired(sid)
        await self._ctl.run(balancer.reconcile, LbRuleset(services=tuple(desired)))
        self._programmed[sid] = programmed
        return balancer

    def _desired(self, sid: str) -> tuple[list[LbService], set[tuple[str, str]]]:
        """Every VIP of every swarm network the sandbox is on, with the backends known now."""
        services, programmed = [], set()
        for endpoint in self._ctl.sandbox_endpoints(sid):
            nid = endpoint.network_id
            for binding in self._vip_services(nid):
                state = self._ctl.services.service(nid, binding.service_id)
                targets = tuple(Backend(a, EVERY_PORT) for a in state.addresses()) if state is not None else ()
                if targets:
                    services += [LbService(vip, targets) for vip in _vips(binding)]
                    programmed.add((nid, binding.service_id))
        return services, programmed

    async def _program(self, sid: str, nid: str, binding: ServiceBinding) -> None:
        """The sandbox balances the service's VIP over exactly its current backends (none left: no VIP)."""
        state = self._ctl.services.service(nid, binding.service_id)
        targets = [Backend(address, EVERY_PORT) for address in state.addresses()] if state is not None else []
        if not targets:
            await self._unprogram(sid, nid, binding.service_id, binding)
            return
        try:
            balancer = await self._balancer(sid)
            if balancer is None:
                return
            for vip in _vips(state.binding if state is not None else binding):
                await self._ctl.run(balancer.ensure_service, vip, targets)
        except CnmError as err:
            log.error("programming a service VIP failed", extra={
                "sandbox": sid[:12], "service": binding.service_name, "error": err.message})
            return
        self._programmed.setdefault(sid, set()).add((nid, binding.service_id))

    async def _unprogram(self, sid: str, nid: str, service_id: str, binding: ServiceBinding | None = None) -> None:
        if (nid, service_id) not in self._programmed.get(sid, set()):
            return
        self._programmed[sid].discard((nid, service_id))
        balancer = self._balancers.get(sid)
        if balancer is None or binding is None:
            state = self._ctl.services.service(nid, service_id)
            binding = state.binding if state is not None else binding
        if balancer is not None and binding is not None:
            for vip in _vips(binding):
                await self._ctl.attempt(balancer.remove_service, vip)
