"""A sandbox's /etc/resolv.conf, /etc/hosts and /etc/hostname, written under the exec root.

``cnm exec`` (and a runtime) bind-mounts them into the sandbox.  They are
rewritten after every change of the sandbox's endpoints, which this module
learns from the event bus, after the embedded DNS has (whether the sandbox
has a resolver decides what resolv.conf says).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from . import etcfiles, events
from .model import SandboxRecord

if TYPE_CHECKING:
    from .controller import Controller


class SandboxFiles:
    def __init__(self, ctl: Controller):
        self._ctl = ctl

    @property
    def root(self) -> str:
        return os.path.join(self._ctl.settings.exec_root, "sandboxes")

    def path(self, record: SandboxRecord, name: str) -> str:
        return os.path.join(self.root, record.id, name)

    async def on_endpoint(self, event: events.Event) -> None:
        if not isinstance(event, (events.EndpointJoined, events.EndpointLeft)) or event.source != events.LOCAL:
            return
        if isinstance(event, events.EndpointLeft) and event.sandbox_leaving:
            return
        sandbox = self._ctl.sandboxes.get(event.endpoint.sandbox_id)
        if sandbox is not None:
            self.write(sandbox)

    def write(self, record: SandboxRecord) -> None:
        ctl = self._ctl
        os.makedirs(os.path.join(self.root, record.id), exist_ok=True)
        owner = ctl.sandboxes.get(record.shares) if record.shares is not None else record
        endpoints = ctl.sandbox_endpoints(owner.id) if owner else []
        host_conf = etcfiles.read_host_resolv_conf(ctl.settings.resolv_conf)
        ipv6 = any(e.ipv6 for e in endpoints)
        conf = etcfiles.legacy_resolv_conf(host_conf, ipv6)
        dns = tuple(record.dns) or ctl.settings.dns
        if dns or record.dns_search or record.dns_options:
            conf = etcfiles.ResolvConf(
                dns or conf.nameservers, tuple(record.dns_search) or conf.search,
                tuple(record.dns_options) or conf.options)
        conf = ctl.dns.resolv_conf(record, host_conf) or conf
        entries: list[tuple[str, list[str]]] = []
        for endpoint in endpoints:
            for address in (endpoint.ipv4, endpoint.ipv6):
                if address:
                    entries.append((str(address.ip), [record.hostname]))
        entries += ctl.dns.link_hosts(record)
        for extra in record.extra_hosts:
            host, _, host_address = extra.partition(":")
            entries.append((host_address, [host]))
        etcfiles.write_in_place(self.path(record, "resolv.conf"), etcfiles.render_resolv_conf(conf))
        etcfiles.write_in_place(self.path(record, "hosts"), etcfiles.render_hosts(entries, ipv6))
        etcfiles.write_in_place(self.path(record, "hostname"), record.hostname + "\n")
