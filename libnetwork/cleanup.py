"""``cnmd --cleanup``: remove every kernel object the daemon made, then exit.

Exactly what the records name, nothing found by pattern: the firewall
tables, what each driver made for its recorded networks and endpoints (the
drivers that can say so: ``Cleanable``), and the namespaces under the exec
root.  The records stay, so a later start builds it all again; remove the
data root to forget them too.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict

from . import plugins
from .drivers.api import Cleanable, DriverContext
from .errors import CnmError
from .firewall.api import FirewallUnavailable
from .netlink import remove_netns
from .networks import network_config
from .store import Store

log = logging.getLogger("cnmd")


def cleanup(data_root: str, exec_root: str, default_bridge_name: str) -> list[str]:
    """Answers what failed (the rest is done anyway)."""
    failures: list[str] = []
    _firewall(failures)
    store = Store(data_root)
    try:
        networks = {n.id: n for n in store.load("network")}
        endpoints = defaultdict(list)
        for endpoint in store.load("endpoint"):
            endpoints[endpoint.network_id].append(endpoint.id)
    finally:
        store.close()
    # Firewall rules are gone already: the drivers get the null backend.
    drivers = plugins.load(plugins.DRIVER_GROUP, DriverContext(
        data_root=data_root, exec_root=exec_root, default_bridge_name=default_bridge_name))
    for network in networks.values():
        driver = drivers.get(plugins.DRIVER_ALIASES.get(network.driver, network.driver))
        if isinstance(driver, Cleanable):
            failures += driver.remove_leftovers(network_config(network), endpoints[network.id])
    netns_dir = os.path.join(exec_root, "netns")
    for name in sorted(os.listdir(netns_dir)) if os.path.isdir(netns_dir) else ():
        try:
            remove_netns(os.path.join(netns_dir, name))
            log.info("namespace removed", extra={"netns": name})
        except Exception as err:  # cleanup goes on and reports every failure
            failures.append(f"{name}: {err}")
    return failures


def _firewall(failures: list[str]) -> None:
    try:
        from .firewall.lbnft import NftLoadBalancer
        from .firewall.nft import NftFirewall

        NftFirewall().cleanup()
        balancer = NftLoadBalancer()
        balancer.cleanup()
        balancer.close()
        log.info("firewall and load balancer tables removed")
    except FirewallUnavailable:
        pass  # no nftables here: nothing of ours can be in it
    except CnmError as err:
        failures.append(err.message)
