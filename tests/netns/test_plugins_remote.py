"""Docker network and IPAM plugins out of process: the labs example, and a misbehaving one in front of it.

The example plugin (labs/plugins/remote-example/rbridge.py) runs in the
daemon's throwaway host namespace with its socket in the daemon's own plugin
directory.  The misbehaving plugin ``flaky`` is a proxy in front of it
(plugin_faults.py) that turns chosen calls slow, wrong or fatal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from libnetwork.testing import new_daemon

from .conftest import api

REPO = Path(__file__).resolve().parents[2]
RBRIDGE = REPO / "labs" / "plugins" / "remote-example" / "rbridge.py"
FAULTS = Path(__file__).with_name("plugin_faults.py")
TIMEOUT = 2  # the daemon's --plugin-timeout in this module


class Process:
    """A plugin process in the daemon's host namespace, listening on ``socket``."""

    def __init__(self, daemon, socket: str, *argv: str):
        self.daemon, self.socket, self.argv = daemon, socket, argv
        self.proc: subprocess.Popen | None = None
        self.log = os.path.join(daemon.root, os.path.basename(socket) + ".log")

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(["nsenter", f"--net={self.daemon.netns_path}", sys.executable, *self.argv],
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"plugin exited: {open(self.log).read()}")
            if os.path.exists(self.socket) and self._answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"plugin did not come up: {open(self.log).read()}")

    def _answers(self) -> bool:
        import socket

        probe = socket.socket(socket.AF_UNIX)
        try:
            probe.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def wait_dead(self) -> None:
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def host():
    daemon = new_daemon("--plugin-timeout", str(TIMEOUT))
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


@pytest.fixture(scope="module")
def rbridge(host):
    state = os.path.join(host.root, "rbridge-state.json")
    socket = os.path.join(host.plugin_dir, "rbridge.sock")
    plugin = Process(host, socket, str(RBRIDGE), "--socket", socket, "--state", state, "--debug")
    plugin.state_path = state
    plugin.start()
    yield plugin
    plugin.stop()


class Flaky(Process):
    def __init__(self, daemon, upstream: str):
        self.faults = os.path.join(daemon.root, "faults.json")
        socket = os.path.join(daemon.plugin_dir, "flaky.sock")
        super().__init__(daemon, socket, str(FAULTS), socket, upstream, self.faults)
        self.set({})

    def set(self, faults: dict) -> None:
        with open(self.faults, "w") as handle:
            json.dump(faults, handle)


@pytest.fixture
def flaky(host, rbridge):
    plugin = Flaky(host, rbridge.socket)
    plugin.start()
    yield plugin
    plugin.stop()


def plugin_state(rbridge) -> dict:
    with open(rbridge.state_path) as handle:
        return json.load(handle)


def host_links(daemon) -> set[str]:
    out = daemon.run_on_host("ip", "-o", "link", "show").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def network_names(daemon) -> set[str]:
    return set(daemon.cnm("network", "ls", "--format", "{{.Name}}").stdout.split())


def sandbox_names(daemon) -> set[str]:
    return set(daemon.cnm("sandbox", "ls", "--format", "{{.Name}}").stdout.split())


def address(daemon, sandbox: str, network: str) -> str:
    return daemon.inspect("sandbox", sandbox)["Networks"][network]["IPAddress"]


# -- the example plugin --------------------------------------------------------------

def test_remote_network_passes_traffic(host, rbridge):
    nid = host.cnm("network", "create", "-d", "rbridge", "--subnet", "10.88.0.0/24",
                   "-o", "rbridge.routes=198.51.100.0/24", "rnet").stdout.strip()
    assert host.inspect("network", "rnet")["Driver"] == "rbridge"
    assert f"rb-{nid[:12]}" in host_links(host)
    host.cnm("sandbox", "create", "--name", "r1", "--network", "rnet")
    host.cnm("sandbox", "create", "--name", "r2", "--network", "rnet")
    host.run_in_sandbox("r1", "ping", "-c", "1", "-W", "2", address(host, "r2", "rnet"))
    host.run_in_sandbox("r2", "ping", "-c", "1", "-W", "2", "10.88.0.1")
    routes = host.run_in_sandbox("r1", "ip", "route").stdout
    assert "default via 10.88.0.1 dev eth0" in routes
    assert "198.51.100.0/24 via 10.88.0.1 dev eth0" in routes
    # The plugin chose the MAC address in CreateEndpoint.
    assert host.inspect("sandbox", "r1")["Networks"]["rnet"]["MacAddress"] == "02:42:0a:58:00:02"
    state = plugin_state(rbridge)
    assert state["networks"][nid]["address_space"] == "LocalDefault"
    assert len(state["endpoints"]) == 2
    # Published ports go to ProgramExternalConnectivity, which this plugin
    # does not implement (404): as with Docker, that is not an error.
    host.cnm("sandbox", "create", "--name", "r3", "--network", "rnet", "-p", "8080:80")
    host.run_in_sandbox("r3", "ping", "-c", "1", "-W", "2", address(host, "r1", "rnet"))
    host.cnm("sandbox", "rm", "-f", "r1", "r2", "r3")
    assert not [link for link in host_links(host) if link.startswith("rbh")]
    assert plugin_state(rbridge)["endpoints"] == {}
    host.cnm("network", "rm", "rnet")
    assert f"rb-{nid[:12]}" not in host_links(host)
    assert plugin_state(rbridge)["networks"] == {}


