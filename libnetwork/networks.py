"""Networks: create (pools, driver), delete, prune, and the predefined ones.

Records first, kernel second: the record is written not ready before the
first driver or IPAM call and marked ready after the last, with an undo
stack in between, so a failure unwinds and a crash leaves a record the next
start rolls back.  The caller holds the network's lock.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from typing import TYPE_CHECKING

from . import addressing, events
from .drivers.api import GLOBAL_SCOPE, NetworkConfig, SubnetData
from .errors import CnmError, Conflict, Forbidden, InvalidParameter
from .ids import generate_id, now_rfc3339, short_id
from .model import NetworkRecord, PoolRecord
from .plugins import DRIVER_ALIASES
from .requests import NetworkCreate
from .swarm_scope import SWARM_IPAM, CreateRequest, GlobalNetworkView, GlobalSubnet, pool_id

if TYPE_CHECKING:
    from .controller import Controller

log = logging.getLogger("cnmd")

PREDEFINED = (("none", "null"), ("host", "host"), ("bridge", "bridge"))
PREDEFINED_NAMES = tuple(name for name, _ in PREDEFINED) + ("default",)
ZERO_TIME = "0001-01-01T00:00:00Z"


def network_ref(record: NetworkRecord) -> events.NetworkRef:
    return events.NetworkRef(id=record.id, name=record.name, driver=record.driver, scope=record.scope,
                             predefined=record.predefined, internal=record.internal)


def check_name(ctl: Controller, name: str, predefined: bool) -> None:
    if not name.strip():
        raise InvalidParameter(f"invalid name: {name}")
    if name in PREDEFINED_NAMES and not predefined:
        raise Forbidden(f"operation is not permitted on predefined {name} network ")
    if any(n.name == name for n in ctl.networks.values()):
        raise Conflict(f"network with name {name} already exists")


async def create(ctl: Controller, request: NetworkCreate, nid: str, *, predefined: bool = False) -> NetworkRecord:
    name = request.name
    check_name(ctl, name, predefined)
    driver_name = DRIVER_ALIASES.get(request.driver or "bridge", request.driver or "bridge")
    driver = await ctl.registry.load_driver(driver_name)
    caps = driver.capabilities()
    if caps.scope == GLOBAL_SCOPE and not predefined:
        definition = await ctl.swarm.create_network(nid, swarm_request(request, driver_name))
        try:
            return await instantiate(ctl, definition)
        except BaseException:
            with contextlib.suppress(CnmError):
                await ctl.swarm.delete_network(nid)
            raise
    if caps.exclusive and not predefined:
        raise Forbidden(f'only one instance of "{driver_name}" network is allowed')
    if request.config_from:
        raise InvalidParameter("config-from networks are not supported")
    ipam = None if caps.exclusive else await ctl.registry.load_ipam(request.ipam_driver)
    # Loading a plugin awaited: another request may have taken the name meanwhile.
    check_name(ctl, name, predefined)
    record = NetworkRecord(
        id=nid, name=name, driver=driver_name,
        created=ZERO_TIME if caps.exclusive else now_rfc3339(),
        scope=caps.scope, enable_ipv6=request.enable_ipv6, internal=request.internal,
        attachable=request.attachable, ingress=request.ingress, config_only=request.config_only,
        options=dict(request.options), labels=dict(request.labels),
        ipam_driver=request.ipam_driver or "default",
        ipam_options=dict(request.ipam_options) if request.ipam_options is not None else None,
        predefined=predefined,
    )
    ctl.store.put("network", record)
    ctl.networks[record.id] = record
    try:
        async with contextlib.AsyncExitStack() as undo:
            if ipam is not None:
                await addressing.allocate_pools(ctl, record, ipam, request.subnets, undo)
            ctl.store.put("network", record)
            await ctl.run(driver.create_network, network_config(record))
            undo.push_async_callback(ctl.attempt, driver.delete_network, record.id)
            record.ready = True
            ctl.store.put("network", record)
            undo.pop_all()
    except BaseException:
        ctl.networks.pop(record.id, None)
        ctl.store.delete("network", record.id)
        raise
    log.info("network created", extra={"network": name, "id": short_id(record.id), "driver": driver_name})
    await ctl.events.publish(events.NetworkCreated(network_ref(record)))
    return record


def swarm_request(request: NetworkCreate, driver: str) -> CreateRequest:
    if request.config_from or request.config_only:
        raise InvalidParameter("config-only networks are not supported for swarm networks")
    return CreateRequest(
        name=request.name, driver=driver, attachable=request.attachable, internal=request.internal,
        ingress=request.ingress, enable_ipv6=request.enable_ipv6, options=dict(request.options),
        labels=dict(request.labels),
        subnets=tuple(GlobalSubnet(subnet=str(s.subnet), gateway=str(s.gateway or ""),
                                   ip_range=str(s.ip_range or "")) for s in request.subnets))


async def instantiate(ctl: Controller, definition: GlobalNetworkView) -> NetworkRecord:
    """This node's instance of a swarm network: the definition's pools and options, the driver's kernel steps."""
    pools: dict[int, list[PoolRecord]] = {4: [], 6: []}
    for subnet in definition.subnets:
        network = ipaddress.ip_network(subnet.subnet)
        pools[network.version].append(PoolRecord(
            pool_id=pool_id(definition.id, subnet.subnet), subnet=network,
            gateway=ipaddress.ip_interface(f"{subnet.gateway}/{network.prefixlen}") if subnet.gateway else None,
            ip_range=ipaddress.ip_network(subnet.ip_range) if subnet.ip_range else None,
            user_config={"Subnet": subnet.subnet, "Gateway": subnet.gateway}, address_space="GlobalDefault"))
    record = NetworkRecord(
        id=definition.id, name=definition.name, driver=definition.driver, created=definition.created,
        scope="swarm", enable_ipv6=definition.enable_ipv6, internal=definition.internal,
        attachable=definition.attachable, ingress=definition.ingress, options=dict(definition.options),
        labels=dict(definition.labels), ipam_driver=SWARM_IPAM, ipam_options={},
        ipv4_pools=pools[4], ipv6_pools=pools[6])
    driver = await ctl.registry.load_driver(record.driver)
    ctl.store.put("network", record)
    ctl.networks[record.id] = record
    try:
        await ctl.discover_self()  # this node may have joined its swarm since the driver was told
        await ctl.run(driver.create_network, network_config(record))
        record.ready = True
        ctl.store.put("network", record)
    except BaseException:
        ctl.networks.pop(record.id, None)
        ctl.store.delete("network", record.id)
        raise
    log.info("network created", extra={"network": record.name, "id": short_id(record.id), "driver": record.driver,
                                       "scope": "swarm"})
    await ctl.events.publish(events.NetworkCreated(network_ref(record)))
    return record


