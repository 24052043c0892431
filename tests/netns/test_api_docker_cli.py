"""The real docker CLI drives the daemon's network routes."""

from __future__ import annotations

import json

from .conftest import api


def test_predefined_networks_listed(cnmd):
    out = cnmd.docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout.split("\n")
    assert {"bridge bridge local", "host host local", "none null local"} <= set(out)


def test_create_inspect_rm(cnmd):
    nid = cnmd.docker("network", "create", "cli-a").stdout.strip()
    assert len(nid) == 64
    [net] = json.loads(cnmd.docker("network", "inspect", "cli-a").stdout)
    assert net["Id"] == nid and net["Driver"] == "bridge" and net["Scope"] == "local"
    assert net["IPAM"]["Driver"] == "default"
    assert net["IPAM"]["Config"][0]["Subnet"].endswith("/16")
    assert net["Containers"] == {}
    # found by ID prefix too, as in Docker
    [again] = json.loads(cnmd.docker("network", "inspect", nid[:6]).stdout)
    assert again["Name"] == "cli-a"
    bridge = f"br-{nid[:12]}"
    assert cnmd.run_on_host("ip", "link", "show", bridge).returncode == 0
    assert cnmd.docker("network", "rm", "cli-a").stdout.strip() == "cli-a"
    assert cnmd.run_on_host("ip", "link", "show", bridge, check=False).returncode != 0


def test_create_with_subnet_and_gateway(cnmd):
    cnmd.docker("network", "create", "--subnet", "10.77.0.0/24", "--gateway", "10.77.0.254",
                "--label", "team=net", "-o", "com.docker.network.driver.mtu=1400", "cli-sub")
    [net] = json.loads(cnmd.docker("network", "inspect", "cli-sub").stdout)
    assert net["IPAM"]["Config"] == [{"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.254"}]
    assert net["Labels"] == {"team": "net"}
    assert net["Options"] == {"com.docker.network.driver.mtu": "1400"}
    link = cnmd.run_on_host("ip", "-o", "addr", "show", f"br-{net['Id'][:12]}").stdout
    assert "10.77.0.254/24" in link
    assert "mtu 1400" in cnmd.run_on_host("ip", "link", "show", f"br-{net['Id'][:12]}").stdout
    cnmd.docker("network", "rm", "cli-sub")


def test_filters(cnmd):
    cnmd.docker("network", "create", "--label", "env=ci", "flt-one")
    cnmd.docker("network", "create", "flt-two")

    def names(*f: str) -> set[str]:
        return set(cnmd.docker("network", "ls", "-q", "--format", "{{.Name}}", *f).stdout.split())

    assert names("--filter", "label=env=ci") == {"flt-one"}
    assert names("--filter", "name=flt-") == {"flt-one", "flt-two"}
    assert names("--filter", "type=builtin") == {"bridge", "host", "none"}
    assert {"flt-one", "flt-two"} <= names("--filter", "dangling=true")
    assert names("--filter", "driver=null") == {"none"}
    bad = cnmd.docker("network", "ls", "--filter", "colour=red", check=False)
    assert bad.returncode != 0 and "invalid filter 'colour'" in bad.stderr
    cnmd.docker("network", "rm", "flt-one", "flt-two")


