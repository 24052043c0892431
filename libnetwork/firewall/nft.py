"""The nftables backend: libnftables through the netfilter project's Python binding.

Each operation is one JSON batch, so one kernel transaction: it applies
whole or not at all.  The binding's context is not thread-safe; the
controller calls every backend method from its one kernel worker thread.
"""

from __future__ import annotations

import logging

from . import nftctx, nftjson
from .api import FirewallError, FirewallUnavailable, NetworkRules, PortRule, Ruleset

log = logging.getLogger(__name__)


class NftFirewall:
    name = "nftables"
    localhost_ports = True

    def __init__(self, netns: str | None = None):
        self._nft = nftctx.open_context(netns)

    def _run(self, commands: list[dict], operation: str) -> dict:
        return nftctx.run(self._nft, commands, operation)

    def _list(self, family: str) -> dict:
        return nftctx.list_table(self._nft, family, nftjson.TABLE)

    def setup(self) -> None:
        try:
            self._run(nftjson.setup_batch(), "setup")
        except FirewallError as err:
            raise FirewallUnavailable(f"cannot set up the nftables ruleset: {err.message}") from None

    def add_network(self, rules: NetworkRules) -> None:
        self._run(nftjson.add_batch(nftjson.network_elements(rules)), "add_network")

    def remove_network(self, rules: NetworkRules) -> None:
        self._run(nftjson.remove_batch(nftjson.network_elements(rules)), "remove_network")

    def isolate_port(self, port: str) -> None:
        self._run(nftjson.add_batch([nftjson.isolated_element(port)]), "isolate_port")

    def release_port(self, port: str) -> None:
        self._run(nftjson.remove_batch([nftjson.isolated_element(port)]), "release_port")

    def add_ports(self, ports: tuple[PortRule, ...]) -> None:
        self._run(nftjson.add_batch(e for p in ports for e in nftjson.port_elements(p)), "add_ports")

    def remove_ports(self, ports: tuple[PortRule, ...]) -> None:
        self._run(nftjson.remove_batch(e for p in ports for e in nftjson.port_elements(p)), "remove_ports")

    def reconcile(self, desired: Ruleset) -> int:
        live = []
        for family in (nftjson.INET, nftjson.BRIDGE):
            live += nftjson.live_elements(self._list(family))
        stale, missing = nftjson.diff(live, nftjson.desired_elements(desired))
        self._run(nftjson.delete_batch(stale) + nftjson.add_batch(missing), "reconcile")
        if stale or missing:
            log.info("firewall reconciled", extra={"stale_removed": len(stale), "missing_added": len(missing)})
        return len(stale) + len(missing)

    def cleanup(self) -> None:
        present = [f for f in (nftjson.INET, nftjson.BRIDGE) if self._list(f)]
        self._run(nftjson.cleanup_batch(present), "cleanup")
