"""`docker swarm init` on one host with every option, and what it refuses, leaving nothing behind."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from libnetwork.testing import Daemon

pytestmark = pytest.mark.netns


@pytest.fixture(autouse=True)
def _needs_serf_and_etcd() -> None:
    if subprocess.run(["which", "serf", "etcd"], capture_output=True).returncode != 0:
        pytest.skip("needs Debian's serf and etcd-server")


def swarm_dir(daemon: Daemon) -> str:
    return os.path.join(daemon.data_root, "swarm")


def test_init_with_every_option_then_leave(fresh_cnmd: Daemon) -> None:
    # dockerd accepts an advertise address the host does not have; this host has only lo
    out = fresh_cnmd.docker(
        "swarm", "init", "--advertise-addr", "10.99.99.99", "--data-path-port", "4790",
        "--default-addr-pool", "10.20.0.0/16", "--default-addr-pool", "10.30.0.0/16",
        "--default-addr-pool-mask-length", "26", "--task-history-limit", "3", "--cert-expiry", "48h").stdout
    assert "10.99.99.99:2377" in out
    swarm = json.loads(fresh_cnmd.cnm("swarm", "inspect").stdout)[0]
    assert swarm["DefaultAddrPool"] == ["10.20.0.0/16", "10.30.0.0/16"]
    assert (swarm["SubnetSize"], swarm["DataPathPort"]) == (26, 4790)
    assert swarm["Spec"]["Orchestration"] == {"TaskHistoryRetentionLimit": 3}
    assert swarm["Spec"]["CAConfig"]["NodeCertExpiry"] == 172_800_000_000_000
    assert swarm["Spec"]["Raft"]["ElectionTick"] == 10
    assert swarm["JoinTokens"]["Worker"] != swarm["JoinTokens"]["Manager"]
    info = fresh_cnmd.docker("info").stdout
    assert "Default Address Pool: 10.20.0.0/16  10.30.0.0/16" in info and "Data Path Port: 4790" in info
    assert "Is Manager: true" in info
    ping = subprocess.run(["curl", "-sI", "--unix-socket", fresh_cnmd.socket, "http://x/_ping"],
                          capture_output=True, text=True).stdout
    assert "Swarm: active/manager" in ping
    refused = fresh_cnmd.docker("swarm", "leave", check=False)
    assert refused.stderr.strip() == (
        "Error response from daemon: You are attempting to leave the swarm on a node that is participating as a "
        "manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this "
        "message.")
    assert fresh_cnmd.docker("swarm", "leave", "--force").stdout.strip() == "Node left the swarm."
    assert not os.path.exists(swarm_dir(fresh_cnmd))
    assert "Swarm: inactive" in fresh_cnmd.docker("info").stdout


@pytest.mark.parametrize("args, status_text", [
    (["--data-path-port", "80"], "Datapath port number is not in valid range (1024-49151) : 80"),
    (["--listen-addr", "10.99.99.99:2377"],
     "manager stopped: failed to listen on remote API address: listen tcp 10.99.99.99:2377: bind: cannot assign "
     "requested address"),
    (["--advertise-addr", "eth9"],
     "advertise address must be a non-zero IP address or network interface (with optional port number)"),
    (["--autolock"], "autolock is not supported by this daemon"),
])
def test_refused_init_leaves_nothing(fresh_cnmd: Daemon, args: list[str], status_text: str) -> None:
    base = [] if "--advertise-addr" in args else ["--advertise-addr", "10.99.99.99"]
    refused = fresh_cnmd.docker("swarm", "init", *base, *args, check=False)
    assert refused.returncode == 1 and status_text in refused.stderr
    assert not os.path.exists(swarm_dir(fresh_cnmd))
    assert "Swarm: inactive" in fresh_cnmd.docker("info").stdout
    # and the node can still init
    fresh_cnmd.docker("swarm", "init", "--advertise-addr", "10.99.99.99")
    fresh_cnmd.docker("swarm", "leave", "--force")