def test_errors_have_docker_status_and_text(cnmd):
    missing = cnmd.docker("network", "inspect", "no-such-net", check=False)
    assert missing.returncode == 1 and "no-such-net" in missing.stderr
    status, body, _ = api(cnmd, "GET", "/v1.45/networks/no-such-net")
    assert status == 404 and body == {"message": "network no-such-net not found"}

    cnmd.docker("network", "create", "dup")
    dup = cnmd.docker("network", "create", "dup", check=False)
    # the CLI decodes the JSON error only when the Content-Type is exactly Docker's
    assert dup.stderr.strip() == "Error response from daemon: network with name dup already exists"
    status, body, _ = api(cnmd, "POST", "/networks/create", {"Name": "dup"})
    assert status == 409

    status, body, _ = api(cnmd, "POST", "/networks/create", {"Name": "x", "Driver": "nosuch"})
    assert status == 404 and "could not find plugin nosuch" in body["message"]
    status, body, _ = api(cnmd, "POST", "/networks/create", raw=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert status == 400 and body["message"].startswith("invalid JSON")
    status, body, _ = api(cnmd, "POST", "/networks/create", {"Name": "bridge"})
    assert status == 403
    status, body, _ = api(cnmd, "DELETE", "/networks/bridge")
    assert status == 403 and "pre-defined network" in body["message"]
    status, body, _ = api(cnmd, "POST", "/networks/create", {"Name": "h2", "Driver": "host"})
    assert status == 403
    status, body, _ = api(cnmd, "POST", "/networks/create",
                          {"Name": "badsub", "IPAM": {"Config": [{"Subnet": "10.1.2.3/24"}]}})
    assert status == 400 and body["message"].startswith("invalid network config")
    status, body, _ = api(cnmd, "POST", "/networks/dup/connect", {"Container": "ghost"})
    assert status == 404 and body["message"] == "No such container: ghost"
    status, body, _ = api(cnmd, "GET", "/v1.99/networks")
    assert status == 400 and "too new" in body["message"]
    status, body, _ = api(cnmd, "GET", "/nowhere")
    assert status == 404 and body == {"message": "page not found"}
    # the daemon is still serving after all of that
    assert api(cnmd, "GET", "/_ping")[0] == 200
    cnmd.docker("network", "rm", "dup")


def test_ping_headers(cnmd):
    status, body, headers = api(cnmd, "GET", "/_ping")
    assert status == 200 and body == "OK"
    assert headers["Api-Version"] == "1.45" and headers["Ostype"] == "linux"
    status, _, headers = api(cnmd, "HEAD", "/_ping")
    assert status == 200 and headers["Api-Version"] == "1.45"


def test_connect_disconnect_and_rm_with_endpoints(cnmd):
    cnmd.docker("network", "create", "cd-net")
    cnmd.cnm("sandbox", "create", "--name", "cd-box", "--network", "none")
    status, body, _ = api(cnmd, "POST", "/networks/cd-net/connect", {"Container": "cd-box"})
    assert status == 400 and "private (none) mode" in body["message"]
    cnmd.cnm("sandbox", "rm", "-f", "cd-box")

    cnmd.cnm("sandbox", "create", "--name", "cd-box2", "--network", "cd-net")
    cnmd.cnm("sandbox", "create", "--name", "cd-box3", "--network", "bridge")
    cnmd.docker("network", "connect", "--alias", "web", "cd-net", "cd-box3")
    [net] = json.loads(cnmd.docker("network", "inspect", "cd-net").stdout)
    names = sorted(c["Name"] for c in net["Containers"].values())
    assert names == ["cd-box2", "cd-box3"]
    again = cnmd.docker("network", "connect", "cd-net", "cd-box3", check=False)
    assert "already exists in network cd-net" in again.stderr
    rm = cnmd.docker("network", "rm", "cd-net", check=False)
    assert rm.returncode == 1 and "has active endpoints" in rm.stderr and "cd-box2" in rm.stderr
    box3 = cnmd.inspect("sandbox", "cd-box3")
    assert set(box3["Networks"]) == {"bridge", "cd-net"}
    assert box3["Networks"]["cd-net"]["Aliases"] == ["web"]
    assert "eth1" in cnmd.run_in_sandbox("cd-box3", "ip", "-br", "link").stdout
    cnmd.docker("network", "disconnect", "cd-net", "cd-box3")
    cnmd.docker("network", "disconnect", "cd-net", "cd-box2")
    assert "eth1" not in cnmd.run_in_sandbox("cd-box3", "ip", "-br", "link").stdout
    not_connected = cnmd.docker("network", "disconnect", "cd-net", "cd-box3", check=False)
    assert "is not connected to the network cd-net" in not_connected.stderr
    cnmd.docker("network", "rm", "cd-net")
    cnmd.cnm("sandbox", "rm", "-f", "cd-box2", "cd-box3")


def test_prune(cnmd):
    cnmd.docker("network", "create", "--label", "keep=yes", "pr-keep")
    cnmd.docker("network", "create", "pr-gone")
    out = cnmd.docker("network", "prune", "-f", "--filter", "label!=keep=yes").stdout
    assert "pr-gone" in out and "pr-keep" not in out
    names = cnmd.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "pr-keep" in names and "pr-gone" not in names and "bridge" in names
    cnmd.docker("network", "prune", "-f")
    assert "pr-keep" not in cnmd.docker("network", "ls", "--format", "{{.Name}}").stdout.split()


def test_docker_inspect_sandbox_as_container(cnmd):
    cnmd.cnm("sandbox", "create", "--name", "insp", "--hostname", "insphost")
    [container] = json.loads(cnmd.docker("inspect", "insp").stdout)
    assert container["Name"] == "/insp"
    assert container["Config"]["Hostname"] == "insphost"
    assert container["NetworkSettings"]["Networks"]["bridge"]["IPAddress"].startswith("172.17.")
    cnmd.cnm("sandbox", "rm", "-f", "insp")
