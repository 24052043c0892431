"""`docker events` from the real CLI: network changes as they happen, and replay with --since/--until."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from .conftest import api


def _listeners(daemon) -> int:
    status, body, _ = api(daemon, "GET", "/v1.45/info")
    assert status == 200
    return body["NEventsListener"]


def _wait_listeners(daemon, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _listeners(daemon) != count:
        assert time.monotonic() < deadline, f"events listeners never reached {count}"
        time.sleep(0.05)


def _docker_env(daemon) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": daemon.host, "DOCKER_CONFIG": os.path.join(daemon.root, "docker-config")}


def _read_lines(process: subprocess.Popen, count: int, timeout: float = 15) -> list[dict]:
    lines: list[dict] = []
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while len(lines) < count:
        assert time.monotonic() < deadline, f"only {len(lines)} of {count} events arrived: {lines}"
        line = process.stdout.readline()
        if not line:
            break
        lines.append(json.loads(line))
    return lines


@pytest.fixture
def watcher(cnmd):
    """`docker events --filter type=network` running, and its listener known to be subscribed."""
    _wait_listeners(cnmd, 0)  # a reader of an earlier test is gone within a second
    process = subprocess.Popen(["docker", "events", "--filter", "type=network", "--filter", "network=ev-net",
                                "--format", "{{json .}}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=_docker_env(cnmd))
    try:
        _wait_listeners(cnmd, 1)
        yield process
    finally:
        process.terminate()
        process.wait(10)


def test_cli_sees_create_connect_disconnect_destroy_as_they_happen(cnmd, watcher):
    cnmd.cnm("sandbox", "create", "--name", "ev-box")
    box = cnmd.inspect("sandbox", "ev-box")["Id"]
    nid = cnmd.docker("network", "create", "ev-net").stdout.strip()
    [created] = _read_lines(watcher, 1)  # flushed at once, before anything else happens
    cnmd.docker("network", "connect", "ev-net", "ev-box")
    [connected] = _read_lines(watcher, 1)
    cnmd.docker("network", "disconnect", "ev-net", "ev-box")
    cnmd.docker("network", "rm", "ev-net")
    disconnected, destroyed = _read_lines(watcher, 2)
    cnmd.cnm("sandbox", "rm", "-f", "ev-box")

    assert [e["Action"] for e in (created, connected, disconnected, destroyed)] == [
        "create", "connect", "disconnect", "destroy"]
    for event in (created, connected, disconnected, destroyed):
        assert event["Type"] == "network" and event["scope"] == "local"
        assert event["Actor"]["ID"] == nid
        assert event["Actor"]["Attributes"]["name"] == "ev-net"
        assert event["Actor"]["Attributes"]["type"] == "bridge"
        assert event["timeNano"] // 1_000_000_000 == event["time"]
    assert "container" not in created["Actor"]["Attributes"]
    assert connected["Actor"]["Attributes"]["container"] == box
    assert disconnected["Actor"]["Attributes"]["container"] == box
    times = [e["timeNano"] for e in (created, connected, disconnected, destroyed)]
    assert times == sorted(times)


def test_since_until_replays_the_window_and_ends(cnmd):
    start = time.time()
    cnmd.cnm("sandbox", "create", "--name", "rp-box")
    cnmd.docker("network", "create", "rp-net")
    cnmd.docker("network", "connect", "rp-net", "rp-box")
    cnmd.docker("network", "disconnect", "rp-net", "rp-box")
    cnmd.docker("network", "rm", "rp-net")
    end = time.time()
    cnmd.docker("network", "create", "rp-after")  # outside the window
    window = ["--since", f"{start:.9f}", "--until", f"{end:.9f}"]
    result = cnmd.docker("events", *window, "--filter", "network=rp-", "--format",
                         "{{.Action}} {{.Actor.Attributes.name}}", timeout=20)
    assert result.stdout.splitlines() == ["create rp-net", "connect rp-net", "disconnect rp-net", "destroy rp-net"]
    only = cnmd.docker("events", *window, "--filter", "event=disconnect", "--format", "{{.Action}}", timeout=20)
    assert only.stdout.split() == ["disconnect"]
    cnmd.docker("network", "rm", "rp-after")
    cnmd.cnm("sandbox", "rm", "-f", "rp-box")


def test_until_in_the_future_streams_then_ends(cnmd):
    _wait_listeners(cnmd, 0)
    until = time.time() + 2
    process = subprocess.Popen(["docker", "events", "--until", f"{until:.9f}", "--filter", "network=fu-net",
                                "--format", "{{.Action}}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=_docker_env(cnmd))
    try:
        _wait_listeners(cnmd, 1)
        cnmd.docker("network", "create", "fu-net")
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.split() == ["create"]
    assert time.time() >= until - 0.1
    cnmd.docker("network", "rm", "fu-net")


def test_an_open_stream_does_not_hold_the_daemon_stop(fresh_cnmd):
    process = subprocess.Popen(["docker", "events"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_docker_env(fresh_cnmd))
    try:
        _wait_listeners(fresh_cnmd, 1)
        start = time.monotonic()
        assert fresh_cnmd.stop() == 0
        assert time.monotonic() - start < 5
        assert process.wait(5) == 0  # the stream ended, as when dockerd stops
    finally:
        if process.poll() is None:
            process.kill()
    assert "daemon stopped" in fresh_cnmd.log()
