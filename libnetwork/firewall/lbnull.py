"""The load balancer of ``--iptables=false``: does nothing, on purpose.

A real backend rather than ``if lb:`` checks at every call site, as the null
firewall (``null.py``) is.
"""

from __future__ import annotations

from collections.abc import Iterable

from .lbapi import Backend, LbRuleset, ServiceVip, check_backends


class NullLoadBalancer:
    name = "none"

    def setup(self) -> None:
        pass

    def add_interface(self, ifname: str) -> None:
        pass

    def remove_interface(self, ifname: str) -> None:
        pass

    def masquerade_between(self, in_ifname: str, out_ifname: str) -> None:
        pass

    def ensure_service(self, vip: ServiceVip, backends: Iterable[Backend]) -> None:
        check_backends(vip, backends)  # the same arguments are refused as by the real one

    def add_backend(self, vip: ServiceVip, backend: Backend) -> None:
        check_backends(vip, [backend])

    def remove_backend(self, vip: ServiceVip, backend: Backend) -> None:
        check_backends(vip, [backend])

    def remove_service(self, vip: ServiceVip) -> None:
        pass

    def reconcile(self, desired: LbRuleset) -> int:
        return 0

    def cleanup(self) -> None:
        pass

    def close(self) -> None:
        pass
