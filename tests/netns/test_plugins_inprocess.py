"""A third party's in-process driver: labs/plugins/inprocess-example (``ptp``), installed with pip.

The package only declares an entry point in ``libnetwork.drivers``; the
daemon loads it at start like its built-in drivers.  CI installs it
(``pip install -e labs/plugins/inprocess-example``) before the tests.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from libnetwork.testing import running_daemon

from .conftest import api

if "ptp" not in {e.name for e in entry_points(group="libnetwork.drivers")}:
    pytest.skip("the example driver is not installed: pip install -e labs/plugins/inprocess-example",
                allow_module_level=True)


@pytest.fixture(scope="module")
def host():
    with running_daemon() as daemon:
        yield daemon


def address(daemon, sandbox: str, network: str) -> str:
    return daemon.inspect("sandbox", sandbox)["Networks"][network]["IPAddress"]


def test_ptp_network_routes_sandboxes_through_the_host(host):
    host.cnm("network", "create", "-d", "ptp", "--subnet", "10.66.0.0/24", "-o", "ptp.mtu=1400", "p2p")
    assert host.inspect("network", "p2p")["Driver"] == "ptp"
    host.cnm("sandbox", "create", "--name", "a", "--network", "p2p")
    host.cnm("sandbox", "create", "--name", "b", "--network", "p2p")
    a, b = address(host, "a", "p2p"), address(host, "b", "p2p")
    assert (a, b) == ("10.66.0.2", "10.66.0.3")
    host.run_in_sandbox("a", "ping", "-c", "1", "-W", "2", b)
    host.run_in_sandbox("b", "ping", "-c", "1", "-W", "2", "10.66.0.1")
    # No bridge: a veth per endpoint, the gateway on each host side, a /32 route per sandbox.
    routes = host.run_on_host("ip", "route").stdout
    assert "10.66.0.2 dev ptp" in routes and "10.66.0.3 dev ptp" in routes
    inside = host.run_in_sandbox("a", "ip", "route").stdout
    assert "default via 10.66.0.1 dev eth0" in inside and "10.66.0.0/24 via 10.66.0.1 dev eth0" in inside
    assert "mtu 1400" in host.run_in_sandbox("a", "ip", "link", "show", "eth0").stdout
    host.cnm("sandbox", "rm", "-f", "b")
    assert "10.66.0.3" not in host.run_on_host("ip", "route").stdout


def test_ptp_survives_a_daemon_restart(host):
    before = address(host, "a", "p2p")
    host.cnm("sandbox", "create", "--name", "c", "--network", "p2p")
    host.stop()
    # Someone removed a host side while the daemon was down: the replayed join makes it again.
    link = [line.split(":")[1].strip().split("@")[0] for line in
            host.run_on_host("ip", "-o", "link", "show").stdout.splitlines() if ": ptp" in line][0]
    host.run_on_host("ip", "link", "del", link)
    host.start()
    assert address(host, "a", "p2p") == before
    host.run_in_sandbox("a", "ping", "-c", "1", "-W", "2", address(host, "c", "p2p"))
    host.cnm("sandbox", "rm", "-f", "a", "c")
    host.cnm("network", "rm", "p2p")
    assert "ptp" not in host.run_on_host("ip", "-o", "link", "show").stdout


def test_ptp_refuses_what_it_cannot_do(host):
    status, body, _ = api(host, "POST", "/networks/create",
                          {"Name": "x", "Driver": "ptp", "Options": {"ptp.colour": "red"}})
    assert (status, body["message"]) == (400, "ptp: unknown option 'ptp.colour' (the one option is ptp.mtu)")
    status, body, _ = api(host, "POST", "/networks/create", {"Name": "x", "Driver": "ptp", "EnableIPv6": True})
    assert (status, body["message"]) == (400, "ptp: IPv6 is not supported")
    assert "x" not in host.cnm("network", "ls", "--format", "{{.Name}}").stdout.split()
