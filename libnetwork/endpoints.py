"""Endpoints: connect a sandbox to a network (addresses, driver, plumbing, ports) and disconnect it.

Records first, kernel second, as for networks.  A connect is committed when
its record is ready; then it is published on the event bus as
``EndpointJoined``, and DNS, the sandbox's files and port publishing follow
from the event, as they do for an endpoint that another host announces.
The caller holds the locks of the sandbox and the network.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from . import addressing, events, publish, rules
from .drivers.api import EndpointConfig, JoinInfo, SandboxInfo
from .errors import CnmError
from .ids import generate_id, short_id
from .ipam.api import IpamDriver
from .model import EndpointRecord, NetworkRecord, SandboxRecord
from .networks import network_ref
from .requests import EndpointRequest
from .resolvers import dns_names
from .sandbox_kernel import Attachment

if TYPE_CHECKING:
    from .controller import Controller
    from .drivers.api import Driver

log = logging.getLogger("cnmd")


def endpoint_ref(endpoint: EndpointRecord, sandbox: SandboxRecord | None) -> events.EndpointRef:
    return events.EndpointRef(
        id=endpoint.id, network_id=endpoint.network_id, sandbox_id=endpoint.sandbox_id, name=endpoint.name,
        dns_names=dns_names(endpoint, sandbox) if sandbox else (endpoint.name,),
        ipv4=endpoint.ipv4, ipv6=endpoint.ipv6,
        mac=endpoint.mac, order=endpoint.created_seq, service=endpoint.service)


async def connect(ctl: Controller, network: NetworkRecord, sandbox: SandboxRecord,
                  request: EndpointRequest) -> EndpointRecord:
    driver = await ctl.registry.load_driver(network.driver)
    current = ctl.sandbox_endpoints(sandbox.id)
    rules.check_connect(
        network.name, network.ready, driver.capabilities(), sandbox,
        [ctl.registry.capabilities(ctl.networks[e.network_id].driver) for e in current if e.network_id in ctl.networks],
        already_on=any(e.network_id == network.id for e in current))
    endpoint = EndpointRecord(
        id=generate_id(), network_id=network.id, sandbox_id=sandbox.id, name=sandbox.name,
        aliases=list(dict.fromkeys(request.aliases)), links=list(request.links),
        driver_opts=dict(request.driver_opts), ipam_config=dict(request.ipam_config),
        created_seq=sandbox.next_seq, service=request.service,
    )
    sandbox.next_seq += 1
    ctl.store.put("sandbox", sandbox)
    ctl.store.put("endpoint", endpoint)
    ctl.endpoints.add(endpoint)
    async with contextlib.AsyncExitStack() as undo:
        undo.push_async_callback(_forget, ctl, endpoint)
        await addressing.allocate_endpoint(ctl, network, endpoint, request, undo)
        ctl.store.put("endpoint", endpoint)
        await plumb(ctl, network, sandbox, endpoint, request.mac_address, undo)
        await publish.program(ctl, sandbox, undo)
        endpoint.ready = True
        ctl.store.put("endpoint", endpoint)
        undo.pop_all()
    await set_default_routes(ctl, sandbox)
    log.info("endpoint connected", extra={
        "network": network.name, "sandbox": sandbox.name, "endpoint": short_id(endpoint.id),
        "ifname": endpoint.ifname, "ipv4": str(endpoint.ipv4 or ""), "ipv6": str(endpoint.ipv6 or "")})
    await ctl.events.publish(events.EndpointJoined(network_ref(network), endpoint_ref(endpoint, sandbox)))
    return endpoint


async def _forget(ctl: Controller, endpoint: EndpointRecord) -> None:
    ctl.endpoints.discard(endpoint.id)
    ctl.store.delete("endpoint", endpoint.id)


async def plumb(ctl: Controller, network: NetworkRecord, sandbox: SandboxRecord, endpoint: EndpointRecord,
                mac: str | None, undo: contextlib.AsyncExitStack) -> None:
    """Driver create/join and sandbox attach: each step idempotent, so a restart repeats them."""
    driver = await ctl.registry.load_driver(network.driver)
    config = EndpointConfig(
        nid=network.id, eid=endpoint.id,
        ipv4=endpoint.ipv4, ipv6=endpoint.ipv6,
        mac=mac or endpoint.mac, options=endpoint.driver_opts,
    )
    info = await ctl.run(driver.create_endpoint, config)
    undo.push_async_callback(ctl.attempt, driver.delete_endpoint, network.id, endpoint.id)
    endpoint.mac = info.mac
    path = ctl.netns_path(sandbox)
    join: JoinInfo = await ctl.run(driver.join, network.id, endpoint.id, SandboxInfo(sandbox.id, path))
    undo.push_async_callback(ctl.attempt, driver.leave, network.id, endpoint.id)
    endpoint.gateway_v4, endpoint.gateway_v6 = join.gateway_v4, join.gateway_v6
    if join.src_name is None:
        return
    if endpoint.ifname is None:
        endpoint.ifname = rules.next_ifname((e.ifname for e in ctl.sandbox_endpoints(sandbox.id)), join.dst_prefix)
    ctl.store.put("endpoint", endpoint)
    attachment = Attachment(
        eid=endpoint.id, src_name=join.src_name, ifname=endpoint.ifname, mac=endpoint.mac, mtu=join.mtu,
        addresses=tuple(a for a in (endpoint.ipv4, endpoint.ipv6) if a),
        routes=tuple((str(r.destination), str(r.next_hop) if r.next_hop else None) for r in join.static_routes),
        neighbour_retrans_ms=join.neighbour_retrans_ms,
    )
    await ctl.run(ctl.sandbox_kernel.attach, path, attachment)
    undo.push_async_callback(ctl.attempt, ctl.sandbox_kernel.detach, path, endpoint.id)


async def set_default_routes(ctl: Controller, sandbox: SandboxRecord) -> None:
    """Default route via the first network (in connection order) that has a gateway, per family."""
    if sandbox.mode != "default":
        return
    endpoints = ctl.sandbox_endpoints(sandbox.id)
    path = ctl.netns_path(sandbox)
    for attr in ("gateway_v4", "gateway_v6"):
        first = next((e for e in endpoints if getattr(e, attr) and e.ifname), None)
        if first is not None:
            await ctl.run(ctl.sandbox_kernel.set_default_route, path, first.id, getattr(first, attr))


async def disconnect(ctl: Controller, network: NetworkRecord, sandbox: SandboxRecord) -> None:
    rules.check_disconnect(ctl.registry.capabilities(network.driver), sandbox)
    endpoint = next((e for e in ctl.network_endpoints(network.id) if e.sandbox_id == sandbox.id), None)
    if endpoint is None:
        raise CnmError(f"container {sandbox.id} is not connected to the network {network.name}")
    await remove(ctl, endpoint)
    await set_default_routes(ctl, sandbox)


async def remove(ctl: Controller, endpoint: EndpointRecord, *, sandbox_leaving: bool = False) -> None:
    """Undo every step of connect, in reverse; each succeeds when already undone."""
    network = ctl.networks.get(endpoint.network_id)
    sandbox = ctl.sandboxes.get(endpoint.sandbox_id)
    was_connected, endpoint.ready = endpoint.ready, False
    ctl.store.put("endpoint", endpoint)
    driver, ipam, errors = await _teardown_drivers(ctl, network)
    errors += await publish.revoke(ctl, endpoint)
    if sandbox is not None and endpoint.ifname:
        errors += await ctl.attempt(ctl.sandbox_kernel.detach, ctl.netns_path(sandbox), endpoint.id)
    if network is not None:
        if driver is not None:
            errors += await ctl.attempt(driver.leave, network.id, endpoint.id)
            errors += await ctl.attempt(driver.delete_endpoint, network.id, endpoint.id)
        errors += await addressing.release_endpoint(ctl, network, endpoint, ipam)
    await _forget(ctl, endpoint)
    log.info("endpoint disconnected", extra={
        "network": network.name if network else endpoint.network_id[:12],
        "sandbox": endpoint.name, "endpoint": short_id(endpoint.id)})
    if network is not None and was_connected:
        await ctl.events.publish(events.EndpointLeft(
            network_ref(network), endpoint_ref(endpoint, sandbox), sandbox_leaving=sandbox_leaving))
    if errors:
        raise CnmError("; ".join(errors))


async def _teardown_drivers(ctl: Controller, network: NetworkRecord | None
                            ) -> tuple[Driver | None, IpamDriver | None, list[str]]:
    """(driver, IPAM driver, failures): a teardown goes on without the ones that cannot be had (a dead plugin)."""
    driver: Driver | None = None
    ipam: IpamDriver | None = None
    errors: list[str] = []
    if network is None:
        return driver, ipam, errors
    try:
        driver = await ctl.registry.load_driver(network.driver)
    except CnmError as err:
        errors.append(err.message)
    if network.ipv4_pools or network.ipv6_pools:
        try:
            ipam = await ctl.registry.load_ipam(network.ipam_driver)
        except CnmError as err:
            errors.append(err.message)
    return driver, ipam, errors
