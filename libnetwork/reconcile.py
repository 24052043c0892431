"""Restart: bring the records back and make the kernel match them.

Ready records are replayed through the same idempotent steps that created
them (IPAM requests with the recorded values, driver create/join, sandbox
attach), which recreates whatever is missing.  Records a crash left not
ready are rolled back, and namespaces under the exec root that no record
owns are removed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
from typing import TYPE_CHECKING

from . import endpoints, events, networks, sandboxes
from .drivers.api import Restorable
from .errors import CnmError
from .ipam.api import GATEWAY_ADDRESS_TYPE, REQUEST_ADDRESS_TYPE, AddressRequest, PoolRequest
from .model import IPAddress, NetworkRecord, SandboxRecord

if TYPE_CHECKING:
    from .controller import Controller

log = logging.getLogger("cnmd")


async def restore(ctl: Controller) -> None:
    for record in ctl.store.load("network"):
        ctl.networks[record.id] = record
    for record in ctl.store.load("sandbox"):
        ctl.sandboxes[record.id] = record
    for record in ctl.store.load("endpoint"):
        ctl.endpoints.add(record)
    if not (ctl.networks or ctl.sandboxes):
        return
    log.info("restoring state", extra={"networks": len(ctl.networks), "sandboxes": len(ctl.sandboxes),
                                       "endpoints": len(ctl.endpoints)})
    ready = [n for n in ctl.networks.values() if n.ready]
    await _replay_pools(ctl, ready)
    for network in ready:
        await _restore_network(ctl, network)
    for sandbox in [s for s in ctl.sandboxes.values() if s.ready]:
        await _restore_sandbox_namespace(ctl, sandbox)
    for endpoint in sorted(ctl.endpoints.values(), key=lambda e: e.created_seq):
        if endpoint.ready and endpoint.sandbox_id in ctl.sandboxes and endpoint.network_id in ctl.networks:
            await _restore_endpoint(ctl, endpoint)
    await _roll_back_unfinished(ctl)
    await _remove_orphan_namespaces(ctl)
    for sandbox in list(ctl.sandboxes.values()):
        await _refresh_sandbox(ctl, sandbox)


async def _refresh_sandbox(ctl: Controller, sandbox: SandboxRecord) -> None:
    """Routes, then what follows from each endpoint (names, files, ports) as from a connect."""
    await endpoints.set_default_routes(ctl, sandbox)
    ready = [e for e in ctl.sandbox_endpoints(sandbox.id) if e.ready and e.network_id in ctl.networks]
    for endpoint in ready:
        await ctl.events.publish(events.EndpointJoined(
            networks.network_ref(ctl.networks[endpoint.network_id]), endpoints.endpoint_ref(endpoint, sandbox),
            restored=True))
    if not ready:
        ctl.files.write(sandbox)


async def drivers_restored(ctl: Controller) -> None:
    """Every record is replayed: drivers drop kernel state that none asked for."""
    for name, driver in ctl.registry.drivers.items():
        if isinstance(driver, Restorable):
            try:
                await ctl.run(driver.restore_done)
            except Exception as err:
                log.error("driver reconciliation failed", extra={"driver": name, "error": str(err)})


def _replayed(loaded: dict, name: str):
    """The loaded driver ``name`` if it wants its records replayed at start, else None.

    One that is not loaded is a Docker plugin (looked up on first use), and a
    plugin keeps its own state across restarts, as it does with Docker.
    """
    driver = loaded.get(name)
    return driver if driver is not None and driver.capabilities().restore_by_replay else None


async def _restore_network(ctl: Controller, network: NetworkRecord) -> None:
    driver = _replayed(ctl.registry.drivers, network.driver)
    if driver is None:
        log.debug("network not replayed: its driver keeps its own state", extra={"network": network.name})
        return
    try:
        await ctl.run(driver.create_network, networks.network_config(network))
        log.debug("network restored", extra={"network": network.name})
    except Exception as err:
        log.error("network restore failed", extra={"network": network.name, "error": str(err)})


async def _replay_pools(ctl: Controller, networks: list[NetworkRecord]) -> None:
    """Whole-subnet pools first: an ip-range pool shares its subnet with them, as it did live."""
    replays = []
    for network in networks:
        if not (network.ipv4_pools or network.ipv6_pools):
            continue
        ipam = _replayed(ctl.registry.ipams, network.ipam_driver or "default")
        if ipam is None:
            continue
        for v6, pools in ((False, network.ipv4_pools), (True, network.ipv6_pools)):
            replays += [(pool.ip_range is not None, network, ipam, v6, pool) for pool in pools]
    replays.sort(key=lambda item: item[0])
    for _, network, ipam, v6, pool in replays:
        try:
            await ctl.run(ipam.request_pool, PoolRequest(
                address_space=pool.address_space, pool=pool.subnet, sub_pool=pool.ip_range,
                options=network.ipam_options or {}, v6=v6))
        except CnmError as err:
            log.error("pool restore failed",
                      extra={"network": network.name, "pool": str(pool.subnet), "error": err.message})
    for _, network, ipam, _v6, pool in replays:
        addresses: list[tuple[IPAddress, dict[str, str]]] = [(a, {}) for a in pool.aux_addresses.values()]
        if pool.gateway:
            addresses.append((pool.gateway.ip, {REQUEST_ADDRESS_TYPE: GATEWAY_ADDRESS_TYPE}))
        for address, options in addresses:
            try:
                await ctl.run(ipam.request_address, AddressRequest(pool.pool_id, address, options))
            except CnmError as err:
                log.error("address restore failed",
                          extra={"network": network.name, "address": str(address), "error": err.message})


async def _restore_sandbox_namespace(ctl: Controller, sandbox) -> None:
    if sandbox.owns_netns:
        await ctl.run(ctl.sandbox_kernel.ensure_namespace, sandbox.netns_path)
    elif sandbox.netns_identity and sandboxes.identity_of(sandbox.netns_path) != sandbox.netns_identity:
        # The runtime's namespace went away while we were down.
        sandbox.ready = False


async def _restore_endpoint(ctl: Controller, endpoint) -> None:
    network = ctl.networks[endpoint.network_id]
    sandbox = ctl.sandboxes[endpoint.sandbox_id]
    if not (network.ready and sandbox.ready):
        endpoint.ready = False
        return
    try:
        ipam = _replayed(ctl.registry.ipams, network.ipam_driver or "default")
        if ipam is not None and (network.ipv4_pools or network.ipv6_pools):
            for pool_id, address in ((endpoint.ipv4_pool_id, endpoint.ipv4), (endpoint.ipv6_pool_id, endpoint.ipv6)):
                if pool_id and address:
                    await ctl.run(ipam.request_address,
                                     AddressRequest(pool_id, ipaddress.ip_interface(address).ip))
        if _replayed(ctl.registry.drivers, network.driver) is None:
            return
        async with contextlib.AsyncExitStack() as undo:
            await endpoints.plumb(ctl, network, sandbox, endpoint, endpoint.mac, undo)
            undo.pop_all()
        log.debug("endpoint restored", extra={"network": network.name, "sandbox": sandbox.name})
    except Exception as err:
        log.error("endpoint restore failed", extra={
            "network": network.name, "sandbox": sandbox.name, "error": str(err)})


async def _roll_back_unfinished(ctl: Controller) -> None:
    for endpoint in [e for e in ctl.endpoints.values() if not e.ready]:
        log.info("rolling back unfinished connect", extra={"endpoint": endpoint.id[:12], "sandbox": endpoint.name})
        with contextlib.suppress(CnmError):
            await endpoints.remove(ctl, endpoint)
    for sandbox in [s for s in ctl.sandboxes.values() if not s.ready]:
        log.info("rolling back unfinished sandbox", extra={"sandbox": sandbox.name})
        with contextlib.suppress(CnmError):
            await sandboxes.delete(ctl, sandbox)
    for network in [n for n in ctl.networks.values() if not n.ready]:
        log.info("rolling back unfinished network", extra={"network": network.name})
        with contextlib.suppress(CnmError):
            await networks.delete(ctl, network)


async def _remove_orphan_namespaces(ctl: Controller) -> None:
    owned = {s.netns_path for s in ctl.sandboxes.values() if s.owns_netns}
    for path in ctl.sandbox_kernel.owned_paths():
        if path not in owned:
            log.info("removing orphan namespace", extra={"netns": path})
            await ctl.run(ctl.sandbox_kernel.remove_namespace, path)
    known = set(ctl.sandboxes)
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(ctl.files.root):
            if name not in known:
                shutil.rmtree(os.path.join(ctl.files.root, name), ignore_errors=True)
