"""Docker's IPAM options and errors, driven through the real docker CLI."""

from __future__ import annotations

import json

import pytest

from .conftest import api


def _ipam(daemon, name):
    return json.loads(daemon.docker("network", "inspect", name).stdout)[0]["IPAM"]


def _ip(daemon, sandbox, network):
    return daemon.inspect("sandbox", sandbox)["Networks"][network]["IPAddress"]


def test_default_pools_in_docker_order_and_reused(cnmd):
    cnmd.docker("network", "create", "pool-a")
    cnmd.docker("network", "create", "pool-b")
    assert _ipam(cnmd, "pool-a")["Config"] == [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    assert _ipam(cnmd, "pool-b")["Config"][0]["Subnet"] == "172.19.0.0/16"
    cnmd.docker("network", "rm", "pool-a")
    cnmd.docker("network", "create", "pool-c")
    # Docker 27+: the lowest free pool is handed out again
    assert _ipam(cnmd, "pool-c")["Config"][0]["Subnet"] == "172.18.0.0/16"
    cnmd.docker("network", "rm", "pool-b", "pool-c")


def test_subnet_gateway_range_aux(cnmd):
    cnmd.docker("network", "create", "--subnet", "10.60.0.0/24", "--gateway", "10.60.0.254",
                "--ip-range", "10.60.0.128/28", "--aux-address", "router=10.60.0.129",
                "--aux-address", "printer=10.60.0.10", "ranged")
    assert _ipam(cnmd, "ranged")["Config"] == [{
        "Subnet": "10.60.0.0/24", "IPRange": "10.60.0.128/28", "Gateway": "10.60.0.254",
        "AuxiliaryAddresses": {"router": "10.60.0.129", "printer": "10.60.0.10"}}]
    cnmd.cnm("sandbox", "create", "--name", "r1", "--network", "ranged")
    cnmd.cnm("sandbox", "create", "--name", "r2", "--network", "ranged")
    # dynamic addresses come from the ip-range, skipping the aux address
    assert _ip(cnmd, "r1", "ranged") == "10.60.0.128"
    assert _ip(cnmd, "r2", "ranged") == "10.60.0.130"
    # a static address may be anywhere in the subnet
    cnmd.cnm("sandbox", "create", "--name", "r3", "--network", "ranged", "--ip", "10.60.0.5")
    assert _ip(cnmd, "r3", "ranged") == "10.60.0.5"
    taken = cnmd.cnm("sandbox", "create", "--name", "r4", "--network", "ranged", "--ip", "10.60.0.10", check=False)
    assert taken.returncode == 1 and "Address already in use" in taken.stderr
    outside = cnmd.cnm("sandbox", "create", "--name", "r5", "--network", "ranged", "--ip", "10.61.0.5", check=False)
    assert "no configured subnet or ip-range contain the IP address 10.61.0.5" in outside.stderr
    gw = cnmd.cnm("sandbox", "create", "--name", "r6", "--network", "ranged", "--ip", "10.60.0.254", check=False)
    assert "Address already in use" in gw.stderr
    assert sorted(c["Name"] for c in json.loads(cnmd.docker("network", "inspect", "ranged").stdout)[0]
                  ["Containers"].values()) == ["r1", "r2", "r3"]
    cnmd.cnm("sandbox", "rm", "-f", "r1", "r2", "r3")
    cnmd.docker("network", "rm", "ranged")


@pytest.mark.parametrize("config, text", [
    ({"Subnet": "10.62.0.0/33"}, "invalid subnet 10.62.0.0/33"),
    ({"Subnet": "10.62.0.1/24"}, "it should be 10.62.0.0/24"),
    ({"Subnet": "10.62.0.0/24", "Gateway": "10.63.0.1"}, "invalid gateway 10.63.0.1"),
    ({"Subnet": "10.62.0.0/24", "IPRange": "10.63.0.0/28"}, "invalid ip-range 10.63.0.0/28"),
    ({"Subnet": "10.62.0.0/24", "AuxiliaryAddresses": {"x": "10.63.0.1"}}, "invalid auxiliary address x"),
])
def test_bad_ipam_config_is_400_and_changes_nothing(cnmd, config, text):
    # The docker CLI catches some of these itself; the daemon must too.
    before = cnmd.docker("network", "ls", "-q").stdout
    status, body, _ = api(cnmd, "POST", "/v1.45/networks/create", {"Name": "badnet", "IPAM": {"Config": [config]}})
    assert status == 400
    assert body["message"].startswith("invalid network config:\n") and text in body["message"]
    assert cnmd.docker("network", "ls", "-q").stdout == before


def test_bad_subnet_through_the_cli(cnmd):
    result = cnmd.docker("network", "create", "--subnet", "10.62.0.1/24", "badnet", check=False)
    assert result.returncode == 1 and "invalid network config" in result.stderr


def test_overlap_and_multiple_subnets(cnmd):
    cnmd.docker("network", "create", "--subnet", "10.64.0.0/16", "ov-a")
    overlap = cnmd.docker("network", "create", "--subnet", "10.64.5.0/24", "ov-b", check=False)
    assert "Pool overlaps with other one on this address space" in overlap.stderr
    status, body, _ = api(cnmd, "POST", "/networks/create",
                          {"Name": "ov-c", "IPAM": {"Config": [{"Subnet": "10.64.0.0/16"}]}})
    assert status == 403
    two = cnmd.docker("network", "create", "--subnet", "10.65.0.0/24", "--subnet", "10.66.0.0/24", "ov-d", check=False)
    assert "bridge driver doesn't support multiple subnets" in two.stderr
    # the failed create released its pools: they can be used now
    cnmd.docker("network", "create", "--subnet", "10.65.0.0/24", "ov-e")
    cnmd.docker("network", "rm", "ov-a", "ov-e")


def test_ipv6_subnet_and_default_ula(cnmd):
    cnmd.docker("network", "create", "--ipv6", "--subnet", "fd00:db8:1::/64", "v6net")
    config = _ipam(cnmd, "v6net")["Config"]
    assert {"Subnet": "fd00:db8:1::/64"} in [{"Subnet": c["Subnet"]} for c in config]
    cnmd.cnm("sandbox", "create", "--name", "six", "--network", "v6net")
    box = cnmd.inspect("sandbox", "six")["Networks"]["v6net"]
    assert box["GlobalIPv6Address"] == "fd00:db8:1::2" and box["GlobalIPv6PrefixLen"] == 64
    assert box["IPAddress"].startswith("172.")
    cnmd.cnm("sandbox", "create", "--name", "six2", "--network", "v6net", "--ip6", "fd00:db8:1::99")
    cnmd.run_in_sandbox("six", "ping", "-6", "-c", "1", "-W", "2", "fd00:db8:1::99")
    cnmd.cnm("sandbox", "rm", "-f", "six", "six2")
    cnmd.docker("network", "rm", "v6net")
    cnmd.docker("network", "create", "--ipv6", "ula")
    subnets = [c["Subnet"] for c in _ipam(cnmd, "ula")["Config"]]
    assert any(s.startswith("fd") and s.endswith("/64") for s in subnets)
    cnmd.docker("network", "rm", "ula")


def test_static_ip_rules(cnmd):
    cnmd.cnm("sandbox", "create", "--name", "st", "--network", "bridge")
    cnmd.docker("network", "create", "auto")
    no_subnet = api(cnmd, "POST", "/networks/auto/connect",
                    {"Container": "st", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "172.18.0.9"}}})
    assert no_subnet[0] == 400
    assert "supported only when connecting to networks with user configured subnets" in no_subnet[1]["message"]
    cnmd.cnm("sandbox", "create", "--name", "st2", "--network", "auto")
    predefined = api(cnmd, "POST", "/networks/bridge/connect",
                     {"Container": "st2", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "172.17.0.9"}}})
    assert predefined[0] == 400 and "user defined networks only" in predefined[1]["message"]
    malformed = api(cnmd, "POST", "/networks/auto/connect",
                    {"Container": "st", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "300.1.1.1"}}})
    assert malformed[0] == 400 and "invalid IPv4 address: 300.1.1.1" in malformed[1]["message"]
    cnmd.cnm("sandbox", "rm", "-f", "st", "st2")
    cnmd.docker("network", "rm", "auto")


