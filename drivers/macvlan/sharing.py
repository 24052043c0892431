"""Which macvlan networks may share a parent link (Docker 27's rule, plus subnets).

Children of one parent sit on one LAN segment, so two networks on it may
coexist only when their subnets are apart; passthru hands the whole parent
to one child, so it shares with nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from libnetwork.drivers.api import NetworkConfig
from libnetwork.errors import Forbidden

from .config import PASSTHRU, MacvlanConfig


class OnParent(Protocol):
    @property
    def config(self) -> NetworkConfig: ...

    @property
    def macvlan(self) -> MacvlanConfig: ...


def check_sharing(config: NetworkConfig, macvlan: MacvlanConfig, others: Iterable[OnParent]) -> None:
    parent = macvlan.parent
    for other in others:
        if other.config.nid == config.nid or other.macvlan.parent != parent:
            continue
        if macvlan.mode == PASSTHRU:
            raise Forbidden(f"cannot use mode passthru, macvlan network {other.config.nid} "
                            f"is already using parent interface {parent}")
        if other.macvlan.mode == PASSTHRU:
            raise Forbidden(f"macvlan network {other.config.nid} is already using parent interface "
                            f"{parent} in mode passthru")
        pairs = [(a.subnet, b.subnet) for a in config.ipv4 for b in other.config.ipv4]
        if config.enable_ipv6 and other.config.enable_ipv6:
            pairs += [(a.subnet, b.subnet) for a in config.ipv6 for b in other.config.ipv6]
        for mine, theirs in pairs:
            if mine.overlaps(theirs):
                raise Forbidden(f"macvlan network {other.config.nid} is already using parent interface "
                                f"{parent} with subnet {theirs}, which overlaps {mine}")
