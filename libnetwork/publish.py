"""Port publishing, as the controller drives it.

Docker publishes a sandbox's ports on one endpoint: the one that gives it its
default gateway (the first, in connection order, with a gateway).  When that
endpoint goes, the ports move to the next one.  The bindings as bound are
kept on the endpoint record, so a restart asks the driver for the same host
ports again.  A connect programs its ports as one of its steps (a port that
cannot be had fails it); moves after a disconnect and rebinding after a
restart follow the endpoint events (``on_endpoint``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING

from . import events, portspec
from .drivers.api import ExternalConnectivity, PortBinding
from .errors import CnmError
from .model import EndpointRecord, SandboxRecord

if TYPE_CHECKING:
    from .controller import Controller

log = logging.getLogger("cnmd")


def gateway_endpoint(ctl: Controller, sandbox: SandboxRecord) -> EndpointRecord | None:
    return next((e for e in ctl.sandbox_endpoints(sandbox.id)
                 if e.ifname and (e.gateway_v4 or e.gateway_v6)), None)


def bound(endpoint: EndpointRecord) -> tuple[PortBinding, ...]:
    return tuple(PortBinding(**b) for b in endpoint.published)


async def program(ctl: Controller, sandbox: SandboxRecord, undo: contextlib.AsyncExitStack | None = None) -> None:
    """Publish the sandbox's ports on its gateway endpoint, and on no other.

    Raises (with Docker's wording) when a host port cannot be had; with
    ``undo``, a later failure of the same request revokes what this did.
    """
    gateway = gateway_endpoint(ctl, sandbox)
    for endpoint in ctl.sandbox_endpoints(sandbox.id):
        if endpoint is not gateway and endpoint.published:
            failures = await revoke(ctl, endpoint)
            if failures:
                raise CnmError("; ".join(failures))
    wanted = portspec.requested_bindings(sandbox.port_bindings, sandbox.exposed_ports, sandbox.publish_all)
    if gateway is None or not wanted:
        return
    network = ctl.networks[gateway.network_id]
    driver = ctl.registry.driver(network.driver)
    if not isinstance(driver, ExternalConnectivity):
        return
    try:
        result = await ctl.run(driver.program_external_connectivity, network.id, gateway.id,
                                  bound(gateway) or wanted)
    except CnmError as err:
        raise type(err)(f"driver failed programming external connectivity on endpoint {gateway.name} "
                        f"({gateway.id}): {err.message}") from err
    if undo is not None:
        undo.push_async_callback(revoke, ctl, gateway)
    published = [dataclasses.asdict(b) for b in result]
    if published != gateway.published:
        gateway.published = published
        ctl.store.put("endpoint", gateway)


async def rebind(ctl: Controller, sandbox: SandboxRecord, port_bindings: dict[str, list[dict[str, str]]]) -> None:
    """The sandbox publishes exactly ``port_bindings`` from now on (the routing mesh's ports change with services).

    The old bindings are revoked first, so a port that stays is gone for the
    moment of one firewall transaction; connections already made keep going
    (conntrack holds their translation).  If the new ones cannot all be had,
    the old ones are published again and the record keeps them, so the caller
    sees the difference and can try again.
    """
    gateway = gateway_endpoint(ctl, sandbox)
    if gateway is not None and gateway.published:
        failures = await revoke(ctl, gateway)
        if failures:
            raise CnmError("; ".join(failures))
    previous, sandbox.port_bindings = sandbox.port_bindings, dict(port_bindings)
    try:
        await program(ctl, sandbox)
    except CnmError:
        sandbox.port_bindings = previous
        await sync(ctl, sandbox)
        raise
    ctl.store.put("sandbox", sandbox)


async def on_endpoint(ctl: Controller, event: events.Event) -> None:
    """Ports follow the gateway endpoint: a disconnect moves them, a restart binds them again.

    A connect programs its own (its failure must fail the connect), so a
    new endpoint needs nothing here.
    """
    if not isinstance(event, (events.EndpointJoined, events.EndpointLeft)) or event.source != events.LOCAL:
        return
    if isinstance(event, events.EndpointJoined) and not event.restored:
        return
    if isinstance(event, events.EndpointLeft) and event.sandbox_leaving:
        return
    sandbox = ctl.sandboxes.get(event.endpoint.sandbox_id)
    if sandbox is not None and sandbox.mode == "default":
        await sync(ctl, sandbox)


async def sync(ctl: Controller, sandbox: SandboxRecord) -> None:
    """After a topology change or a restart: best effort, a failure is logged."""
    try:
        await program(ctl, sandbox)
    except CnmError as err:
        log.error("publishing ports failed", extra={"sandbox": sandbox.name, "error": err.message})


async def revoke(ctl: Controller, endpoint: EndpointRecord) -> list[str]:
    """Unpublish the endpoint's ports; answers the failures (teardown goes on)."""
    if not endpoint.published:
        return []
    network = ctl.networks.get(endpoint.network_id)
    failures = []
    if network is not None:
        driver = ctl.registry.driver(network.driver)
        if isinstance(driver, ExternalConnectivity):
            failures = await ctl.attempt(driver.revoke_external_connectivity, network.id, endpoint.id)
    if not failures:
        endpoint.published = []
        if endpoint.id in ctl.endpoints:
            ctl.store.put("endpoint", endpoint)
    return failures
