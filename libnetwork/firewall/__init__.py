"""The firewall layer: a contract (``api``) and its backends (``nft``, ``null``)."""

from __future__ import annotations

from .api import Firewall


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
