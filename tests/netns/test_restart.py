"""A restarted daemon has all its state back and the kernel matches its records."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time

from .conftest import api
from .test_plugins_remote import RBRIDGE, Flaky, Process, host_links, plugin_state


def _state(daemon):
    nets = {n["Name"]: n for n in json.loads(daemon.cnm("network", "inspect", *[
        line for line in daemon.cnm("network", "ls", "--format", "{{.Name}}").stdout.split()]).stdout)}
    boxes = {b["Name"]: b for b in json.loads(daemon.cnm("sandbox", "inspect", *[
        line for line in daemon.cnm("sandbox", "ls", "--format", "{{.Name}}").stdout.split()]).stdout)} \
        if daemon.cnm("sandbox", "ls", "-q").stdout.strip() else {}
    return nets, boxes


def test_restart_keeps_everything(fresh_cnmd):
    d = fresh_cnmd
    d.cnm("network", "create", "--subnet", "10.41.0.0/24", "keep")
    d.cnm("sandbox", "create", "--name", "k1", "--network", "keep")
    d.cnm("sandbox", "create", "--name", "k2", "--network", "keep", "--network", "bridge")
    before = _state(d)
    assert d.stop() == 0
    # stopping leaves the data plane in place
    assert "br-" in d.run_on_host("ip", "-br", "link").stdout
    d.start()
    after = _state(d)
    assert after == before
    d.run_in_sandbox("k1", "ping", "-c", "1", "-W", "2", after[1]["k2"]["Networks"]["keep"]["IPAddress"])
    # new allocations do not collide with restored ones
    d.cnm("sandbox", "create", "--name", "k3", "--network", "keep")
    assert d.inspect("sandbox", "k3")["Networks"]["keep"]["IPAddress"] == "10.41.0.4"


def test_restart_recreates_missing_kernel_objects(fresh_cnmd):
    d = fresh_cnmd
    nid = d.cnm("network", "create", "--subnet", "10.42.0.0/24", "heal").stdout.strip()
    d.cnm("sandbox", "create", "--name", "h1", "--network", "heal")
    d.cnm("sandbox", "create", "--name", "h2", "--network", "heal")
    h2_ip = d.inspect("sandbox", "h2")["Networks"]["heal"]["IPAddress"]
    d.run_in_sandbox("h2", "ping", "-c", "1", "-W", "2", "10.42.0.1")
    bridge_mac = _mac(d.run_on_host("ip", "-o", "link", "show", f"br-{nid[:12]}").stdout)
    d.stop()
    # someone removed the bridge and a sandbox's interface while the daemon was down
    d.run_on_host("ip", "link", "del", f"br-{nid[:12]}")
    h1_path = os.path.join(d.exec_root, "netns", _offline_id(d, "h1")[:12])
    subprocess.run(["nsenter", f"--net={h1_path}", "ip", "link", "del", "eth0"], check=True)
    d.start()
    # Made again with the MAC it had: h2's neighbour entry for the gateway is still right.
    assert _mac(d.run_on_host("ip", "-o", "link", "show", f"br-{nid[:12]}").stdout) == bridge_mac
    d.run_in_sandbox("h2", "ping", "-c", "1", "-W", "2", "10.42.0.1")
    d.run_in_sandbox("h1", "ping", "-c", "1", "-W", "2", h2_ip)


def _mac(link_line: str) -> str:
    return link_line.split("link/ether ", 1)[1].split()[0]


def _offline_id(daemon, name):
    return next(r["id"] for r in _offline_records(daemon, "sandbox").values() if r["name"] == name)


def _offline_records(daemon, kind):
    """The records of ``kind`` as the store holds them while the daemon is down (plain dicts)."""
    from libnetwork.store import Store
    from libnetwork.store.codec import encode

    store = Store(daemon.data_root)
    try:
        return {r.id: json.loads(encode(r)) for r in store.load(kind)}
    finally:
        store.close()


def _calls(flaky) -> list[tuple[str, str]]:
    """The remote plugin calls the proxy saw, in order: (method, endpoint ID or "-")."""
    try:
        with open(flaky.faults + ".calls") as handle:
            return [(fields[-2], fields[-1]) for fields in (line.split() for line in handle)
                    if fields[0] != "held"]
    except FileNotFoundError:
        return []


def _wait_held(flaky, method: str, timeout: float = 30) -> str:
    """The endpoint ID of the first call to ``method`` the proxy holds, once it holds one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError), open(flaky.faults + ".calls") as handle:
            for line in handle:
                if line.startswith(f"held {method} "):
                    return line.split()[2]
        time.sleep(0.02)
    raise AssertionError(f"no {method} was held within {timeout}s: {_calls(flaky)}")


