"""The firewall layer: contracts (``api``, ``lbapi``) and their backends (``nft``, ``lbnft``, ``null``, ``lbnull``)."""

from __future__ import annotations

from collections.abc import Callable

from .api import Firewall
from .lbapi import LoadBalancer


def create(enabled: bool) -> Firewall:
    """dockerd's ``--iptables``: the nftables backend, or a real no-op one."""
    if not enabled:
        from .null import NullFirewall

        return NullFirewall()
    from .nft import NftFirewall

    return NftFirewall()


def start(enabled: bool) -> Firewall:
    """The backend, its tables set up (run in the kernel worker: it blocks)."""
    backend = create(enabled)
    backend.setup()
    return backend


def create_load_balancer(enabled: bool, netns: str | None = None) -> LoadBalancer:
    """Service VIPs in ``netns`` (None: this process's namespace): nftables, or the null one.

    Not IPVS, even where the kernel has it (``lbnft.ipvs_available``): one path, the one every kernel here has.
    """
    if not enabled:
        from .lbnull import NullLoadBalancer

        return NullLoadBalancer()
    from .lbnft import NftLoadBalancer

    return NftLoadBalancer(netns)


def open_load_balancer(enabled: bool, netns: str | None = None,
                       prepare: Callable[[LoadBalancer], None] | None = None) -> LoadBalancer:
    """A load balancer set up (its table learnt) and ``prepare``d, or closed again if either fails.

    Blocks: run it in the kernel worker.
    """
    balancer = create_load_balancer(enabled, netns)
    try:
        balancer.setup()
        if prepare is not None:
            prepare(balancer)
    except BaseException:
        balancer.close()
        raise
    return balancer
