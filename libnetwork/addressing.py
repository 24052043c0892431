"""Addresses from IPAM: a network's pools and gateway, an endpoint's addresses, and their release.

Every allocation pushes its release on the request's undo stack, so a
request that fails half way returns what it took.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import TYPE_CHECKING

from .errors import CnmError, InvalidParameter, NoAvailableAddress, NotFound
from .ipam import config as ipam_config
from .ipam.api import GATEWAY_ADDRESS_TYPE, REQUEST_ADDRESS_TYPE, AddressRequest, IpamDriver, PoolRequest
from .model import EndpointRecord, NetworkRecord, PoolRecord
from .requests import EndpointRequest, SubnetRequest
from .settings import default_bridge_subnet

if TYPE_CHECKING:
    from .controller import Controller

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


async def allocate_pools(ctl: Controller, record: NetworkRecord, ipam: IpamDriver,
                         subnets: tuple[SubnetRequest, ...], undo: contextlib.AsyncExitStack) -> None:
    v4: list[SubnetRequest | None] = [s for s in subnets if s.subnet.version == 4]
    v6: list[SubnetRequest | None] = [s for s in subnets if s.subnet.version == 6]
    if not v4:
        v4 = [None]
    if record.enable_ipv6 and not v6:
        v6 = [None]
    elif not record.enable_ipv6:
        v6 = []
    for v6_pool, specs, target in ((False, v4, record.ipv4_pools), (True, v6, record.ipv6_pools)):
        for spec in specs:
            target.append(await _allocate_pool(ctl, record, ipam, spec, v6_pool, undo))


async def _allocate_pool(ctl: Controller, record: NetworkRecord, ipam: IpamDriver, spec: SubnetRequest | None,
                         v6: bool, undo: contextlib.AsyncExitStack) -> PoolRecord:
    if spec is None and not v6 and record.is_default_bridge:
        spec = default_bridge_subnet(ctl.settings)
    space, _ = await ctl.run(ipam.default_address_spaces)
    request = PoolRequest(
        address_space=space, pool=spec.subnet if spec else None,
        sub_pool=spec.ip_range if spec else None, options=record.ipam_options or {}, v6=v6,
    )
    pool = await ctl.run(ipam.request_pool, request)
    undo.push_async_callback(ctl.attempt, ipam.release_pool, pool.pool_id)
    wanted_gateway = spec.gateway if spec else None
    try:
        gateway = await ctl.run(ipam.request_address, AddressRequest(
            pool.pool_id, wanted_gateway, {REQUEST_ADDRESS_TYPE: GATEWAY_ADDRESS_TYPE}))
    except CnmError as err:
        raise type(err)(f"failed to allocate gateway ({wanted_gateway or ''}): {err.message}") from err
    undo.push_async_callback(ctl.attempt, ipam.release_address, pool.pool_id, gateway.ip)
    aux: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}
    for key, address in (spec.aux_addresses.items() if spec else ()):
        try:
            await ctl.run(ipam.request_address, AddressRequest(pool.pool_id, address))
        except CnmError as err:
            raise type(err)(f"failed to allocate secondary ip address ({key}:{address}): {err.message}") from err
        undo.push_async_callback(ctl.attempt, ipam.release_address, pool.pool_id, address)
        aux[key] = address
    return PoolRecord(
        pool_id=pool.pool_id, subnet=pool.pool, gateway=gateway,
        ip_range=spec.ip_range if spec and spec.ip_range else None,
        aux_addresses=aux, user_config=dict(spec.user_config) if spec else None, address_space=space,
    )


async def release_pool(ctl: Controller, ipam: IpamDriver, pool: PoolRecord) -> None:
    for address in list(pool.aux_addresses.values()) + ([pool.gateway.ip] if pool.gateway else []):
        with contextlib.suppress(NotFound):
            await ctl.run(ipam.release_address, pool.pool_id, address)
    with contextlib.suppress(NotFound):
        await ctl.run(ipam.release_pool, pool.pool_id)


async def allocate_endpoint(ctl: Controller, network: NetworkRecord, endpoint: EndpointRecord,
                            request: EndpointRequest, undo: contextlib.AsyncExitStack) -> None:
    """The endpoint's IPv4 and IPv6 addresses: static ones checked by Docker's rules, else the next free."""
    static = ipam_config.validate_endpoint_ipam(
        request.ipam_config, _user_subnets(network.ipv4_pools), _user_subnets(network.ipv6_pools),
        user_defined=not network.predefined, aliases=request.aliases)
    if not (network.ipv4_pools or network.ipv6_pools):
        return
    ipam = await ctl.registry.load_ipam(network.ipam_driver)
    for version, pools, wanted in ((4, network.ipv4_pools, static.ipv4), (6, network.ipv6_pools, static.ipv6)):
        if not pools:
            continue
        address, pool_id = await _allocate_address(ctl, network, ipam, pools, wanted, version)
        undo.push_async_callback(ctl.attempt, ipam.release_address, pool_id, address.ip)
        if isinstance(address, ipaddress.IPv4Interface):
            endpoint.ipv4, endpoint.ipv4_pool_id = address, pool_id
        else:
            endpoint.ipv6, endpoint.ipv6_pool_id = address, pool_id


def _user_subnets(pools: list[PoolRecord]) -> list[ipam_config.SubnetSpec]:
    """The subnets a user configured (a static address must fall in one of them)."""
    return [ipam_config.SubnetSpec(
        subnet=p.subnet, ip_range=p.ip_range,
    ) for p in pools if p.user_config]


async def _allocate_address(ctl: Controller, network: NetworkRecord, ipam: IpamDriver, pools: list[PoolRecord],
                            wanted: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
                            version: int) -> tuple[IPInterface, str]:
    if wanted is not None:
        for pool in pools:
            if wanted in pool.subnet:
                return await ctl.run(ipam.request_address, AddressRequest(pool.pool_id, wanted)), pool.pool_id
        raise InvalidParameter(f"invalid address {wanted}: It does not belong to any of this network's subnets")
    for pool in pools:
        try:
            return await ctl.run(ipam.request_address, AddressRequest(pool.pool_id)), pool.pool_id
        except NoAvailableAddress:
            continue
    family = "IPv4" if version == 4 else "IPv6"
    raise NoAvailableAddress(f"no available {family} addresses on this network's address pools: "
                             f"{network.name} ({network.id})")


async def release_endpoint(ctl: Controller, network: NetworkRecord, endpoint: EndpointRecord,
                           ipam: IpamDriver | None) -> list[str]:
    """Return the endpoint's addresses; answers the failures (teardown goes on)."""
    errors: list[str] = []
    for pool_id, address in ((endpoint.ipv4_pool_id, endpoint.ipv4), (endpoint.ipv6_pool_id, endpoint.ipv6)):
        if ipam and pool_id and address:
            errors += await ctl.attempt(ipam.release_address, pool_id, address.ip)
    return errors
