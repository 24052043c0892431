"""The controller's side of the embedded DNS: who gets a resolver, and what it knows.

As in Docker, a sandbox gets the resolver at 127.0.0.11 while it is on at
least one user-defined network (not the predefined ``bridge``, ``host`` or
``none``).  Every endpoint event on the bus reaches ``on_endpoint``: for a
local sandbox it calls ``sync``, which opens or closes that sandbox's
resolver sockets and hands the resolver that sandbox's own names and
settings; an endpoint of another host becomes a member of its networks'
zones the same way, with no resolver here.  The resolver updates everyone's
answers from them, so the change is visible to the next query at a cost
that does not grow with the number of sandboxes.  Records are translated to
``libnetwork.dns.api`` values here; the resolver never sees them.

A swarm task's endpoint (one with a ``ServiceBinding``) also answers its
service's names, as Docker's ``addServiceBinding`` adds them: ``tasks.NAME``
always, and in dnsrr mode (no VIP) NAME itself, so it returns every task.
Otherwise NAME answers the service's virtual IP: a member of its own per
(network, service), ``service/<network>/<service>``, held while at least one
task of that service is known on that network, here or elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from . import etcfiles, events
from .dns.api import EndpointNames, Link, Membership, SandboxNames
from .dns.resolvconf import embedded_resolv_conf, upstreams
from .dns.server import Resolver
from .dns.sockets import open_resolver_sockets
from .errors import InvalidParameter
from .model import EndpointRecord, SandboxRecord
from .service_binding import ServiceBinding
from .service_index import ServiceChange, ServiceIndex

if TYPE_CHECKING:
    from .controller import Controller
    from .requests import NetworkAttachment


def parse_link(link: str) -> tuple[str, str]:
    """``name[:alias]`` (or Docker's stored ``/name:/parent/alias``) -> (target, alias)."""
    target, _, alias = link.partition(":")
    target = target.strip().lstrip("/")
    alias = alias.strip().rsplit("/", 1)[-1]
    return target, alias or target


def dns_names(endpoint: EndpointRecord, sandbox: SandboxRecord) -> tuple[str, ...]:
    """Docker's DNSNames: name, aliases, short ID, hostname; the first one answers PTR."""
    return tuple(dict.fromkeys([endpoint.name, *endpoint.aliases, sandbox.id[:12], sandbox.hostname]))


def answered_names(own: Sequence[str], service: ServiceBinding | None) -> tuple[str, ...]:
    """The names that answer an endpoint's own address: its DNSNames (the first answers PTR), then its service's.

    The one computation for local and remote endpoints alike, so a task
    resolves the same from every node.  ``tasks.`` goes before the service's
    name and each alias (Docker's addServiceBinding); the names themselves
    only when the service has no VIP on this network (dnsrr mode): a VIP
    answers them otherwise (``service_member``).
    """
    if service is None:
        return tuple(dict.fromkeys(own))
    names = [*own, service.tasks_name, *(f"tasks.{alias}" for alias in service.names[1:])]
    if service.vip is None:
        names += service.names
    return tuple(dict.fromkeys(names))


def service_member(nid: str, service_id: str) -> str:
    """The resolver member holding a service's VIP on a network."""
    return f"service/{nid}/{service_id}"


class SandboxResolvers:
    def __init__(self, ctl: Controller):
        self._ctl = ctl
        self.resolver = Resolver()
        # Endpoints of sandboxes on other hosts, by (source, sandbox): their
        # names on each network, in their connection order.
        self._remote: dict[tuple[str, str], dict[str, tuple[int, Membership]]] = {}
        # Which services each network has, for their VIPs' names.
        self._services = ServiceIndex()

    async def on_endpoint(self, event: events.Event) -> None:
        """An endpoint joined or left a network, here or on another host."""
        if not isinstance(event, (events.EndpointJoined, events.EndpointLeft)):
            return
        self._services_changed(self._services.apply(event))
        if event.source != events.LOCAL:
            self._remote_endpoint(event)
            return
        if isinstance(event, events.EndpointLeft) and event.sandbox_leaving:
            return
        sandbox = self._ctl.sandboxes.get(event.endpoint.sandbox_id)
        if sandbox is not None:
            await self.sync(sandbox)

    def on_network_removed(self, event: events.Event) -> None:
        """The network's instance here is gone: so are its services' VIPs."""
        if isinstance(event, events.NetworkRemoved):
            self._services_changed(self._services.forget_network(event.network.id))

    def _services_changed(self, changes: Iterable[ServiceChange]) -> None:
        for change in changes:
            member, binding = service_member(change.network.id, change.service_id), change.binding
            if change.kind == "removed" or binding.vip is None:
                self.resolver.forget(member)
            elif change.kind == "added" or change.previous != binding:
                # PTR of the VIP answers the service's name, its first.
                names = EndpointNames(names=binding.names, ipv4=binding.vip.ip)
                self.resolver.update(SandboxNames(
                    sid=member, memberships=(Membership(change.network.id, change.network.name, names),)))

    def _remote_endpoint(self, event: events.EndpointJoined | events.EndpointLeft) -> None:
        """A sandbox elsewhere is a member of its networks' zones like a local one, with no resolver here."""
        if event.network.predefined:
            return
        key = (event.source, event.endpoint.sandbox_id)
        member = f"{event.source}/{event.endpoint.sandbox_id}"
        entries = self._remote.setdefault(key, {})
        ref = event.endpoint
        if isinstance(event, events.EndpointJoined):
            entries[ref.id] = (ref.order, Membership(event.network.id, event.network.name, EndpointNames(
                names=answered_names(ref.dns_names or (ref.name,), ref.service),
                ipv4=ref.ipv4.ip if ref.ipv4 else None, ipv6=ref.ipv6.ip if ref.ipv6 else None)))
        else:
            entries.pop(ref.id, None)
        if not entries:
            del self._remote[key]
            self.resolver.forget(member)
            return
        ordered = tuple(m for _, m in sorted(entries.values(), key=lambda entry: entry[0]))
        self.resolver.update(SandboxNames(sid=member, memberships=ordered))

    async def start(self) -> None:
        await self.resolver.start()

    async def close(self) -> None:
        await self.resolver.close()

    def _owner(self, sandbox: SandboxRecord) -> SandboxRecord | None:
        """The sandbox whose namespace (and so resolver) ``sandbox`` uses."""
        if sandbox.shares is not None:
            return self._ctl.sandboxes.get(sandbox.shares)
        return sandbox

    def wants_resolver(self, sandbox: SandboxRecord) -> bool:
        if sandbox.mode != "default":
            return False
        networks = self._ctl.networks
        return any(e.network_id in networks and not networks[e.network_id].predefined
                   for e in self._ctl.sandbox_endpoints(sandbox.id))

    async def sync(self, sandbox: SandboxRecord) -> None:
        """Start or stop the sandbox's resolver as its networks require; publish its names."""
        wanted, attached = self.wants_resolver(sandbox), self.resolver.attached(sandbox.id)
        if wanted and not attached:
            path = self._ctl.netns_path(sandbox)
            sockets = await self._ctl.run(open_resolver_sockets, path)
            await self.resolver.attach(sandbox.id, path, sockets)
        elif attached and not wanted:
            await self.resolver.detach(sandbox.id)
        self.publish(sandbox)

    async def remove(self, sandbox: SandboxRecord) -> None:
        await self.resolver.detach(sandbox.id)
        self.resolver.forget(sandbox.id)

    def publish(self, sandbox: SandboxRecord) -> None:
        """Hand the resolver the sandbox's endpoints (those of other sandboxes did not change)."""
        ctl = self._ctl
        endpoints = [e for e in ctl.sandbox_endpoints(sandbox.id) if e.ready and e.network_id in ctl.networks]
        memberships, links = [], []
        for endpoint in endpoints:
            network = ctl.networks[endpoint.network_id]
            if network.predefined:
                continue
            memberships.append(Membership(network.id, network.name, self._endpoint_names(endpoint, sandbox)))
            links += [Link(*parse_link(link), network=network.name) for link in endpoint.links]
        if not memberships:
            # On no user-defined network: nothing for others to resolve, no resolver to answer.
            self.resolver.forget(sandbox.id)
            return
        links += [Link(*parse_link(link)) for link in sandbox.links]
        host = etcfiles.read_host_resolv_conf(ctl.settings.resolv_conf)
        self.resolver.update(SandboxNames(
            sid=sandbox.id, memberships=tuple(memberships), links=tuple(links),
            upstreams=self._upstreams(sandbox, host),
            external_access=any(not ctl.networks[e.network_id].internal for e in endpoints)))

    @staticmethod
    def _endpoint_names(endpoint: EndpointRecord, sandbox: SandboxRecord) -> EndpointNames:
        return EndpointNames(
            names=answered_names(dns_names(endpoint, sandbox), endpoint.service),
            ipv4=endpoint.ipv4.ip if endpoint.ipv4 else None,
            ipv6=endpoint.ipv6.ip if endpoint.ipv6 else None)

    def _upstreams(self, sandbox: SandboxRecord, host: etcfiles.ResolvConf):
        return upstreams(host, self._ctl.settings.dns, sandbox.dns)

    # -- files -------------------------------------------------------------------

    def resolv_conf(self, sandbox: SandboxRecord, host: etcfiles.ResolvConf) -> etcfiles.ResolvConf | None:
        """The sandbox's resolv.conf when its namespace has the resolver, else None (legacy file)."""
        owner = self._owner(sandbox)
        if owner is None or not self.resolver.attached(owner.id):
            return None
        return embedded_resolv_conf(host, self._upstreams(owner, host), sandbox.dns_search, sandbox.dns_options)

    def link_hosts(self, sandbox: SandboxRecord) -> list[tuple[str, list[str]]]:
        """Docker's legacy links: ``<ip> <alias> <hostname> <name>`` for targets on the default bridge."""
        ctl = self._ctl
        entries = []
        for link in sandbox.links:
            target_name, alias = parse_link(link)
            target = next((s for s in ctl.sandboxes.values() if s.name == target_name), None)
            if target is None:
                continue
            for endpoint in ctl.sandbox_endpoints(target.id):
                network = ctl.networks.get(endpoint.network_id)
                if network is not None and network.is_default_bridge and endpoint.ipv4:
                    names = [alias, target.hostname] + ([target.name] if alias != target.name else [])
                    entries.append((str(endpoint.ipv4.ip), list(dict.fromkeys(names))))
        return entries

    def check_links(self, links: Iterable[str], attachments: Iterable[NetworkAttachment]) -> None:
        """On the default bridge a link names an existing sandbox (on a user network it is only an alias)."""
        if not any(a.network in ("bridge", "default") for a in attachments):
            return
        names = {s.name for s in self._ctl.sandboxes.values()}
        for link in links:
            target, _ = parse_link(link)
            if not target:
                raise InvalidParameter(f"invalid link: {link!r}")
            if target not in names:
                raise InvalidParameter(f"could not get container for {target}: No such container: {target}")
