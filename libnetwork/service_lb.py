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

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import events
from .errors import CnmError
from .firewall import create_load_balancer
from .firewall.lbapi import EVERY_PORT, LB_PROTOCOLS, Backend, LoadBalancer, ServiceVip
from .service_binding import ServiceBinding

if TYPE_CHECKING:
    from .controller import Controller

log = logging.getLogger("cnmd")

# (source, endpoint ID): one backend, wherever it lives.
BackendKey = tuple[str, str]



@dataclass
class _Service:
    binding: ServiceBinding
    backends: dict[BackendKey, ipaddress.IPv4Address] = field(default_factory=dict)

    def vips(self) -> list[ServiceVip]:
        assert self.binding.vip is not None
        return [ServiceVip(self.binding.service_id, self.binding.vip.ip, protocol, EVERY_PORT)
                for protocol in LB_PROTOCOLS]

    def targets(self) -> list[Backend]:
        return [Backend(address, EVERY_PORT) for address in dict.fromkeys(self.backends.values())]


class ServiceBalancer:
    def __init__(self, ctl: Controller):
        self._ctl = ctl
        # network ID -> service ID -> its VIP and backends
        self._services: dict[str, dict[str, _Service]] = {}
        # sandbox ID -> its load balancer, and the (network, service) pairs programmed in it
        self._balancers: dict[str, LoadBalancer] = {}
        self._programmed: dict[str, set[tuple[str, str]]] = {}

    def start(self) -> None:
        self._ctl.events.subscribe(self.on_endpoint, events.EndpointJoined, events.EndpointLeft)

    async def close(self) -> None:
        for balancer in self._balancers.values():
            balancer.close()
        self._balancers.clear()

    def services_on(self, nid: str) -> dict[str, _Service]:
        return self._services.get(nid, {})

    async def on_endpoint(self, event: events.Event) -> None:
        if not isinstance(event, (events.EndpointJoined, events.EndpointLeft)) or event.network.scope != "swarm":
            return
        ref, nid = event.endpoint, event.network.id
        binding = ref.service
        if binding is not None and binding.vip is not None and ref.ipv4 is not None:
            key = (event.source, ref.id)
            if isinstance(event, events.EndpointJoined):
                await self._backend_up(nid, binding, key, ref.ipv4.ip)
            else:
                await self._backend_down(nid, binding, key)
        if event.source == events.LOCAL:
            if isinstance(event, events.EndpointJoined):
                await self._sandbox_joined(ref.sandbox_id, nid)
            else:
                await self._sandbox_left(ref.sandbox_id, nid, event.sandbox_leaving)

    # -- backends, from every host ------------------------------------------------------------

    async def _backend_up(self, nid: str, binding: ServiceBinding, key: BackendKey,
                          address: ipaddress.IPv4Address) -> None:
        service = self._services.setdefault(nid, {}).setdefault(binding.service_id, _Service(binding))
        if service.backends.get(key) == address:
            return
        service.binding = binding
        service.backends[key] = address
        log.debug("service backend up", extra={"service": binding.service_name, "network": nid[:12],
                                               "backend": str(address), "vip": str(binding.vip)})
        for sid in self._sandboxes_on(nid):
            await self._program(sid, nid, service)

    async def _backend_down(self, nid: str, binding: ServiceBinding, key: BackendKey) -> None:
        service = self._services.get(nid, {}).get(binding.service_id)
        if service is None or service.backends.pop(key, None) is None:
            return
        log.debug("service backend down", extra={"service": binding.service_name, "network": nid[:12]})
        if not service.backends:
            del self._services[nid][binding.service_id]
        for sid in self._sandboxes_on(nid):
            if service.backends:
                await self._program(sid, nid, service)
            else:
                await self._unprogram(sid, nid, service)

    # -- local sandboxes ------------------------------------------------------------------------

    def _sandboxes_on(self, nid: str) -> list[str]:
        return [e.sandbox_id for e in self._ctl.network_endpoints(nid) if e.ready]

    async def _sandbox_joined(self, sid: str, nid: str) -> None:
        for service in list(self.services_on(nid).values()):
            await self._program(sid, nid, service)

    async def _sandbox_left(self, sid: str, nid: str, sandbox_leaving: bool) -> None:
        if sandbox_leaving:
            balancer = self._balancers.pop(sid, None)
            self._programmed.pop(sid, None)
            if balancer is not None:
                balancer.close()  # its table goes with the namespace
            return
        for service in list(self.services_on(nid).values()):
            await self._unprogram(sid, nid, service)

    async def _balancer(self, sid: str) -> LoadBalancer | None:
        balancer = self._balancers.get(sid)
        if balancer is not None:
            return balancer
        sandbox = self._ctl.sandboxes.get(sid)
        if sandbox is None:
            return None
        path = self._ctl.netns_path(sandbox)

        def open_balancer() -> LoadBalancer:
            made = create_load_balancer(self._ctl.settings.iptables, netns=path)
            made.setup()
            return made

        balancer = await self._ctl.run(open_balancer)
        self._balancers[sid] = balancer
        return balancer

    async def _program(self, sid: str, nid: str, service: _Service) -> None:
        """The sandbox balances the service's VIP over exactly its current backends."""
        try:
            balancer = await self._balancer(sid)
            if balancer is None:
                return
            for vip in service.vips():
                await self._ctl.run(balancer.ensure_service, vip, service.targets())
        except CnmError as err:
            log.error("programming a service VIP failed", extra={
                "sandbox": sid[:12], "service": service.binding.service_name, "error": err.message})
            return
        self._programmed.setdefault(sid, set()).add((nid, service.binding.service_id))

    async def _unprogram(self, sid: str, nid: str, service: _Service) -> None:
        if (nid, service.binding.service_id) not in self._programmed.get(sid, set()):
            return
        balancer = self._balancers.get(sid)
        if balancer is not None:
            for vip in service.vips():
                await self._ctl.attempt(balancer.remove_service, vip)
        self._programmed[sid].discard((nid, service.binding.service_id))
