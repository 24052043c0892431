"""Sandboxes: create (own, adopted, the host's or another sandbox's namespace), delete, and adopted-namespace watching.

The caller holds the sandbox's lock and those of the networks it joins or
leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from typing import TYPE_CHECKING

from . import endpoints, rules
from .errors import CnmError, Conflict, InvalidParameter
from .ids import now_rfc3339, short_id
from .model import SandboxRecord
from .names import random_name
from .requests import NetworkAttachment, SandboxCreate
from .sandbox_kernel import Sandboxes

if TYPE_CHECKING:
    from .controller import Controller

log = logging.getLogger("cnmd")


def placement(ctl: Controller, request: SandboxCreate) -> rules.Placement:
    def capabilities(term: str):
        try:
            return ctl.registry.capabilities(ctl.find_network(term).driver)
        except CnmError:
            return None

    return rules.place_sandbox(request.networks or (NetworkAttachment("bridge"),), capabilities, ctl.find_sandbox)


def check_name(ctl: Controller, name: str) -> None:
    other = next((s for s in ctl.sandboxes.values() if s.name == name), None)
    if other is not None:
        raise Conflict(f'Conflict. The container name "/{name}" is already in use by container "{other.id}". '
                       "You have to remove (or rename) that container to be able to reuse that name.")


async def create(ctl: Controller, request: SandboxCreate, sid: str, place: rules.Placement) -> SandboxRecord:
    name = request.name.lstrip("/") or random_name({s.name for s in ctl.sandboxes.values()})
    check_name(ctl, name)
    ctl.dns.check_links(request.links, request.networks or (NetworkAttachment("bridge"),))
    record = SandboxRecord(
        id=sid, name=name, hostname=request.hostname or sid[:12], created=now_rfc3339(),
        netns_path="", mode=place.mode, port_bindings=dict(request.port_bindings),
        exposed_ports=list(request.exposed_ports), publish_all=request.publish_all,
        dns=list(request.dns), dns_search=list(request.dns_search), dns_options=list(request.dns_options),
        extra_hosts=list(request.extra_hosts), links=list(request.links), swarm_task=request.swarm_task,
    )
    if place.shares is not None:
        record.netns_path, record.owns_netns, record.shares = place.shares.netns_path, False, place.shares.id
    elif place.mode == "host":
        record.owns_netns = False
    elif request.netns_path:
        if not os.path.isabs(request.netns_path) or not await ctl.run(Sandboxes.exists, request.netns_path):
            raise InvalidParameter(f"{request.netns_path} is not a network namespace")
        record.netns_path, record.owns_netns = request.netns_path, False
        record.netns_identity = identity_of(request.netns_path)
    else:
        record.netns_path = ctl.sandbox_kernel.path_for(sid)
    ctl.store.put("sandbox", record)
    ctl.sandboxes[sid] = record
    try:
        if record.owns_netns:
            await ctl.run(ctl.sandbox_kernel.ensure_namespace, record.netns_path)
        ctl.files.write(record)
        for attachment in place.attachments:
            await endpoints.connect(ctl, ctl.find_network(attachment.network), record, attachment.endpoint)
        record.ready = True
        ctl.store.put("sandbox", record)
    except BaseException:
        await delete(ctl, record)
        raise
    log.info("sandbox created", extra={"sandbox": name, "id": short_id(sid), "mode": record.network_mode,
                                       "netns": ctl.netns_path(record)})
    return record


def check_delete(ctl: Controller, record: SandboxRecord, force: bool) -> None:
    sharing = [s.name for s in ctl.sandboxes.values() if s.shares == record.id]
    if sharing:
        raise Conflict(f"cannot remove sandbox {record.name}: its namespace is shared by {', '.join(sharing)}")
    attached = ctl.sandbox_endpoints(record.id)
    if attached and not force and record.mode == "default":
        names = ", ".join(ctl.networks[e.network_id].name for e in attached)
        raise Conflict(f"You cannot remove sandbox {record.name}: it is connected to {names}. "
                       "Disconnect it first or force the removal (-f)")


async def delete(ctl: Controller, record: SandboxRecord) -> None:
    record.ready = False
    ctl.store.put("sandbox", record)
    errors = []
    for endpoint in reversed(ctl.sandbox_endpoints(record.id)):
        try:
            await endpoints.remove(ctl, endpoint, sandbox_leaving=True)
        except CnmError as err:
            errors.append(err.message)
    # Its sockets would keep the namespace alive: close them before removing it.
    await ctl.dns.remove(record)
    if record.owns_netns and record.netns_path:
        await ctl.run(ctl.sandbox_kernel.remove_namespace, record.netns_path)
    elif record.netns_path:
        await ctl.run(ctl.sandbox_kernel.forget, record.netns_path)
    shutil.rmtree(os.path.join(ctl.files.root, record.id), ignore_errors=True)
    ctl.sandboxes.pop(record.id, None)
    ctl.store.delete("sandbox", record.id)
    log.info("sandbox removed", extra={"sandbox": record.name, "id": short_id(record.id)})
    if errors:
        raise CnmError("; ".join(errors))


def identity_of(path: str) -> tuple[int, int] | None:
    """st_dev/st_ino of a namespace file: an adopted namespace replaced or gone answers another (or None)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


async def watch_adopted(ctl: Controller) -> None:
    """Notice adopted namespaces that vanished and release their endpoints and addresses."""
    while True:
        await asyncio.sleep(ctl.settings.adopted_poll_interval)
        for record in [s for s in ctl.sandboxes.values() if s.netns_identity and s.ready]:
            if identity_of(record.netns_path) == record.netns_identity:
                continue
            log.info("adopted namespace gone", extra={"sandbox": record.name, "netns": record.netns_path})
            with contextlib.suppress(CnmError):
                await ctl.remove_sandbox(record)
