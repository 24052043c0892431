"""The parent link of a macvlan network: found, or made and later removed.

The driver makes a parent only where Docker does: the 802.1q sub-interface
of ``-o parent=eth0.10`` when it is missing, and a link of the network's own
when there is no ``-o parent``.  A link it makes carries a mark (``marks``)
naming the network that made it; the user's links are never removed.
"""

from __future__ import annotations

import logging

from libnetwork.errors import Internal, InvalidParameter, NotImplementedByDriver
from libnetwork.netlink import Link, LinkKindUnsupported, Netlink

from .config import PLACEHOLDER_PREFIX, MacvlanConfig, check_vlan_id, parse_vlan_name
from .marks import parent_made_by_daemon, parent_mark

log = logging.getLogger(__name__)

PLACEHOLDER_PEER_PREFIX = "dp-"


def ensure_parent(nl: Netlink, nid: str, config: MacvlanConfig) -> bool:
    """Find or make the parent link; True when the daemon made it (now or before a restart)."""
    link = nl.find_link(config.parent)
    if link is not None:
        return parent_made_by_daemon(link)
    link = _make_placeholder(nl, config.parent) if config.placeholder else _make_vlan(nl, config.parent)
    try:
        nl.set_alias(link.index, parent_mark(nid))
    except BaseException:
        nl.remove_link(link.name)
        raise
    return True


def links_made_for(nl: Netlink, nid: str) -> list[str]:
    """Parents a network made, found by their mark (for a network the driver never saw finish)."""
    return [link.name for link in nl.links() if link.alias == parent_mark(nid)]


def _make_placeholder(nl: Netlink, name: str) -> Link:
    try:
        return nl.ensure_dummy(name)
    except LinkKindUnsupported:
        pass
    # A kernel without the dummy driver: one end of a veth pair whose other
    # end goes nowhere serves the same.  Frames the children send out are lost,
    # children in bridge mode still reach each other.  The peer is raised too:
    # a veth has carrier only while its peer is up, and the children follow
    # their parent's carrier.
    peer = PLACEHOLDER_PEER_PREFIX + name[len(PLACEHOLDER_PREFIX):]
    log.info("no dummy links in this kernel; the parent of an internal macvlan network is a veth pair",
             extra={"parent": name, "peer": peer})
    nl.ensure_veth(name, peer)
    nl.set_up(_existing(nl, peer).index)
    return _existing(nl, name)


def _existing(nl: Netlink, name: str) -> Link:
    link = nl.find_link(name)
    if link is None:
        raise FileNotFoundError(f"no link {name}")
    return link


def _make_vlan(nl: Netlink, name: str) -> Link:
    vlan = parse_vlan_name(name)
    base = nl.find_link(vlan.base)
    if base is None:
        raise InvalidParameter(f"-o parent interface was not found on the host: {vlan.base}")
    check_vlan_id(vlan)
    try:
        return nl.ensure_vlan(name, base.index, vlan.vlan_id)
    except LinkKindUnsupported:
        raise NotImplementedByDriver(
            f"cannot create the 802.1q sub-interface {name}: this kernel has no VLAN (802.1q) support "
            f"(the vlan link type is not available); use an existing parent interface instead") from None
    except OSError as err:
        raise Internal(f"failed to create {name} vlan link: {err.strerror or err}") from None
