"""A restarted daemon has all its state back and the kernel matches its records."""

from __future__ import annotations

import json
import os
import subprocess
import time

from .conftest import api


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
    d.stop()
    # someone removed the bridge and a sandbox's interface while the daemon was down
    d.run_on_host("ip", "link", "del", f"br-{nid[:12]}")
    h1_path = os.path.join(d.exec_root, "netns", _offline_id(d, "h1")[:12])
    subprocess.run(["nsenter", f"--net={h1_path}", "ip", "link", "del", "eth0"], check=True)
    d.start()
    d.run_on_host("ip", "link", "show", f"br-{nid[:12]}")
    d.run_in_sandbox("h1", "ping", "-c", "1", "-W", "2", h2_ip)


def _offline_id(daemon, name):
    from libnetwork.store import Store

    store = Store(daemon.data_root)
    try:
        for record in store.load("sandbox"):
            if record.name == name:
                return record.id
    finally:
        store.close()
    raise KeyError(name)


def test_upgrade_from_the_first_store_keeps_everything(fresh_cnmd):
    """A state.db the first store wrote (one JSON body per kind and id) is migrated at start."""
    d = fresh_cnmd
    d.cnm("network", "create", "--subnet", "10.45.0.0/24", "--ipv6", "--subnet", "fd45::/64", "old")
    d.cnm("sandbox", "create", "--name", "o1", "--network", "old", "-p", "8080:80")
    d.cnm("sandbox", "create", "--name", "o2", "--network", "old")
    before = _state(d)
    assert d.stop() == 0
    _as_first_store_wrote_it(os.path.join(d.data_root, "state.db"))
    d.start()
    assert _state(d) == before
    d.run_in_sandbox("o1", "ping", "-c", "1", "-W", "2", before[1]["o2"]["Networks"]["old"]["IPAddress"])


def _as_first_store_wrote_it(path):
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    rows = db.execute("SELECT key, value FROM kv ORDER BY create_revision").fetchall()
    db.execute("DROP TABLE kv")
    db.execute("DROP TABLE meta")
    db.execute("CREATE TABLE records (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, "
               "PRIMARY KEY (kind, id))")
    for key, value in rows:
        kind, rid = key.split("/", 1)
        db.execute("INSERT INTO records(kind, id, body) VALUES (?, ?, ?)", (kind, rid, value.decode()))
    db.execute("PRAGMA user_version = 0")
    db.close()


def test_kill9_in_the_middle_of_connects(fresh_cnmd):
    """Crash during a burst of connects: afterwards every record is whole and nothing half-made stays."""
    d = fresh_cnmd
    d.cnm("network", "create", "--subnet", "10.43.0.0/24", "crash")
    d.cnm("network", "create", "--subnet", "10.44.0.0/24", "crash2")
    d.cnm("sandbox", "create", "--name", "stay", "--network", "crash2")
    for i in range(6):
        d.cnm("sandbox", "create", "--name", f"s{i}", "--network", "bridge")
    procs = [subprocess.Popen(["cnm", "-H", d.host, "network", "connect", "crash", f"s{i}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(6)]
    time.sleep(0.15)
    d.kill9()
    for p in procs:
        p.wait()
    d.start()
    crash = d.inspect("network", "crash")
    connected = {c["Name"] for c in crash["Containers"].values()}
    ips = [c["IPv4Address"] for c in crash["Containers"].values()]
    assert len(ips) == len(set(ips))
    host_links = d.run_on_host("ip", "-br", "link").stdout
    # one host-side veth per endpoint that exists: bridge sandboxes, crash2's, and the connected ones
    veths = [line for line in host_links.splitlines() if line.startswith("veth")]
    assert len(veths) == 6 + 1 + len(connected)
    for name in connected:
        box = d.inspect("sandbox", name)
        assert "eth1" in d.run_in_sandbox(name, "ip", "-br", "link").stdout
        assert box["Networks"]["crash"]["IPAddress"]
    for i in range(6):
        name = f"s{i}"
        if name not in connected:
            assert "eth1" not in d.run_in_sandbox(name, "ip", "-br", "link").stdout
            d.cnm("network", "connect", "crash", name)
    d.run_in_sandbox("s0", "ping", "-c", "1", "-W", "2", "10.43.0.1")


def test_refuses_second_daemon_on_same_data_root(fresh_cnmd):
    d = fresh_cnmd
    result = subprocess.run(["nsenter", f"--net={d.netns_path}", "cnmd", "--data-root", d.data_root,
                             "--exec-root", d.exec_root + "-2", "-H", f"unix://{d.root}/other.sock"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode != 0
    assert "in use" in result.stderr and d.data_root in result.stderr
    assert api(d, "GET", "/_ping")[0] == 200
