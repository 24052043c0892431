"""The nftables load balancer: service VIPs spread over backends by ``numgen``, in ``inet cnm-lb``.

Each call is one JSON batch (one kernel transaction).  The layout of every
service (which backend sits at which index) is kept here, learnt from the
kernel once at ``setup`` and after each ``reconcile``: a change then costs a
few element commands computed without reading the table back, so adding or
removing one backend stays flat however many there are.  This object is the
only writer of its table; ``reconcile`` repairs anyone else's edits.

IPVS is what dockerd uses for this; many kernels (this project's CI's
among them) lack it, and kube-proxy moved to nftables for the same job, so
this is the one path (``ipvs_available`` only reports, for the logs).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from . import lbjson, lbplan, nftctx
from .api import FirewallError, FirewallUnavailable, IPAddress
from .lbapi import Backend, LbRuleset, ServiceVip, VipConflict, check_backends

log = logging.getLogger(__name__)

ServiceKey = tuple[IPAddress, str, int]


def ipvs_available() -> bool:
    """Whether this kernel has IPVS loaded (it is never used: see the module's docstring)."""
    return os.path.exists("/proc/net/ip_vs")


class NftLoadBalancer:
    name = "nftables"

    def __init__(self, netns: str | None = None):
        """``netns``: the path of the namespace whose traffic is balanced (None: this process's own)."""
        self._nft = nftctx.open_context(netns)
        self._services: dict[ServiceKey, tuple[ServiceVip, lbplan.Slots]] = {}
        self._interfaces: set[str] = set()

    def _run(self, commands: list[dict], operation: str) -> None:
        nftctx.run(self._nft, commands, operation)

    # -- table ---------------------------------------------------------------------------

    def setup(self) -> None:
        self._setup_table()
        self._load()

    def _setup_table(self) -> None:
        # Two transactions, both idempotent: the text one declares what JSON cannot (lbjson).
        try:
            nftctx.run_text(self._nft, lbjson.setup_text(), "lb_setup")
            self._run(lbjson.setup_batch(), "lb_setup")
        except FirewallError as err:
            raise FirewallUnavailable(f"cannot set up the load balancer's nftables table: {err.message}") from None

    def _load(self) -> lbjson.LiveTable:
        live = lbjson.parse_live(nftctx.list_table(self._nft, lbjson.FAMILY, lbjson.TABLE))
        self._services = {key: (s.vip, lbplan.Slots(s.dense() or [])) for key, s in live.services.items()}
        self._interfaces = set(live.interfaces)
        return live

    def cleanup(self) -> None:
        if nftctx.list_table(self._nft, lbjson.FAMILY, lbjson.TABLE):
            self._run(lbjson.cleanup_batch(), "lb_cleanup")
        self._services.clear()
        self._interfaces.clear()

    def close(self) -> None:
        self._nft.close()

    # -- interfaces ----------------------------------------------------------------------

    def add_interface(self, ifname: str) -> None:
        if ifname not in self._interfaces:
            self._run(lbjson.interface_commands("add", ifname), "lb_add_interface")
            self._interfaces.add(ifname)

    def remove_interface(self, ifname: str) -> None:
        if ifname in self._interfaces:
            self._run(lbjson.interface_commands("delete", ifname), "lb_remove_interface")
            self._interfaces.discard(ifname)

    def masquerade_between(self, in_ifname: str, out_ifname: str) -> None:
        self._run(lbjson.masquerade_commands("add", in_ifname, out_ifname), "lb_masquerade")

    # -- services ------------------------------------------------------------------------

    def _current(self, vip: ServiceVip) -> lbplan.Slots | None:
        found = self._services.get(vip.key)
        if found is None:
            return None
        if found[0] != vip:
            port = vip.port or "every port"
            raise VipConflict(f"{vip.vip} {vip.protocol}/{port} already belongs to service {found[0].service_id}")
        return found[1]

    def _apply(self, vip: ServiceVip, slots: lbplan.Slots | None, delta: lbplan.Delta, operation: str) -> None:
        """One transaction; the layout kept here changes only once the kernel has taken it."""
        if slots is not None and not (delta.deleted or delta.added):
            return
        self._run(lbjson.service_commands(vip, delta, new_service=slots is None), operation)
        if slots is None:
            slots = lbplan.Slots()
            self._services[vip.key] = (vip, slots)
        slots.apply(delta)

    def ensure_service(self, vip: ServiceVip, backends: Iterable[Backend]) -> None:
        slots = self._current(vip)
        delta = (slots or lbplan.Slots()).plan_assign(check_backends(vip, backends))
        self._apply(vip, slots, delta, "lb_ensure_service")

    def add_backend(self, vip: ServiceVip, backend: Backend) -> None:
        slots = self._current(vip)
        check_backends(vip, [backend])
        self._apply(vip, slots, (slots or lbplan.Slots()).plan_add(backend), "lb_add_backend")

    def remove_backend(self, vip: ServiceVip, backend: Backend) -> None:
        slots = self._current(vip)
        check_backends(vip, [backend])
        if slots is not None:
            self._apply(vip, slots, slots.plan_remove(backend), "lb_remove_backend")

    def remove_service(self, vip: ServiceVip) -> None:
        slots = self._current(vip)
        if slots is None:
            return
        self._run(lbjson.removal_commands(vip, range(len(slots))), "lb_remove_service")
        del self._services[vip.key]

    def backends(self, vip: ServiceVip) -> tuple[Backend, ...]:
        """The backends in index order (what the kernel has, as far as this object knows)."""
        slots = self._current(vip)
        return tuple(slots.order) if slots else ()

    # -- reconciliation ----------------------------------------------------------------------

    def reconcile(self, desired: LbRuleset) -> int:
        """The table set up (as ``setup``), read once, then one transaction that makes it ``desired``."""
        self._setup_table()
        live = self._load()
        commands, changed = lbjson.reconcile_commands(live, desired)
        self._run(commands, "lb_reconcile")
        self._load()
        if changed:
            log.info("load balancer reconciled", extra={"changed": changed})
        return changed