def test_serial_allocation_option(cnmd):
    cnmd.docker("network", "create", "--subnet", "10.67.0.0/24",
                "--ipam-opt", "com.docker.network.ipam.serial=true", "serial")
    cnmd.cnm("sandbox", "create", "--name", "se1", "--network", "serial")
    cnmd.cnm("sandbox", "create", "--name", "se2", "--network", "serial")
    cnmd.cnm("sandbox", "rm", "-f", "se1")
    cnmd.cnm("sandbox", "create", "--name", "se3", "--network", "serial")
    # serial: the freed .2 is not handed out again before the range wraps
    assert _ip(cnmd, "se3", "serial") == "10.67.0.4"
    assert _ipam(cnmd, "serial")["Options"] == {"com.docker.network.ipam.serial": "true"}
    cnmd.cnm("sandbox", "rm", "-f", "se2", "se3")
    cnmd.docker("network", "rm", "serial")


def test_exhausted_pool(cnmd):
    cnmd.docker("network", "create", "--subnet", "10.68.0.0/30", "tiny")
    cnmd.cnm("sandbox", "create", "--name", "t1", "--network", "tiny")
    full = cnmd.cnm("sandbox", "create", "--name", "t2", "--network", "tiny", check=False)
    assert full.returncode == 1 and "no available IPv4 addresses on this network's address pools" in full.stderr
    assert "t2" not in cnmd.cnm("sandbox", "ls").stdout
    cnmd.cnm("sandbox", "rm", "-f", "t1")
    cnmd.docker("network", "rm", "tiny")