def test_remote_ipam_and_the_docker_cli(host, rbridge):
    host.docker("network", "create", "--driver", "rbridge", "--ipam-driver", "rbridge",
                "--subnet", "10.91.0.0/24", "both")
    network = host.inspect("network", "both")
    assert network["IPAM"]["Driver"] == "rbridge"
    host.cnm("sandbox", "create", "--name", "i1")
    host.docker("network", "connect", "both", "i1")
    host.cnm("sandbox", "create", "--name", "i2", "--network", "both")
    # Addresses come from the plugin: the gateway took .1, then .2 and .3 in order.
    assert address(host, "i1", "both") == "10.91.0.2"
    assert address(host, "i2", "both") == "10.91.0.3"
    pools = plugin_state(rbridge)["pools"]
    assert pools == {"rbridge-local/10.91.0.0/24": {"pool": "10.91.0.0/24",
                                                   "allocated": ["10.91.0.1", "10.91.0.2", "10.91.0.3"]}}
    # The pool's address space is the plugin's, passed on to the network driver too.
    assert [n["address_space"] for n in plugin_state(rbridge)["networks"].values()] == ["rbridge-local"]
    host.run_in_sandbox("i2", "ping", "-c", "1", "-W", "2", "10.91.0.2")
    host.docker("network", "disconnect", "both", "i1")
    assert plugin_state(rbridge)["pools"]["rbridge-local/10.91.0.0/24"]["allocated"] == ["10.91.0.1", "10.91.0.3"]
    host.cnm("sandbox", "rm", "-f", "i1", "i2")
    host.docker("network", "rm", "both")
    assert plugin_state(rbridge)["pools"] == {}


def test_plugin_restart_and_daemon_restart(host, rbridge):
    host.cnm("network", "create", "-d", "rbridge", "--subnet", "10.92.0.0/24", "keep")
    host.cnm("sandbox", "create", "--name", "k1", "--network", "keep")
    rbridge.stop()
    rbridge.start()
    # The plugin kept its state; the daemon simply calls it again.
    host.cnm("sandbox", "create", "--name", "k2", "--network", "keep")
    host.run_in_sandbox("k2", "ping", "-c", "1", "-W", "2", address(host, "k1", "keep"))
    host.stop()
    host.start()
    # Not replayed at start (a Docker plugin is told once); used again on first use.
    assert host.run_on_host("ip", "-o", "link", "show").returncode == 0
    host.cnm("sandbox", "create", "--name", "k3", "--network", "keep")
    host.run_in_sandbox("k3", "ping", "-c", "1", "-W", "2", address(host, "k1", "keep"))
    assert len(plugin_state(rbridge)["endpoints"]) == 3
    host.cnm("sandbox", "rm", "-f", "k1", "k2", "k3")
    host.cnm("network", "rm", "keep")


# -- a plugin that misbehaves ---------------------------------------------------------------

def test_error_answer_rolls_back_the_network(host, flaky):
    flaky.set({"NetworkDriver.CreateNetwork": {"kind": "error", "message": "no bridges today"}})
    status, body, _ = api(host, "POST", "/networks/create",
                          {"Name": "f1", "Driver": "flaky", "IPAM": {"Config": [{"Subnet": "10.89.0.0/24"}]}})
    assert (status, body["message"]) == (500, 'remote plugin "flaky": NetworkDriver.CreateNetwork: no bridges today')
    assert "f1" not in network_names(host)
    flaky.set({})
    # The pool came back to IPAM: the same subnet can be had again.
    host.cnm("network", "create", "-d", "flaky", "--subnet", "10.89.0.0/24", "f1")
    flaky.set({"NetworkDriver.DeleteNetwork": {"kind": "error", "message": "busy"}})
    result = host.docker("network", "rm", "f1", check=False)
    assert 'remote plugin "flaky": NetworkDriver.DeleteNetwork: busy' in result.stderr
    flaky.set({})
    host.cnm("network", "rm", "f1")
    assert "f1" not in network_names(host)


