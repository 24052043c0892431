"""The controller: owns networks, endpoints and sandboxes, persists them, calls drivers.

Every state change runs under one asyncio lock, records first and kernel
second: a record is written (``ready=False``) before the first kernel step
and marked ready after the last, with an undo stack in between.  A failure
half way unwinds the stack; a crash half way leaves a not-ready record that
the next start rolls back (see ``reconcile``).  Driver, IPAM and netlink
calls block, so they run in one kernel worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import etcfiles, events, firewall, lookup, plugins, publish
from .drivers import remote as remote_driver
from .drivers.api import (
    Driver, DriverContext, EndpointConfig, JoinInfo, NetworkConfig, SandboxInfo, SubnetData,
)
from .endpoints import Endpoints
from .errors import CnmError, Conflict, Forbidden, InvalidParameter, NoAvailableAddress, NotFound, Unavailable
from .ids import generate_id, now_rfc3339, short_id
from .ipam import config as ipam_config
from .ipam import remote as remote_ipam
from .ipam.api import (
    GATEWAY_ADDRESS_TYPE, REQUEST_ADDRESS_TYPE, AddressRequest, IpamContext, IpamDriver,
    PoolRequest,
)
from .model import EndpointRecord, NetworkRecord, PoolRecord, SandboxRecord
from .names import random_name
from .resolvers import SandboxResolvers
from .netlink import Netlink
from .requests import EndpointRequest, NetworkAttachment, NetworkCreate, SandboxCreate, SubnetRequest
from .sandbox import Attachment, Sandboxes
from .store import Store
from .v1plugins import DEFAULT_DIRS, Registry

log = logging.getLogger("cnmd")

PREDEFINED = ("bridge", "host", "none")
PREDEFINED_NAMES = PREDEFINED + ("default",)
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Settings:
    """Daemon-wide settings (dockerd's flags)."""

    data_root: str = "/var/lib/cnm"
    exec_root: str = "/run/cnm"
    bip: str | None = None                # "172.17.0.1/16"
    default_address_pools: tuple[tuple[str, int], ...] = ()
    mtu: int = 1500
    default_bridge_name: str = "cnm0"
    resolv_conf: str = "/etc/resolv.conf"
    dns: tuple[str, ...] = ()             # daemon-wide --dns upstreams
    adopted_poll_interval: float = 1.0
    # dockerd's firewall and default-bridge flags
    iptables: bool = True                 # False: the null firewall backend
    icc: bool = True
    ip_masq: bool = True
    default_binding_ip: str = "0.0.0.0"   # --ip
    fixed_cidr: str | None = None
    default_gateway: str | None = None
    # Docker's v1 plugin directories, and how long a plugin may take to
    # answer (and to come up before a call fails).
    plugin_dirs: tuple[str, ...] = DEFAULT_DIRS
    plugin_timeout: float = 30.0


def default_bridge_subnet(settings: Settings) -> SubnetRequest | None:
    """The default bridge's IPv4 subnet from dockerd's --bip, --fixed-cidr and --default-gateway.

    As dockerd: --fixed-cidr alone is also the subnet; --default-gateway is
    an aux address the bridge driver gives sandboxes as their gateway.
    """
    bip = ipaddress.ip_interface(settings.bip) if settings.bip else None
    fixed = ipaddress.ip_network(settings.fixed_cidr, strict=False) if settings.fixed_cidr else None
    if bip is None and fixed is None:
        return None
    aux = {}
    if settings.default_gateway:
        aux["DefaultGatewayIPv4"] = ipaddress.ip_address(settings.default_gateway)
    subnet = bip.network if bip else fixed
    return SubnetRequest(subnet=subnet, ip_range=fixed if fixed != subnet else None,
                         gateway=bip.ip if bip else None, aux_addresses=aux)


def network_ref(record: NetworkRecord) -> events.NetworkRef:
    return events.NetworkRef(id=record.id, name=record.name, driver=record.driver, scope=record.scope,
                             predefined=record.predefined, internal=record.internal)


def endpoint_ref(endpoint: EndpointRecord, sandbox: SandboxRecord | None) -> events.EndpointRef:
    from .resolvers import dns_names

    return events.EndpointRef(
        id=endpoint.id, network_id=endpoint.network_id, sandbox_id=endpoint.sandbox_id, name=endpoint.name,
        dns_names=dns_names(endpoint, sandbox) if sandbox else (endpoint.name,),
        ipv4=ipaddress.IPv4Interface(endpoint.ipv4) if endpoint.ipv4 else None,
        ipv6=ipaddress.IPv6Interface(endpoint.ipv6) if endpoint.ipv6 else None,
        mac=endpoint.mac, order=endpoint.created_seq)


class Controller:
    """The Python API: usable in-process, without the daemon."""

    def __init__(self, settings: Settings = Settings()):
        self.settings = settings
        self.networks: dict[str, NetworkRecord] = {}
        self.endpoints = Endpoints()
        self.sandboxes: dict[str, SandboxRecord] = {}
        self.drivers: dict[str, Driver] = {}
        self.ipams: dict[str, IpamDriver] = {}
        self.v1plugins = Registry(settings.plugin_dirs, timeout=settings.plugin_timeout)
        self._lock = asyncio.Lock()
        self._kernel_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel")
        self._store: Store | None = None
        self._kernel: Sandboxes | None = None
        self._watcher: asyncio.Task | None = None
        self.dns = SandboxResolvers(self)
        self.events = events.EventBus()

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        from .reconcile import drivers_restored, restore  # the one consumer of the start-up path

        s = self.settings
        for path in (s.data_root, s.exec_root, self.files_root):
            os.makedirs(path, exist_ok=True)
        self._store = Store(s.data_root)
        host = await self.kernel(Netlink)
        self._kernel = Sandboxes(host, os.path.join(s.exec_root, "netns"))
        self.firewall = await self.kernel(firewall.start, s.iptables)
        context = DriverContext(data_root=s.data_root, exec_root=s.exec_root, mtu=s.mtu,
                                default_bridge_name=s.default_bridge_name, icc=s.icc, ip_masq=s.ip_masq,
                                default_binding_ip=s.default_binding_ip, firewall=self.firewall)
        self.drivers = plugins.load(plugins.DRIVER_GROUP, context)
        pools = tuple((ipaddress.ip_network(base), size) for base, size in s.default_address_pools)
        self.ipams = plugins.load(plugins.IPAM_GROUP, IpamContext(
            default_pools=pools, host_networks=functools.partial(self._host_networks, host)))
        # Before restore: restoring a sandbox opens its resolver again.
        await self.dns.start()
        async with self._lock:
            await restore(self)
            await self._ensure_predefined()
            await drivers_restored(self)
        self._watcher = asyncio.get_running_loop().create_task(self._watch_adopted())

    def _host_networks(self, host: Netlink) -> list:
        """What a default pool must not overlap: the host's routes and its nameservers (Docker's rule).

        Called by IPAM inside the kernel worker, so reading netlink here is safe.
        """
        networks = host.routes(socket.AF_INET) + host.routes(socket.AF_INET6)
        ours = {ipaddress.ip_network(p.subnet) for n in self.networks.values() for p in n.ipv4_pools + n.ipv6_pools}
        networks = [n for n in networks if n not in ours]
        for server in etcfiles.read_host_resolv_conf(self.settings.resolv_conf).nameservers:
            with contextlib.suppress(ValueError):
                networks.append(ipaddress.ip_network(server.split("%", 1)[0]))
        return networks

    async def close(self) -> None:
        """Stop serving; kernel state stays in place (nothing fails open while down)."""
        if self._watcher:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.dns.close()
        self._kernel_pool.shutdown(wait=True)
        if self._store:
            self._store.close()

    async def kernel(self, fn: Callable, *args, **kwargs) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self._kernel_pool, functools.partial(fn, *args, **kwargs))

    @property
    def store(self) -> Store:
        return self._store

    @property
    def sandbox_kernel(self) -> Sandboxes:
        return self._kernel

    @property
    def files_root(self) -> str:
        return os.path.join(self.settings.exec_root, "sandboxes")

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
        name = plugins.DRIVER_ALIASES.get(name, name)
        try:
            return self.drivers[name]
        except KeyError:
            raise plugins.missing_plugin(name) from None

    def ipam(self, name: str) -> IpamDriver:
        try:
            return self.ipams[name or "default"]
        except KeyError:
            raise plugins.missing_plugin(name) from None

    async def load_driver(self, name: str) -> Driver:
        """Driver ``name``; one that no entry point provides is a Docker plugin, looked up now as Docker does."""
        name = plugins.DRIVER_ALIASES.get(name, name)
        if name not in self.drivers:
            self.drivers[name] = await self.kernel(remote_driver.connect, self.v1plugins, name)
        return self.drivers[name]

    async def load_ipam(self, name: str) -> IpamDriver:
        name = name or "default"
        if name not in self.ipams:
            self.ipams[name] = await self.kernel(remote_ipam.connect, self.v1plugins, name)
        return self.ipams[name]

    def netns_path(self, sandbox: SandboxRecord) -> str:
        if sandbox.mode == "host":
            return self.host_netns_path
        return sandbox.netns_path

    # -- networks ----------------------------------------------------------------

    async def create_network(self, request: NetworkCreate, *, predefined: bool = False) -> NetworkRecord:
        async with self._lock:
            return await self._create_network(request, predefined=predefined)

    async def _create_network(self, request: NetworkCreate, *, predefined: bool = False) -> NetworkRecord:
        name = request.name
        if not name.strip():
            raise InvalidParameter(f"invalid name: {name}")
        if name in PREDEFINED_NAMES and not predefined:
            raise Forbidden(f"operation is not permitted on predefined {name} network ")
        if any(n.name == name for n in self.networks.values()):
            raise Conflict(f"network with name {name} already exists")
        driver_name = plugins.DRIVER_ALIASES.get(request.driver or "bridge", request.driver or "bridge")
        driver = await self.load_driver(driver_name)
        caps = driver.capabilities()
        if caps.exclusive and not predefined:
            raise Forbidden(f'only one instance of "{driver_name}" network is allowed')
        if request.config_from:
            raise InvalidParameter("config-from networks are not supported")
        ipam = None if caps.exclusive else await self.load_ipam(request.ipam_driver)
        record = NetworkRecord(
            id=generate_id(), name=name, driver=driver_name,
            created=ZERO_TIME if caps.exclusive else now_rfc3339(),
            scope=caps.scope, enable_ipv6=request.enable_ipv6, internal=request.internal,
            attachable=request.attachable, ingress=request.ingress, config_only=request.config_only,
            options=dict(request.options), labels=dict(request.labels),
            ipam_driver=request.ipam_driver or "default", ipam_options=dict(request.ipam_options),
            predefined=predefined,
        )
        self.store.put("network", record)
        self.networks[record.id] = record
        try:
            async with contextlib.AsyncExitStack() as undo:
                if ipam is not None:
                    await self._allocate_pools(record, ipam, request.subnets, undo)
                self.store.put("network", record)
                await self.kernel(driver.create_network, self.network_config(record))
                undo.push_async_callback(self._attempt, driver.delete_network, record.id)
                record.ready = True
                self.store.put("network", record)
                undo.pop_all()
        except BaseException:
            self.networks.pop(record.id, None)
            self.store.delete("network", record.id)
            raise
        log.info("network created", extra={"network": name, "id": short_id(record.id), "driver": driver_name})
        await self.events.publish(events.NetworkCreated(network_ref(record)))
        return record

    async def _allocate_pools(self, record: NetworkRecord, ipam: IpamDriver,
                              subnets: tuple[SubnetRequest, ...], undo: contextlib.AsyncExitStack) -> None:
        v4 = [s for s in subnets if s.subnet.version == 4]
        v6 = [s for s in subnets if s.subnet.version == 6]
        if not v4:
            v4 = [None]
        if record.enable_ipv6 and not v6:
            v6 = [None]
        elif not record.enable_ipv6:
            v6 = []
        for version, specs, target in ((4, v4, record.ipv4_pools), (6, v6, record.ipv6_pools)):
            for spec in specs:
                pool = await self._allocate_pool(record, ipam, spec, version == 6, undo)
                target.append(pool)

    async def _allocate_pool(self, record: NetworkRecord, ipam: IpamDriver, spec: SubnetRequest | None,
                             v6: bool, undo: contextlib.AsyncExitStack) -> PoolRecord:
        if spec is None and not v6 and record.predefined and record.driver == "bridge":
            spec = default_bridge_subnet(self.settings)
        space, _ = await self.kernel(ipam.default_address_spaces)
        request = PoolRequest(
            address_space=space, pool=spec.subnet if spec else None,
            sub_pool=spec.ip_range if spec else None, options=record.ipam_options, v6=v6,
        )
        pool = await self.kernel(ipam.request_pool, request)
        undo.push_async_callback(self._attempt, ipam.release_pool, pool.pool_id)
        wanted_gateway = spec.gateway if spec else None
        try:
            gateway = await self.kernel(ipam.request_address, AddressRequest(
                pool.pool_id, wanted_gateway, {REQUEST_ADDRESS_TYPE: GATEWAY_ADDRESS_TYPE}))
        except CnmError as err:
            raise type(err)(f"failed to allocate gateway ({wanted_gateway or ''}): {err.message}") from err
        undo.push_async_callback(self._attempt, ipam.release_address, pool.pool_id, gateway.ip)
        aux = {}
        for key, address in (spec.aux_addresses.items() if spec else ()):
            try:
                await self.kernel(ipam.request_address, AddressRequest(pool.pool_id, address))
            except CnmError as err:
                raise type(err)(f"failed to allocate secondary ip address ({key}:{address}): {err.message}") from err
            undo.push_async_callback(self._attempt, ipam.release_address, pool.pool_id, address)
            aux[key] = str(address)
        return PoolRecord(
            pool_id=pool.pool_id, subnet=str(pool.pool), gateway=str(gateway),
            ip_range=str(spec.ip_range) if spec and spec.ip_range else None,
            aux_addresses=aux, user_config=dict(spec.user_config) if spec else None, address_space=space,
        )

    def network_config(self, record: NetworkRecord) -> NetworkConfig:
        def subnets(pools: list[PoolRecord]) -> tuple[SubnetData, ...]:
            return tuple(SubnetData(
                subnet=ipaddress.ip_network(p.subnet),
                gateway=ipaddress.ip_interface(p.gateway) if p.gateway else None,
                aux_addresses={k: ipaddress.ip_address(v) for k, v in p.aux_addresses.items()},
                address_space=p.address_space,
            ) for p in pools)

        return NetworkConfig(
            nid=record.id, name=record.name, options=record.options,
            ipv4=subnets(record.ipv4_pools), ipv6=subnets(record.ipv6_pools),
            internal=record.internal, enable_ipv6=record.enable_ipv6,
            default_bridge=record.predefined and record.driver == "bridge",
        )

    async def delete_network(self, term: str) -> NetworkRecord:
        async with self._lock:
            record = self.find_network(term)
            if record.predefined:
                raise Forbidden(f"{record.name} is a pre-defined network and cannot be removed")
            endpoints = self.network_endpoints(record.id)
            if endpoints:
                names = ", ".join(sorted(e.name for e in endpoints))
                raise Forbidden(f"error while removing network: network {record.name} id {record.id} "
                                f"has active endpoints ({names})")
            await self._delete_network(record)
            return record

    async def _delete_network(self, record: NetworkRecord) -> None:
        """Undo every step of create; each is idempotent, so this also rolls back a half-made one."""
        record.ready = False
        self.store.put("network", record)
        driver = await self.load_driver(record.driver)
        await self.kernel(driver.delete_network, record.id)
        if record.ipv4_pools or record.ipv6_pools:
            ipam = await self.load_ipam(record.ipam_driver)
            for pool in record.ipv4_pools + record.ipv6_pools:
                await self._release_pool(ipam, pool)
        self.networks.pop(record.id, None)
        self.store.delete("network", record.id)
        log.info("network removed", extra={"network": record.name, "id": short_id(record.id)})
        await self.events.publish(events.NetworkRemoved(network_ref(record)))

    async def _release_pool(self, ipam: IpamDriver, pool: PoolRecord) -> None:
        for address in list(pool.aux_addresses.values()) + ([pool.gateway] if pool.gateway else []):
            with contextlib.suppress(NotFound):
                await self.kernel(ipam.release_address, pool.pool_id, ipaddress.ip_interface(address).ip)
        with contextlib.suppress(NotFound):
            await self.kernel(ipam.release_pool, pool.pool_id)

    async def prune_networks(self, keep: Callable[[NetworkRecord], bool]) -> list[str]:
        """Remove unused user networks for which ``keep`` is false."""
        deleted = []
        async with self._lock:
            for record in list(self.networks.values()):
                if record.predefined or record.config_only or keep(record):
                    continue
                if self.network_endpoints(record.id):
                    continue
                await self._delete_network(record)
                deleted.append(record.name)
        return deleted

    async def _ensure_predefined(self) -> None:
        present = {n.name for n in self.networks.values() if n.predefined}
        for name, driver in (("none", "null"), ("host", "host"), ("bridge", "bridge")):
            if name not in present:
                await self._create_network(NetworkCreate(name=name, driver=driver), predefined=True)

    # -- endpoints ---------------------------------------------------------------

    async def connect(self, network_term: str, sandbox_term: str, request: EndpointRequest) -> EndpointRecord:
        async with self._lock:
            network = self.find_network(network_term)
            sandbox = self.find_sandbox(sandbox_term)
            return await self._connect(network, sandbox, request)

    def _check_connect(self, network: NetworkRecord, sandbox: SandboxRecord) -> None:
        driver = self.driver(network.driver)
        current = self.sandbox_endpoints(sandbox.id)
        if any(e.network_id == network.id for e in current):
            raise Forbidden(f"endpoint with name {sandbox.name} already exists in network {network.name}")
        if sandbox.mode.startswith("container:"):
            raise InvalidParameter("container sharing network namespace with another container or host "
                                   "cannot be connected to any other network")
        if network.driver == "host" or sandbox.mode == "host":
            if current or sandbox.mode != "host":
                raise InvalidParameter("container cannot be disconnected from host network or connected to host network")
        if driver.capabilities().exclusive or any(self.networks[e.network_id].driver == "null" for e in current):
            if current:
                raise InvalidParameter("container cannot be connected to multiple networks with one of the "
                                       "networks in private (none) mode")
        if not network.ready:
            raise Unavailable(f"network {network.name} is not ready")

    async def _connect(self, network: NetworkRecord, sandbox: SandboxRecord, request: EndpointRequest) -> EndpointRecord:
        await self.load_driver(network.driver)
        self._check_connect(network, sandbox)
        endpoint = EndpointRecord(
            id=generate_id(), network_id=network.id, sandbox_id=sandbox.id, name=sandbox.name,
            aliases=list(dict.fromkeys(request.aliases)), links=list(request.links),
            driver_opts=dict(request.driver_opts), ipam_config=dict(request.ipam_config),
            created_seq=sandbox.next_seq,
        )
        sandbox.next_seq += 1
        self.store.put("sandbox", sandbox)
        self.store.put("endpoint", endpoint)
        self.endpoints.add(endpoint)
        async with contextlib.AsyncExitStack() as undo:
            undo.push_async_callback(self._forget_endpoint, endpoint)
            await self._allocate_addresses(network, endpoint, request, undo)
            self.store.put("endpoint", endpoint)
            await self._plumb_endpoint(network, sandbox, endpoint, request.mac_address, undo)
            await publish.program(self, sandbox, undo)
            endpoint.ready = True
            self.store.put("endpoint", endpoint)
            undo.pop_all()
        await self._after_topology_change(sandbox)
        log.info("endpoint connected", extra={
            "network": network.name, "sandbox": sandbox.name, "endpoint": short_id(endpoint.id),
            "ifname": endpoint.ifname, "ipv4": endpoint.ipv4, "ipv6": endpoint.ipv6})
        await self.events.publish(events.EndpointJoined(network_ref(network), endpoint_ref(endpoint, sandbox)))
        return endpoint

    async def _forget_endpoint(self, endpoint: EndpointRecord) -> None:
        self.endpoints.discard(endpoint.id)
        self.store.delete("endpoint", endpoint.id)

    async def _allocate_addresses(self, network: NetworkRecord, endpoint: EndpointRecord,
                                  request: EndpointRequest, undo: contextlib.AsyncExitStack) -> None:
        static = ipam_config.validate_endpoint_ipam(
            request.ipam_config, self._user_subnets(network.ipv4_pools), self._user_subnets(network.ipv6_pools),
            user_defined=not network.predefined, aliases=request.aliases)
        if not (network.ipv4_pools or network.ipv6_pools):
            return
        ipam = await self.load_ipam(network.ipam_driver)
        for version, pools, wanted in ((4, network.ipv4_pools, static.ipv4),
                                       (6, network.ipv6_pools, static.ipv6)):
            if not pools:
                continue
            address, pool_id = await self._allocate_address(network, ipam, pools, wanted, version)
            undo.push_async_callback(self._attempt, ipam.release_address, pool_id, address.ip)
            if version == 4:
                endpoint.ipv4, endpoint.ipv4_pool_id = str(address), pool_id
            else:
                endpoint.ipv6, endpoint.ipv6_pool_id = str(address), pool_id

    @staticmethod
    def _user_subnets(pools: list[PoolRecord]) -> list[ipam_config.SubnetSpec]:
        """The subnets a user configured (a static address must fall in one of them)."""
        return [ipam_config.SubnetSpec(
            subnet=ipaddress.ip_network(p.subnet),
            ip_range=ipaddress.ip_network(p.ip_range) if p.ip_range else None,
        ) for p in pools if p.user_config]

    async def _allocate_address(self, network: NetworkRecord, ipam: IpamDriver, pools: list[PoolRecord],
                                wanted, version: int):
        if wanted is not None:
            for pool in pools:
                if wanted in ipaddress.ip_network(pool.subnet):
                    return await self.kernel(ipam.request_address, AddressRequest(pool.pool_id, wanted)), pool.pool_id
            raise InvalidParameter(f"invalid address {wanted}: It does not belong to any of this network's subnets")
        for pool in pools:
            try:
                return await self.kernel(ipam.request_address, AddressRequest(pool.pool_id)), pool.pool_id
            except NoAvailableAddress:
                continue
        family = "IPv4" if version == 4 else "IPv6"
        raise NoAvailableAddress(f"no available {family} addresses on this network's address pools: "
                                 f"{network.name} ({network.id})")

    def _next_ifname(self, sandbox: SandboxRecord, prefix: str) -> str:
        taken = {e.ifname for e in self.sandbox_endpoints(sandbox.id)}
        index = 0
        while f"{prefix}{index}" in taken:
            index += 1
        return f"{prefix}{index}"

    async def _plumb_endpoint(self, network: NetworkRecord, sandbox: SandboxRecord, endpoint: EndpointRecord,
                              mac: str | None, undo: contextlib.AsyncExitStack) -> None:
        """Driver create/join and sandbox attach: each step idempotent, so a restart repeats them."""
        driver = await self.load_driver(network.driver)
        config = EndpointConfig(
            nid=network.id, eid=endpoint.id,
            ipv4=ipaddress.IPv4Interface(endpoint.ipv4) if endpoint.ipv4 else None,
            ipv6=ipaddress.IPv6Interface(endpoint.ipv6) if endpoint.ipv6 else None,
            mac=mac or endpoint.mac, options=endpoint.driver_opts,
        )
        info = await self.kernel(driver.create_endpoint, config)
        undo.push_async_callback(self._attempt, driver.delete_endpoint, network.id, endpoint.id)
        endpoint.mac = info.mac
        path = self.netns_path(sandbox)
        join: JoinInfo = await self.kernel(driver.join, network.id, endpoint.id, SandboxInfo(sandbox.id, path))
        undo.push_async_callback(self._attempt, driver.leave, network.id, endpoint.id)
        endpoint.gateway_v4 = str(join.gateway_v4) if join.gateway_v4 else None
        endpoint.gateway_v6 = str(join.gateway_v6) if join.gateway_v6 else None
        if join.src_name is None:
            return
        if endpoint.ifname is None:
            endpoint.ifname = self._next_ifname(sandbox, join.dst_prefix)
        self.store.put("endpoint", endpoint)
        attachment = Attachment(
            eid=endpoint.id, src_name=join.src_name, ifname=endpoint.ifname, mac=endpoint.mac, mtu=join.mtu,
            addresses=tuple(ipaddress.ip_interface(a) for a in (endpoint.ipv4, endpoint.ipv6) if a),
            routes=tuple((str(r.destination), str(r.next_hop) if r.next_hop else None) for r in join.static_routes),
        )
        await self.kernel(self.sandbox_kernel.attach, path, attachment)
        undo.push_async_callback(self._attempt, self.sandbox_kernel.detach, path, endpoint.id)

    async def disconnect(self, network_term: str, sandbox_term: str, force: bool = False) -> None:
        async with self._lock:
            network = self.find_network(network_term)
            try:
                sandbox = self.find_sandbox(sandbox_term)
            except NotFound:
                if not force:
                    raise
                # Docker's ForceEndpointDelete: drop a stale endpoint by name.
                stale = [e for e in self.network_endpoints(network.id) if e.name == sandbox_term.lstrip("/")]
                for endpoint in stale:
                    await self._remove_endpoint(endpoint)
                if not stale:
                    raise
                return
            if sandbox.mode == "host" or network.driver == "host":
                raise InvalidParameter("container cannot be disconnected from host network or connected to host network")
            endpoint = next((e for e in self.network_endpoints(network.id) if e.sandbox_id == sandbox.id), None)
            if endpoint is None:
                raise CnmError(f"container {sandbox.id} is not connected to the network {network.name}")
            await self._remove_endpoint(endpoint)
            await self._after_topology_change(sandbox)

    async def _remove_endpoint(self, endpoint: EndpointRecord) -> None:
        """Undo every step of connect, in reverse; each succeeds when already undone."""
        network = self.networks.get(endpoint.network_id)
        sandbox = self.sandboxes.get(endpoint.sandbox_id)
        was_connected, endpoint.ready = endpoint.ready, False
        self.store.put("endpoint", endpoint)
        driver, ipam, errors = await self._teardown_drivers(network)
        errors += await publish.revoke(self, endpoint)
        if sandbox is not None and endpoint.ifname:
            errors += await self._attempt(self.sandbox_kernel.detach, self.netns_path(sandbox), endpoint.id)
        if network is not None:
            if driver is not None:
                errors += await self._attempt(driver.leave, network.id, endpoint.id)
                errors += await self._attempt(driver.delete_endpoint, network.id, endpoint.id)
            for pool_id, address in ((endpoint.ipv4_pool_id, endpoint.ipv4), (endpoint.ipv6_pool_id, endpoint.ipv6)):
                if ipam and pool_id and address:
                    errors += await self._attempt(ipam.release_address, pool_id, ipaddress.ip_interface(address).ip)
        await self._forget_endpoint(endpoint)
        log.info("endpoint disconnected", extra={
            "network": network.name if network else endpoint.network_id[:12],
            "sandbox": endpoint.name, "endpoint": short_id(endpoint.id)})
        if network is not None and was_connected:
            await self.events.publish(events.EndpointLeft(network_ref(network), endpoint_ref(endpoint, sandbox)))
        if errors:
            raise CnmError("; ".join(errors))

    async def _teardown_drivers(self, network: NetworkRecord | None):
        """(driver, IPAM driver, failures): a teardown goes on without the ones that cannot be had (a dead plugin)."""
        driver = ipam = None
        errors: list[str] = []
        if network is None:
            return driver, ipam, errors
        try:
            driver = await self.load_driver(network.driver)
        except CnmError as err:
            errors.append(err.message)
        if network.ipv4_pools or network.ipv6_pools:
            try:
                ipam = await self.load_ipam(network.ipam_driver)
            except CnmError as err:
                errors.append(err.message)
        return driver, ipam, errors

    async def _attempt(self, fn: Callable, *args) -> list[str]:
        """Run a teardown step; collect its failure instead of stopping the teardown."""
        try:
            await self.kernel(fn, *args)
            return []
        except Exception as err:  # teardown keeps going and reports every failure
            log.warning("teardown step failed", extra={"step": getattr(fn, "__qualname__", str(fn)), "error": str(err)})
            return [str(err)]

    async def _after_topology_change(self, sandbox: SandboxRecord) -> None:
        """Default route via the first network (in connection order) that has a gateway; files."""
        if sandbox.mode == "default":
            endpoints = self.sandbox_endpoints(sandbox.id)
            path = self.netns_path(sandbox)
            for attr in ("gateway_v4", "gateway_v6"):
                first = next((e for e in endpoints if getattr(e, attr) and e.ifname), None)
                if first is not None:
                    gateway = ipaddress.ip_address(getattr(first, attr))
                    await self.kernel(self.sandbox_kernel.set_default_route, path, first.id, gateway)
            await publish.sync(self, sandbox)
        # Resolver first: whether the sandbox has one decides what resolv.conf says.
        await self.dns.sync(sandbox)
        await self._write_files(sandbox)

    # -- sandboxes ---------------------------------------------------------------

    async def create_sandbox(self, request: SandboxCreate) -> SandboxRecord:
        async with self._lock:
            return await self._create_sandbox(request)

    async def _create_sandbox(self, request: SandboxCreate) -> SandboxRecord:
        taken = {s.name for s in self.sandboxes.values()}
        name = request.name.lstrip("/") or random_name(taken)
        if name in taken:
            other = next(s for s in self.sandboxes.values() if s.name == name)
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container "{other.id}". '
                           "You have to remove (or rename) that container to be able to reuse that name.")
        attachments = request.networks or (NetworkAttachment("bridge"),)
        mode, networks, shared = self._sandbox_mode(attachments)
        self.dns.check_links(request.links, attachments)
        sid = generate_id()
        record = SandboxRecord(
            id=sid, name=name, hostname=request.hostname or sid[:12], created=now_rfc3339(),
            netns_path="", mode=mode, port_bindings=dict(request.port_bindings),
            exposed_ports=list(request.exposed_ports), publish_all=request.publish_all,
            dns=list(request.dns), dns_search=list(request.dns_search), dns_options=list(request.dns_options),
            extra_hosts=list(request.extra_hosts), links=list(request.links),
        )
        if shared is not None:
            record.netns_path, record.owns_netns = shared.netns_path, False
            record.mode = f"container:{shared.id}"
        elif mode == "host":
            record.owns_netns = False
        elif request.netns_path:
            if not os.path.isabs(request.netns_path) or not await self.kernel(Sandboxes.exists, request.netns_path):
                raise InvalidParameter(f"{request.netns_path} is not a network namespace")
            st = os.stat(request.netns_path)
            record.netns_path, record.owns_netns = request.netns_path, False
            record.netns_identity = (st.st_dev, st.st_ino)
        else:
            record.netns_path = self.sandbox_kernel.path_for(sid)
        self.store.put("sandbox", record)
        self.sandboxes[sid] = record
        try:
            if record.owns_netns:
                await self.kernel(self.sandbox_kernel.ensure_namespace, record.netns_path)
            await self._write_files(record)
            for attachment in networks:
                await self._connect(self.find_network(attachment.network), record, attachment.endpoint)
            record.ready = True
            self.store.put("sandbox", record)
        except BaseException:
            await self._delete_sandbox(record)
            raise
        log.info("sandbox created", extra={"sandbox": name, "id": short_id(sid), "mode": record.mode,
                                           "netns": self.netns_path(record)})
        return record

    def _sandbox_mode(self, attachments: Iterable[NetworkAttachment]):
        """(mode, attachments to connect, sandbox whose namespace is shared)."""
        attachments = list(attachments)
        special = [a for a in attachments if a.network.startswith("container:")
                   or self._network_driver(a.network) in ("host", "null")]
        if special and len(attachments) > 1:
            first = special[0].network
            if first.startswith("container:") or self._network_driver(first) == "host":
                raise InvalidParameter("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
            raise InvalidParameter("container cannot be connected to multiple networks with one of the networks "
                                   "in private (none) mode")
        if special and special[0].network.startswith("container:"):
            other = self.find_sandbox(special[0].network.split(":", 1)[1])
            while other.mode.startswith("container:"):
                other = self.sandboxes[other.mode.split(":", 1)[1]]
            if other.mode == "host":
                return "host", [], None
            return "container", [], other
        if special and self._network_driver(special[0].network) == "host":
            return "host", attachments, None
        return "default", attachments, None

    def _network_driver(self, term: str) -> str | None:
        try:
            return self.find_network(term).driver
        except CnmError:
            return None

    async def delete_sandbox(self, term: str, force: bool = False) -> SandboxRecord:
        async with self._lock:
            record = self.find_sandbox(term)
            sharing = [s.name for s in self.sandboxes.values() if s.mode == f"container:{record.id}"]
            if sharing:
                raise Conflict(f"cannot remove sandbox {record.name}: its namespace is shared by {', '.join(sharing)}")
            endpoints = self.sandbox_endpoints(record.id)
            if endpoints and not force and record.mode == "default":
                names = ", ".join(self.networks[e.network_id].name for e in endpoints)
                raise Conflict(f"You cannot remove sandbox {record.name}: it is connected to {names}. "
                               "Disconnect it first or force the removal (-f)")
            await self._delete_sandbox(record)
            return record

    async def _delete_sandbox(self, record: SandboxRecord) -> None:
        record.ready = False
        self.store.put("sandbox", record)
        errors = []
        for endpoint in reversed(self.sandbox_endpoints(record.id)):
            try:
                await self._remove_endpoint(endpoint)
            except CnmError as err:
                errors.append(err.message)
        # Its sockets would keep the namespace alive: close them before removing it.
        await self.dns.remove(record)
        if record.owns_netns and record.netns_path:
            await self.kernel(self.sandbox_kernel.remove_namespace, record.netns_path)
        elif record.netns_path:
            await self.kernel(self.sandbox_kernel.forget, record.netns_path)
        shutil.rmtree(os.path.join(self.files_root, record.id), ignore_errors=True)
        self.sandboxes.pop(record.id, None)
        self.store.delete("sandbox", record.id)
        log.info("sandbox removed", extra={"sandbox": record.name, "id": short_id(record.id)})
        if errors:
            raise CnmError("; ".join(errors))

    def sandbox_file(self, record: SandboxRecord, name: str) -> str:
        return os.path.join(self.files_root, record.id, name)

    async def _write_files(self, record: SandboxRecord) -> None:
        os.makedirs(os.path.join(self.files_root, record.id), exist_ok=True)
        endpoints = self.sandbox_endpoints(record.id)
        if record.mode.startswith("container:"):
            owner = self.sandboxes.get(record.mode.split(":", 1)[1])
            endpoints = self.sandbox_endpoints(owner.id) if owner else []
        host_conf = etcfiles.read_host_resolv_conf(self.settings.resolv_conf)
        ipv6 = any(e.ipv6 for e in endpoints)
        conf = etcfiles.legacy_resolv_conf(host_conf, ipv6)
        dns = tuple(record.dns) or self.settings.dns
        if dns or record.dns_search or record.dns_options:
            conf = etcfiles.ResolvConf(
                dns or conf.nameservers, tuple(record.dns_search) or conf.search,
                tuple(record.dns_options) or conf.options)
        conf = self.dns.resolv_conf(record, host_conf) or conf
        entries = []
        for endpoint in endpoints:
            for address in (endpoint.ipv4, endpoint.ipv6):
                if address:
                    entries.append((str(ipaddress.ip_interface(address).ip), [record.hostname]))
        entries += self.dns.link_hosts(record)
        for extra in record.extra_hosts:
            host, _, address = extra.partition(":")
            entries.append((address, [host]))
        etcfiles.write_in_place(self.sandbox_file(record, "resolv.conf"), etcfiles.render_resolv_conf(conf))
        etcfiles.write_in_place(self.sandbox_file(record, "hosts"), etcfiles.render_hosts(entries, ipv6))
        etcfiles.write_in_place(self.sandbox_file(record, "hostname"), record.hostname + "\n")

    async def _watch_adopted(self) -> None:
        """Notice adopted namespaces that vanished and release their endpoints and addresses."""
        while True:
            await asyncio.sleep(self.settings.adopted_poll_interval)
            for record in [s for s in self.sandboxes.values() if s.netns_identity and s.ready]:
                if self._identity_of(record.netns_path) == record.netns_identity:
                    continue
                async with self._lock:
                    if record.id not in self.sandboxes:
                        continue
                    log.info("adopted namespace gone", extra={"sandbox": record.name, "netns": record.netns_path})
                    with contextlib.suppress(CnmError):
                        await self._delete_sandbox(record)

    @staticmethod
    def _identity_of(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)
