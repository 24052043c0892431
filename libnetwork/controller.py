"""The controller: owns networks, endpoints and sandboxes, persists them, calls drivers.

This module is the facade (the Python API, usable without the daemon) and
the life cycle; the work is split along the model, as libnetwork's is:
``networks`` (create, delete, prune), ``endpoints`` (connect, disconnect),
``sandboxes`` (create, delete, adopted namespaces), ``addressing`` (IPAM),
with Docker's pure rules in ``rules``.  What follows a change (DNS, the
sandbox files, port publishing, ``/events``) subscribes to the event bus
(``events``) instead of being called from here.

Concurrency: each public method holds the locks of the sandboxes and
networks it touches (``locks``), so changes of unrelated networks proceed at
once; blocking calls run off the loop (``workers``): netlink and in-process
drivers in the kernel worker, each Docker plugin in a worker of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from . import endpoints, etcfiles, events, firewall, gateway_bridge, lookup, networks, publish, sandboxes
from .drivers.api import Driver, DriverContext, NodeDiscovery
from .endpoint_index import EndpointIndex
from .errors import CnmError, Forbidden, NotFound
from .ids import generate_id
from .ipam.api import IpamContext, IpamDriver
from .locks import KeyedLocks
from .model import EndpointRecord, NetworkRecord, SandboxRecord
from .netlink import Netlink
from .registry import DriverRegistry
from .requests import EndpointRequest, NetworkCreate, SandboxCreate
from .resolvers import SandboxResolvers
from .sandbox_files import SandboxFiles
from .sandbox_kernel import Sandboxes
from .service_index import ServiceIndex
from .settings import Settings, default_bridge_subnet
from .store import Store
from .swarm_scope import SWARM_IPAM, GlobalNetworkView, NoSwarm, SwarmIpam, SwarmScope
from .workers import Workers

__all__ = ["Controller", "Settings", "default_bridge_subnet"]

log = logging.getLogger("cnmd")
T = TypeVar("T")
INSTANCE_GRACE = 10.0


class Controller:
    """The Python API: usable in-process, without the daemon."""

    def __init__(self, settings: Settings = Settings()):
        self.settings = settings
        self.networks: dict[str, NetworkRecord] = {}
        self.endpoints = EndpointIndex()
        self.sandboxes: dict[str, SandboxRecord] = {}
        self.workers = Workers()
        self.registry = DriverRegistry(self.workers, settings.plugin_dirs, settings.plugin_timeout)
        self.locks = KeyedLocks()
        self.events = events.EventBus()
        self.dns = SandboxResolvers(self)
        # Every network's services and their backends, local and remote (see service_index).
        self.services = ServiceIndex()
        # Subscribed first, before anything can subscribe: a later subscriber reading it sees the event counted.
        self.events.subscribe(self.services.on_event, events.EndpointJoined, events.EndpointLeft,
                              events.NetworkRemoved)
        self.files = SandboxFiles(self)
        self._store: Store | None = None
        self._kernel: Sandboxes | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.swarm: SwarmScope = NoSwarm()
        self._swarm_follower: asyncio.Task[None] | None = None
        self._instantiated: dict[str, float] = {}

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        from .reconcile import drivers_restored, restore  # the one consumer of the start-up path

        s = self.settings
        for path in (s.data_root, s.exec_root, self.files.root):
            os.makedirs(path, exist_ok=True)
        self._store = Store(s.data_root)
        host = await self.run(Netlink)
        self._kernel = Sandboxes(host, os.path.join(s.exec_root, "netns"))
        self.firewall = await self.run(firewall.start, s.iptables)
        context = DriverContext(data_root=s.data_root, exec_root=s.exec_root, mtu=s.mtu,
                                default_bridge_name=s.default_bridge_name, icc=s.icc, ip_masq=s.ip_masq,
                                default_binding_ip=s.default_binding_ip, firewall=self.firewall)
        pools = tuple((ipaddress.ip_network(base), size) for base, size in s.default_address_pools)
        self.registry.load_entry_points(context, IpamContext(
            default_pools=pools, host_networks=functools.partial(self._host_networks, host)))
        self._register_swarm_ipam()
        # Before restore: a restored overlay endpoint needs this node's tunnel address.
        await self.discover_self()
        # DNS before the files: whether a sandbox has a resolver decides its resolv.conf.
        endpoint_events = (events.EndpointJoined, events.EndpointLeft)
        self.events.subscribe(self.dns.on_endpoint, *endpoint_events)
        self.events.subscribe(self.dns.on_network_removed, events.NetworkRemoved)
        self.events.subscribe(self.files.on_endpoint, *endpoint_events)
        self.events.subscribe(functools.partial(publish.on_endpoint, self), *endpoint_events)
        # Before restore: restoring a sandbox opens its resolver again.
        await self.dns.start()
        await restore(self)
        await networks.ensure_predefined(self)
        await drivers_restored(self)
        self._watcher = asyncio.get_running_loop().create_task(sandboxes.watch_adopted(self))
        self._swarm_follower = asyncio.get_running_loop().create_task(
            self.swarm.follow(self._swarm_network_appeared, self._swarm_networks_kept))

    def attach_swarm(self, scope: SwarmScope) -> None:
        """Before ``start``: swarm networks' definitions and addresses come from the cluster."""
        self.swarm = scope

    def _register_swarm_ipam(self) -> None:
        ipam = SwarmIpam(self.swarm, asyncio.get_running_loop())
        self.registry.ipams[SWARM_IPAM] = ipam
        self.workers.give_own_worker(ipam, SWARM_IPAM)

    async def discover_self(self) -> None:
        """Tell the drivers that want it (overlay) where this node is: its swarm and data path addresses."""
        address = self.swarm.local_address()
        if address is None:
            return
        for driver in list(self.registry.drivers.values()):
            if isinstance(driver, NodeDiscovery):
                await self.run(driver.discover_new, address[0], address[1], True)

    def _host_networks(self, host: Netlink) -> list[Any]:
        """What a default pool must not overlap: the host's routes and its nameservers (Docker's rule).

        Called by IPAM inside the kernel worker, so reading netlink here is safe.
        """
        found = host.routes(socket.AF_INET) + host.routes(socket.AF_INET6)
        ours = {p.subnet for n in self.networks.values() for p in n.ipv4_pools + n.ipv6_pools}
        found = [n for n in found if n not in ours]
        for server in etcfiles.read_host_resolv_conf(self.settings.resolv_conf).nameservers:
            with contextlib.suppress(ValueError):
                found.append(ipaddress.ip_network(server.split("%", 1)[0]))
        return found

    async def close(self) -> None:
        """Stop serving; kernel state stays in place (nothing fails open while down)."""
        for task in (self._watcher, self._swarm_follower):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.dns.close()
        self.workers.shutdown()
        if self._store:
            self._store.close()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking call off the loop: a driver's method in its driver's worker, the rest in the kernel worker."""
        return await self.workers.run(fn, *args)

    async def attempt(self, fn: Callable[..., Any], *args: Any) -> list[str]:
        """Run a teardown step; collect its failure instead of stopping the teardown."""
        try:
            await self.run(fn, *args)
            return []
        except Exception as err:  # teardown keeps going and reports every failure
            log.warning("teardown step failed", extra={"step": getattr(fn, "__qualname__", str(fn)), "error": str(err)})
            return [str(err)]

    @property
    def store(self) -> Store:
        assert self._store is not None, "the controller is not started"
        return self._store

    @property
    def sandbox_kernel(self) -> Sandboxes:
        assert self._kernel is not None, "the controller is not started"
        return self._kernel

    @property
    def host_netns_path(self) -> str:
        return f"/proc/{os.getpid()}/ns/net"

    # -- lookups ---------------------------------------------------------------

    def find_network(self, term: str) -> NetworkRecord:
        return lookup.find_network(self.networks.values(), term)

    def find_sandbox(self, term: str) -> SandboxRecord:
        # A full ID, what runtimes and clients pass, without a scan of every sandbox.
        return self.sandboxes.get(term) or lookup.find_sandbox(self.sandboxes.values(), term)

    def network_endpoints(self, nid: str) -> list[EndpointRecord]:
        return self.endpoints.in_network(nid)

    def sandbox_endpoints(self, sid: str) -> list[EndpointRecord]:
        return self.endpoints.in_sandbox(sid)

    def driver(self, name: str) -> Driver:
        return self.registry.driver(name)

    def ipam(self, name: str) -> IpamDriver:
        return self.registry.ipam(name)

    def netns_path(self, sandbox: SandboxRecord) -> str:
        if sandbox.mode == "host":
            return self.host_netns_path
        return sandbox.netns_path

    def sandbox_file(self, record: SandboxRecord, name: str) -> str:
        return self.files.path(record, name)

    # -- networks ----------------------------------------------------------------

    async def create_network(self, request: NetworkCreate, *, predefined: bool = False) -> NetworkRecord:
        nid = generate_id()
        async with self.locks.hold(networks=[nid]):
            return await networks.create(self, request, nid, predefined=predefined)

    async def delete_network(self, term: str) -> NetworkRecord:
        record = self.find_network(term)
        async with self.locks.hold(networks=[record.id]):
            self._still_there(network=record)
            networks.check_delete(self, record)
            if record.scope == "swarm":
                await self.swarm.delete_network(record.id)
            await networks.delete(self, record)
            return record

    async def prune_networks(self, keep: Callable[[NetworkRecord], bool]) -> list[str]:
        """Remove unused user networks for which ``keep`` is false."""
        deleted = []
        for record in list(self.networks.values()):
            if record.predefined or record.config_only or keep(record):
                continue
            async with self.locks.hold(networks=[record.id]):
                if record.id not in self.networks or self.network_endpoints(record.id):
                    continue
                await networks.delete(self, record)
                deleted.append(record.name)
        return deleted

    # -- endpoints ---------------------------------------------------------------

    async def connect(self, network_term: str, sandbox_term: str, request: EndpointRequest) -> EndpointRecord:
        network = await self._network_to_join(network_term, sandbox_term)
        sandbox = self.find_sandbox(sandbox_term)
        async with self.locks.hold(sandboxes=[sandbox.id], networks=[network.id]):
            self._still_there(network=network, sandbox=sandbox)
            endpoint = await endpoints.connect(self, network, sandbox, request)
        try:
            await gateway_bridge.after_connect(self, network, sandbox)
        except BaseException:
            # no half-made attach: a sandbox on an overlay without its way out is undone
            with contextlib.suppress(CnmError):
                await self.disconnect(network.id, sandbox.id)
            raise
        return endpoint

    async def _swarm_network_appeared(self, definition: GlobalNetworkView) -> None:
        if definition.id in self.networks:
            return
        async with self.locks.hold(networks=[definition.id]):
            if definition.id not in self.networks:
                await networks.instantiate(self, definition)
        # every node of a swarm has its way out ready, as dockerd makes it at init and join
        await gateway_bridge.ensure(self)

    async def _swarm_networks_kept(self, kept: set[str]) -> None:
        """Instances of swarm networks not in ``kept`` and without endpoints here go (deleted, or swarm left)."""
        now = time.monotonic()
        for record in [n for n in self.networks.values() if n.scope == "swarm" and n.id not in kept]:
            # a fresh instance is about to get the endpoint it was made for
            if self.network_endpoints(record.id) or now - self._instantiated.get(record.id, 0.0) < INSTANCE_GRACE:
                continue
            async with self.locks.hold(networks=[record.id]):
                if record.id in self.networks and not self.network_endpoints(record.id):
                    await networks.delete(self, record)

    async def _network_to_join(self, term: str, sandbox_term: str | None, *, swarm_task: bool = False) -> NetworkRecord:
        """A network here, or a swarm network this node has no instance of yet (made now, as on dockerd's workers)."""
        try:
            return self.find_network(term)
        except NotFound:
            if not self.swarm.active:
                raise
        definition = await self.swarm.find_network(term)
        if not definition.attachable and not swarm_task:
            raise Forbidden(f"Could not attach to network {term}: rpc error: code = PermissionDenied desc = "
                            f"network {term} not manually attachable")
        if sandbox_term is not None:
            self.find_sandbox(sandbox_term)  # no instance for a connect that cannot happen
        async with self.locks.hold(networks=[definition.id]):
            existing = self.networks.get(definition.id)
            self._instantiated[definition.id] = time.monotonic()
            return existing if existing is not None else await networks.instantiate(self, definition)

    async def disconnect(self, network_term: str, sandbox_term: str, force: bool = False) -> None:
        network = self.find_network(network_term)
        try:
            sandbox = self.find_sandbox(sandbox_term)
        except NotFound:
            if not force:
                raise
            await self._remove_stale_endpoints(network, sandbox_term.lstrip("/"))
            return
        async with self.locks.hold(sandboxes=[sandbox.id], networks=[network.id]):
            self._still_there(network=network, sandbox=sandbox)
            await endpoints.disconnect(self, network, sandbox)
        if network.scope == "swarm":
            await gateway_bridge.after_disconnect(self, sandbox)

    async def _remove_stale_endpoints(self, network: NetworkRecord, name: str) -> None:
        """Docker's ForceEndpointDelete: drop a stale endpoint by name."""
        async with self.locks.hold(networks=[network.id]):
            stale = [e for e in self.network_endpoints(network.id) if e.name == name]
            for endpoint in stale:
                await endpoints.remove(self, endpoint)
            if not stale:
                raise NotFound(f"No such container: {name}")

    # -- sandboxes ---------------------------------------------------------------

    async def create_sandbox(self, request: SandboxCreate) -> SandboxRecord:
        for wanted in request.networks:
            # a swarm network this node has no instance of yet gets one first, as for a connect
            with contextlib.suppress(NotFound):
                if not wanted.network.startswith("container:") and self.swarm.active:
                    await self._network_to_join(wanted.network, None, swarm_task=request.swarm_task)
        place = sandboxes.placement(self, request)
        sid = generate_id()
        joined = []
        for attachment in place.attachments:
            with contextlib.suppress(CnmError):  # an unknown network fails in connect, with Docker's text
                joined.append(self.find_network(attachment.network).id)
        shared = [place.shares.id] if place.shares else []
        async with self.locks.hold(sandboxes=[sid, *shared], networks=joined):
            if place.shares is not None:
                self._still_there(sandbox=place.shares)
            record = await sandboxes.create(self, request, sid, place)
        try:
            for nid in joined:
                await gateway_bridge.after_connect(self, self.networks[nid], record)
        except BaseException:
            with contextlib.suppress(CnmError):
                await self.delete_sandbox(record.id, force=True)
            raise
        return record

    async def delete_sandbox(self, term: str, force: bool = False) -> SandboxRecord:
        record = self.find_sandbox(term)
        async with self._hold_sandbox_and_networks(record):
            self._still_there(sandbox=record)
            sandboxes.check_delete(self, record, force)
            await sandboxes.delete(self, record)
            return record

    async def remove_sandbox(self, record: SandboxRecord) -> None:
        """Remove a sandbox whatever its state (its adopted namespace is gone); no user checks."""
        async with self._hold_sandbox_and_networks(record):
            if self.sandboxes.get(record.id) is record:
                await sandboxes.delete(self, record)

    @contextlib.asynccontextmanager
    async def _hold_sandbox_and_networks(self, record: SandboxRecord) -> AsyncIterator[None]:
        """The sandbox's lock and those of every network it is on, taken together (see ``locks``)."""
        while True:
            joined = {e.network_id for e in self.sandbox_endpoints(record.id)}
            async with self.locks.hold(sandboxes=[record.id], networks=joined):
                # A connect may have slipped in before the locks were ours: look again.
                if {e.network_id for e in self.sandbox_endpoints(record.id)} <= joined:
                    yield
                    return

    def _still_there(self, *, network: NetworkRecord | None = None, sandbox: SandboxRecord | None = None) -> None:
        """After waiting for a lock: the record found before may have been removed meanwhile."""
        if network is not None and self.networks.get(network.id) is not network:
            raise NotFound(f"network {network.name} not found")
        if sandbox is not None and self.sandboxes.get(sandbox.id) is not sandbox:
            raise NotFound(f"No such container: {sandbox.name}")
