"""``cnmd --cleanup``: remove every kernel object the daemon made, then exit.

Exactly what the records name, nothing found by pattern: the firewall
tables, the bridges of bridge networks, the host side of their veth pairs,
and the namespaces under the exec root.  The records stay, so a later start
builds it all again; remove the data root to forget them too.
"""

from __future__ import annotations

import logging
import os

from .drivers.bridge.config import parse_options
from .drivers.bridge.steps import veth_names
from .errors import CnmError
from .firewall.api import FirewallUnavailable
from .netlink import Netlink, remove_netns
from .store import Store

log = logging.getLogger("cnmd")


def cleanup(data_root: str, exec_root: str, default_bridge_name: str) -> list[str]:
    """Answers what failed (the rest is done anyway)."""
    failures: list[str] = []
    _firewall(failures)
    netlink = Netlink()
    try:
        store = Store(data_root)
        try:
            networks = {n.id: n for n in store.load("network")}
            endpoints = list(store.load("endpoint"))
        finally:
            store.close()
        for endpoint in endpoints:
            network = networks.get(endpoint.network_id)
            if network is not None and network.driver == "bridge":
                _attempt(failures, netlink.remove_link, veth_names(endpoint.id)[0])
        for network in networks.values():
            if network.driver != "bridge":
                continue
            try:
                bridge = parse_options(network.id, network.options, default_mtu=1500,
                                       default_bridge_name=default_bridge_name if network.predefined else None)
            except CnmError as err:
                failures.append(err.message)
                continue
            link = netlink.find_link(bridge.bridge_name)
            if link is not None and link.kind == "bridge":
                _attempt(failures, netlink.remove_link, bridge.bridge_name)
                log.info("bridge removed", extra={"bridge": bridge.bridge_name})
    finally:
        netlink.close()
    netns_dir = os.path.join(exec_root, "netns")
    for name in sorted(os.listdir(netns_dir)) if os.path.isdir(netns_dir) else ():
        _attempt(failures, remove_netns, os.path.join(netns_dir, name))
        log.info("namespace removed", extra={"netns": name})
    return failures


def _firewall(failures: list[str]) -> None:
    try:
        from .firewall.nft import NftFirewall

        NftFirewall().cleanup()
        log.info("firewall tables removed")
    except FirewallUnavailable:
        pass  # no nftables here: nothing of ours can be in it
    except CnmError as err:
        failures.append(err.message)


def _attempt(failures: list[str], fn, *args) -> None:
    try:
        fn(*args)
    except Exception as err:  # cleanup goes on and reports every failure
        failures.append(f"{getattr(fn, '__name__', fn)}{args}: {err}")
