"""The firewall backend of ``--iptables=false``: does nothing, on purpose.

A real backend rather than ``if firewall:`` checks at every call site, so the
bridge driver has one code path (as netavark's ``fwnone``).
"""

from __future__ import annotations

from .api import NetworkRules, PortRule, Ruleset


class NullFirewall:
    name = "none"
    localhost_ports = False

    def setup(self) -> None:
        pass

    def add_network(self, rules: NetworkRules) -> None:
        pass

    def remove_network(self, rules: NetworkRules) -> None:
        pass

    def isolate_port(self, port: str) -> None:
        pass

    def release_port(self, port: str) -> None:
        pass

    def add_ports(self, ports: tuple[PortRule, ...]) -> None:
        pass

    def remove_ports(self, ports: tuple[PortRule, ...]) -> None:
        pass

    def reconcile(self, desired: Ruleset) -> int:
        return 0

    def cleanup(self) -> None:
        pass