def test_slow_plugin_times_out_and_nothing_stays(host, flaky, rbridge):
    host.cnm("network", "create", "-d", "flaky", "--subnet", "10.90.0.0/24", "f2")
    host.cnm("sandbox", "create", "--name", "s0")
    links = host_links(host)
    flaky.set({"NetworkDriver.CreateEndpoint": {"kind": "slow", "seconds": 8}})
    start = time.monotonic()
    result = host.cnm("sandbox", "create", "--name", "s1", "--network", "f2", check=False)
    assert time.monotonic() - start < 6
    assert result.returncode != 0
    assert f'remote plugin "flaky": NetworkDriver.CreateEndpoint: no answer within {TIMEOUT}s' in result.stderr
    status, body, _ = api(host, "POST", "/networks/f2/connect", {"Container": "s0"})
    assert status == 503 and "no answer within" in body["message"]
    assert "s1" not in sandbox_names(host)
    assert list(host.inspect("sandbox", "s0")["Networks"]) == ["bridge"]
    assert host_links(host) == links
    flaky.set({})
    host.cnm("sandbox", "create", "--name", "s1", "--network", "f2")
    # The addresses the failed attempts had were released: the first one is handed out again.
    assert address(host, "s1", "f2") == "10.90.0.2"
    host.cnm("sandbox", "rm", "-f", "s0", "s1")
    host.cnm("network", "rm", "f2")


def test_wrong_json_after_the_plugin_acted_is_undone(host, flaky, rbridge):
    host.cnm("network", "create", "-d", "flaky", "--subnet", "10.93.0.0/24", "f3")
    host.cnm("sandbox", "create", "--name", "g0")
    links = host_links(host)
    flaky.set({"NetworkDriver.Join": {"kind": "garbage", "forward": True}})
    status, body, _ = api(host, "POST", "/networks/f3/connect", {"Container": "g0"})
    assert status == 500
    assert body["message"].startswith('remote plugin "flaky": NetworkDriver.Join: invalid reply: not JSON')
    # The plugin made a veth for the join; the daemon's rollback (DeleteEndpoint) removed it.
    assert host_links(host) == links
    assert plugin_state(rbridge)["endpoints"] == {}
    assert list(host.inspect("sandbox", "g0")["Networks"]) == ["bridge"]
    assert set(host.run_in_sandbox("g0", "ip", "-o", "link", "show").stdout.split()) >= {"1:", "lo:"}
    assert "eth1" not in host.run_in_sandbox("g0", "ip", "-o", "link", "show").stdout
    flaky.set({})
    host.cnm("network", "connect", "f3", "g0")
    assert address(host, "g0", "f3") == "10.93.0.2"
    host.cnm("sandbox", "rm", "-f", "g0")
    host.cnm("network", "rm", "f3")


def test_crash_mid_call_then_the_plugin_comes_back(host, flaky, rbridge):
    host.cnm("network", "create", "-d", "flaky", "--subnet", "10.94.0.0/24", "f4")
    host.cnm("sandbox", "create", "--name", "c1", "--network", "f4")
    host.cnm("sandbox", "create", "--name", "c0")
    links = host_links(host)
    flaky.set({"NetworkDriver.Join": {"kind": "crash"}})
    status, body, _ = api(host, "POST", "/networks/f4/connect", {"Container": "c0"})
    flaky.wait_dead()
    # The error is the call that failed, not the rollback's (DeleteEndpoint to a dead plugin).
    assert status == 503
    assert body["message"].startswith('remote plugin "flaky": NetworkDriver.Join: connection lost')
    assert list(host.inspect("sandbox", "c0")["Networks"]) == ["bridge"]
    assert host_links(host) == links
    # While it is down, calls fail after the connect retries, naming the plugin.
    result = host.cnm("network", "connect", "f4", "c0", check=False)
    assert 'remote plugin "flaky": NetworkDriver.CreateEndpoint: cannot connect to unix://' in result.stderr
    flaky.set({})
    flaky.start()
    host.cnm("network", "connect", "f4", "c0")
    # 10.94.0.3 went to no one for good: the failed attempts gave theirs back.
    assert address(host, "c0", "f4") == "10.94.0.3"
    host.run_in_sandbox("c0", "ping", "-c", "1", "-W", "2", address(host, "c1", "f4"))
    host.cnm("sandbox", "rm", "-f", "c0", "c1")
    host.cnm("network", "rm", "f4")


def test_a_name_no_plugin_answers_to(host):
    status, body, _ = api(host, "POST", "/networks/create", {"Name": "n", "Driver": "nosuch"})
    assert (status, body["message"]) == (404, "could not find plugin nosuch in v1 plugin registry: plugin not found")
    status, body, _ = api(host, "POST", "/networks/create", {"Name": "n", "IPAM": {"Driver": "nosuch"}})
    assert status == 404 and "nosuch" in body["message"]
    assert "n" not in network_names(host)