def test_kill9_in_the_middle_of_connects(fresh_cnmd):
    """Killed while a connect waits on its driver's Join: restart rolls it back and nothing half-made stays.

    The network's driver is the labs' example plugin behind the fault proxy,
    which passes Join on (the plugin makes its veth) and then holds the answer
    until the test has killed the daemon: the kill lands mid-connect every
    time, with a burst of connects queued behind the held one.
    """
    d = fresh_cnmd
    socket = os.path.join(d.plugin_dir, "rbridge.sock")
    rbridge = Process(d, socket, str(RBRIDGE), "--socket", socket, "--state", os.path.join(d.root, "rbridge.json"))
    rbridge.state_path = os.path.join(d.root, "rbridge.json")
    flaky = Flaky(d, socket)
    release = os.path.join(d.root, "release-join")
    try:
        rbridge.start()
        flaky.start()
        nid = d.cnm("network", "create", "-d", "flaky", "--subnet", "10.43.0.0/24", "crash").stdout.strip()
        for i in range(6):
            d.cnm("sandbox", "create", "--name", f"s{i}", "--network", "bridge")
        for i in range(2):
            d.cnm("network", "connect", "crash", f"s{i}")
        links = host_links(d)
        flaky.set({"NetworkDriver.Join": {"kind": "hold", "forward": True, "until": release}})
        procs = [subprocess.Popen(["cnm", "-H", d.host, "network", "connect", "crash", f"s{i}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2, 6)]
        held = _wait_held(flaky, "NetworkDriver.Join")
        d.kill9()
        assert all(p.wait(30) != 0 for p in procs)

        # It was mid-connect: the endpoint written and not ready, the plugin
        # asked to create and join it (it made its veth), and nothing after.
        on_crash = {e["id"]: e for e in _offline_records(d, "endpoint").values() if e["network_id"] == nid}
        assert on_crash[held]["ready"] is False
        assert sorted(e["name"] for e in on_crash.values() if e["ready"]) == ["s0", "s1"]
        assert len(on_crash) == 3
        assert [m for m, eid in _calls(flaky) if eid == held] == ["NetworkDriver.CreateEndpoint", "NetworkDriver.Join"]
        assert held in plugin_state(rbridge)["endpoints"]
        assert host_links(d) - links == {f"rbh{held[:10]}", f"rbc{held[:10]}"}

        flaky.set({})
        open(release, "w").close()
        seen = len(_calls(flaky))
        d.start()
        # The unfinished connect was rolled back through the plugin.
        assert [m for m, eid in _calls(flaky)[seen:] if eid == held] == [
            "NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint"]
        assert held not in plugin_state(rbridge)["endpoints"]
        assert host_links(d) == links
        crash = d.inspect("network", "crash")
        assert sorted(c["Name"] for c in crash["Containers"].values()) == ["s0", "s1"]
        assert held not in crash["Containers"]
        for i in range(2, 6):
            assert "eth1" not in d.run_in_sandbox(f"s{i}", "ip", "-br", "link").stdout
            d.cnm("network", "connect", "crash", f"s{i}")
        ips = [c["IPv4Address"] for c in d.inspect("network", "crash")["Containers"].values()]
        assert len(ips) == 6 and len(set(ips)) == 6
        s0 = d.inspect("sandbox", "s0")["Networks"]["crash"]["IPAddress"]
        d.run_in_sandbox("s5", "ping", "-c", "1", "-W", "2", s0)
        for i in range(6):
            d.cnm("network", "disconnect", "crash", f"s{i}")
        d.cnm("network", "rm", "crash")
    finally:
        open(release, "w").close()
        flaky.stop()
        rbridge.stop()


def test_refuses_second_daemon_on_same_data_root(fresh_cnmd):
    d = fresh_cnmd
    result = subprocess.run(["nsenter", f"--net={d.netns_path}", "cnmd", "--data-root", d.data_root,
                             "--exec-root", d.exec_root + "-2", "-H", f"unix://{d.root}/other.sock"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert "in use" in result.stderr and d.data_root in result.stderr
    assert api(d, "GET", "/_ping")[0] == 200