def network_config(record: NetworkRecord) -> NetworkConfig:
    def subnets(pools: list[PoolRecord]) -> tuple[SubnetData, ...]:
        return tuple(SubnetData(
            subnet=p.subnet, gateway=p.gateway, aux_addresses=dict(p.aux_addresses),
            address_space=p.address_space,
        ) for p in pools)

    return NetworkConfig(
        nid=record.id, name=record.name, options=record.options,
        ipv4=subnets(record.ipv4_pools), ipv6=subnets(record.ipv6_pools),
        internal=record.internal, enable_ipv6=record.enable_ipv6,
        default_bridge=record.is_default_bridge,
    )


def check_delete(ctl: Controller, record: NetworkRecord) -> None:
    if record.predefined:
        raise Forbidden(f"{record.name} is a pre-defined network and cannot be removed")
    endpoints = ctl.network_endpoints(record.id)
    if endpoints:
        names = ", ".join(sorted(e.name for e in endpoints))
        raise Forbidden(f"error while removing network: network {record.name} id {record.id} "
                        f"has active endpoints ({names})")


async def delete(ctl: Controller, record: NetworkRecord) -> None:
    """Undo every step of create; each is idempotent, so this also rolls back a half-made one."""
    record.ready = False
    ctl.store.put("network", record)
    driver = await ctl.registry.load_driver(record.driver)
    await ctl.run(driver.delete_network, record.id)
    if record.scope == "swarm":
        pass  # the pools are the definition's, released when the managers delete it
    elif record.ipv4_pools or record.ipv6_pools:
        ipam = await ctl.registry.load_ipam(record.ipam_driver)
        for pool in record.ipv4_pools + record.ipv6_pools:
            await addressing.release_pool(ctl, ipam, pool)
    ctl.networks.pop(record.id, None)
    ctl.store.delete("network", record.id)
    log.info("network removed", extra={"network": record.name, "id": short_id(record.id)})
    await ctl.events.publish(events.NetworkRemoved(network_ref(record)))


async def ensure_predefined(ctl: Controller) -> None:
    present = {n.name for n in ctl.networks.values() if n.predefined}
    for name, driver in PREDEFINED:
        if name not in present:
            await create(ctl, NetworkCreate(name=name, driver=driver), generate_id(), predefined=True)
