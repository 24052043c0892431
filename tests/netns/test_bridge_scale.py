"""Scale: 250 sandboxes on one bridge network, all reachable, then removed with nothing left behind."""

from __future__ import annotations

import json
import os
import sys
import textwrap

from libnetwork.testing import run_in

from .conftest import api
from .traffic import ruleset

COUNT = 250

# From one sandbox, a TCP connect to every other: a refusal (RST) is an answer
# from that sandbox's own stack, so it proves the path both ways.
PROBE = textwrap.dedent("""
    import socket, sys
    from concurrent.futures import ThreadPoolExecutor
    def probe(ip):
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect((ip, 9))
            return True
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
        finally:
            s.close()
    ips = sys.argv[1:]
    with ThreadPoolExecutor(32) as pool:
        silent = [ip for ip, ok in zip(ips, pool.map(probe, ips)) if not ok]
        # A loaded machine can lose the first ARP exchange of a burst; ask the
        # silent ones once more, so only a peer that never answers fails.
        silent = [ip for ip, ok in zip(silent, pool.map(probe, silent)) if not ok]
    print(" ".join(silent) or "all")
""")


def _addresses(cnmd) -> set:
    """(interface, address) pairs of the host that someone added, without state flags.

    IPv6 link-local addresses are the kernel's: a bridge gets one when it first
    has carrier (or earlier, depending on when its state is first seen) and
    keeps it after its last port leaves, so they tell nothing about leftovers.
    """
    return {(link["ifname"], a["local"], a["prefixlen"])
            for link in json.loads(cnmd.run_on_host("ip", "-j", "addr").stdout) for a in link["addr_info"]
            if a.get("scope") != "link"}


def test_250_sandboxes_on_one_network(cnmd):
    links_before = cnmd.run_on_host("ip", "-o", "link").stdout.count("\n")
    addresses_before = _addresses(cnmd)
    rules_before = ruleset(cnmd.netns_path)
    ids = []
    for i in range(COUNT):
        # the default bridge network; every tenth sandbox publishes a port
        status, body, _ = api(cnmd, "POST", "/sandboxes/create", {
            "Name": f"c{i}", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}]} if i % 10 == 0 else {}})
        assert status == 201, body
        ids.append(body["Id"])
    status, network, _ = api(cnmd, "GET", "/networks/bridge")
    addresses = sorted(c["IPv4Address"].split("/")[0] for c in network["Containers"].values())
    assert len(addresses) == COUNT and len(set(addresses)) == COUNT
    first = cnmd.inspect("sandbox", "c0")
    mine = first["Networks"]["bridge"]["IPAddress"]
    others = [a for a in addresses if a != mine]
    result = run_in(first["SandboxKey"], sys.executable, "-c", PROBE, *others, timeout=120)
    assert result.stdout.strip() == "all"
    assert len(os.listdir(os.path.join(cnmd.exec_root, "netns"))) == COUNT
    assert len(ruleset(cnmd.netns_path)["nftables"]) == len(rules_before["nftables"])
    for sid in ids:
        status, body, _ = api(cnmd, "DELETE", f"/sandboxes/{sid}?force=1")
        assert status in (200, 204), body
    assert cnmd.run_on_host("ip", "-o", "link").stdout.count("\n") == links_before
    assert _addresses(cnmd) == addresses_before
    assert ruleset(cnmd.netns_path) == rules_before
    assert os.listdir(os.path.join(cnmd.exec_root, "netns")) == []