def test_parallel_connects_get_distinct_addresses(cnmd):
    import subprocess

    cnmd.docker("network", "create", "--subnet", "10.69.0.0/24", "par")
    procs = [subprocess.Popen(["cnm", "-H", cnmd.host, "sandbox", "create", "--name", f"par{i}", "--network", "par"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(12)]
    assert all(p.wait() == 0 for p in procs)
    containers = json.loads(cnmd.docker("network", "inspect", "par").stdout)[0]["Containers"]
    ips = [c["IPv4Address"] for c in containers.values()]
    assert len(ips) == 12 and len(set(ips)) == 12
    cnmd.cnm("sandbox", "rm", "-f", *[f"par{i}" for i in range(12)])
    cnmd.docker("network", "rm", "par")


def test_aux_taken_and_range_exhausted(cnmd):
    twice = api(cnmd, "POST", "/networks/create", {"Name": "auxdup", "IPAM": {"Config": [{
        "Subnet": "10.70.0.0/24", "AuxiliaryAddresses": {"a": "10.70.0.5", "b": "10.70.0.5"}}]}})
    assert twice[0] == 403 and "failed to allocate secondary ip address" in twice[1]["message"]
    assert "Address already in use" in twice[1]["message"]
    cnmd.docker("network", "create", "--subnet", "10.70.0.0/24", "--ip-range", "10.70.0.8/31",
                "--gateway", "10.70.0.1", "narrow")
    cnmd.cnm("sandbox", "create", "--name", "n1", "--network", "narrow")
    cnmd.cnm("sandbox", "create", "--name", "n2", "--network", "narrow")
    full = cnmd.cnm("sandbox", "create", "--name", "n3", "--network", "narrow", check=False)
    assert full.returncode == 1 and "no available IPv4 addresses" in full.stderr
    # a static address outside the exhausted range but inside the subnet still works
    cnmd.cnm("sandbox", "create", "--name", "n4", "--network", "narrow", "--ip", "10.70.0.100")
    cnmd.cnm("sandbox", "rm", "-f", "n1", "n2", "n4")
    cnmd.docker("network", "rm", "narrow")


def test_daemon_pool_flags_and_host_routes():
    from libnetwork.testing import new_daemon

    daemon = new_daemon("--bip", "10.200.0.1/24", "--default-address-pool", "base=10.201.0.0/16,size=24")
    try:
        # the host already uses 10.201.0.0/24: Docker never hands out a pool overlapping a host route
        daemon.run_on_host("ip", "route", "add", "10.201.0.0/24", "dev", "lo")
        daemon.start()
        assert _ipam(daemon, "bridge")["Config"] == [{"Subnet": "10.200.0.0/24", "Gateway": "10.200.0.1"}]
        assert "10.200.0.1/24" in daemon.run_on_host("ip", "-o", "addr", "show", "cnm0").stdout
        daemon.docker("network", "create", "flagged")
        assert _ipam(daemon, "flagged")["Config"][0]["Subnet"] == "10.201.1.0/24"
    finally:
        daemon.cleanup()
