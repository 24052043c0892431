"""Per-network locking: unrelated networks change while a Docker plugin on a third one hangs.

Before, one lock and one kernel thread serialised every change, so a plugin
that does not answer (up to --plugin-timeout) held up every network.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from libnetwork.testing import new_daemon

from .test_plugins_remote import RBRIDGE, Flaky, Process
from .traffic import pings

pytestmark = pytest.mark.netns

TIMEOUT = 120  # the daemon's --plugin-timeout: the test ends the hang itself, long before


@pytest.fixture
def host():
    daemon = new_daemon("--plugin-timeout", str(TIMEOUT))
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


def test_unrelated_networks_change_while_a_plugin_hangs(host):
    state = os.path.join(host.root, "rbridge-state.json")
    rbridge = Process(host, os.path.join(host.plugin_dir, "rbridge.sock"), str(RBRIDGE),
                      "--socket", os.path.join(host.plugin_dir, "rbridge.sock"), "--state", state)
    rbridge.start()
    flaky = Flaky(host, rbridge.socket)
    flaky.start()
    try:
        host.cnm("network", "create", "-d", "flaky", "--subnet", "10.91.0.0/24", "stuck")
        release = os.path.join(host.root, "release-join")
        flaky.set({"NetworkDriver.Join": {"kind": "hold", "until": release, "answer": {"Err": "released"}}})
        entered = threading.Event()
        outcome: dict[str, subprocess.CompletedProcess] = {}

        def hung_connect() -> None:
            entered.set()
            outcome["result"] = host.cnm("sandbox", "create", "--name", "waiting", "--network", "stuck",
                                         check=False, timeout=TIMEOUT)

        hung = threading.Thread(target=hung_connect, daemon=True)
        hung.start()
        entered.wait(5)
        calls = flaky.faults + ".calls"
        _wait(lambda: os.path.exists(calls) and "held NetworkDriver.Join" in open(calls).read(),
              "the plugin to hold the Join")

        # Two unrelated networks change, at the same time as each other, while the Join hangs.
        def change(net: str, subnet: str, errors: list[str]) -> None:
            try:
                host.cnm("network", "create", "--subnet", subnet, net)
                host.cnm("sandbox", "create", "--name", f"{net}-a", "--network", net)
                host.cnm("sandbox", "create", "--name", f"{net}-b", "--network", net)
                b = host.inspect("sandbox", f"{net}-b")["Networks"][net]["IPAddress"]
                assert pings(host.sandbox_netns(f"{net}-a"), b), f"{net}: no ping"
                host.cnm("network", "disconnect", net, f"{net}-b")
                host.cnm("sandbox", "rm", "-f", f"{net}-a", f"{net}-b")
                host.cnm("network", "rm", net)
            except Exception as err:  # reported by the main thread
                errors.append(f"{net}: {err}")

        errors: list[str] = []
        workers = [threading.Thread(target=change, args=(net, subnet, errors))
                   for net, subnet in (("left", "10.92.0.0/24"), ("right", "10.93.0.0/24"))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not errors, errors
        # All of that happened while the plugin call was still pending.
        assert hung.is_alive() and "result" not in outcome

        # The plugin answers at last, with an error: the request fails and leaves nothing behind.
        open(release, "w").close()
        hung.join(30)
        result = outcome["result"]
        assert result.returncode != 0 and "released" in result.stderr, result
        names = set(host.cnm("sandbox", "ls", "--format", "{{.Name}}").stdout.split())
        assert "waiting" not in names
        assert set(host.cnm("network", "ls", "--format", "{{.Name}}").stdout.split()) == {
            "bridge", "host", "none", "stuck"}
    finally:
        flaky.stop()
        rbridge.stop()


def _wait(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
