"""taskrun: a command in a sandbox's namespaces, restarted when it exits, never outliving its stop or cnmd."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from libnetwork.cluster.children import is_alive
from libnetwork.taskrun import EXITED, RUNNING, TaskProcess, TaskStatus
from libnetwork.testing import run_in

FETCH = textwrap.dedent("""
    import sys, time, urllib.request
    deadline = time.monotonic() + 15
    while True:
        try:
            print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
""")

# A stand-in for cnmd: runs a task, says its pid, and waits to be killed.
PARENT = textwrap.dedent("""
    import asyncio, sys
    from libnetwork.taskrun import RUNNING, TaskProcess

    async def main():
        said = asyncio.Event()
        def on_state(status):
            if status.state == RUNNING:
                print(status.pid, flush=True)
                said.set()
        TaskProcess(["sleep", "300"], netns_path=sys.argv[1], log_path=sys.argv[2], on_state=on_state).start()
        await said.wait()
        await asyncio.sleep(300)

    asyncio.run(main())
""")


@pytest.fixture
def sandbox(namespace, tmp_path):
    """A task's namespace wired by a veth to a peer namespace, and its generated files."""
    task_ns, peer_ns = namespace("cnmtask"), namespace("cnmpeer")
    veth = f"vt{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "link", "add", veth, "netns", os.path.basename(task_ns), "type", "veth", "peer", "name",
                    "eth0", "netns", os.path.basename(peer_ns)], check=True)
    for ns, dev, ip in ((task_ns, veth, "10.77.0.1/24"), (peer_ns, "eth0", "10.77.0.2/24")):
        name = os.path.basename(ns)
        subprocess.run(["ip", "-n", name, "addr", "add", ip, "dev", dev], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", dev, "up"], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    (tmp_path / "resolv.conf").write_text("nameserver 127.0.0.11\noptions ndots:0\n")
    (tmp_path / "hosts").write_text("127.0.0.1\tlocalhost\n10.77.0.1\tweb-1\n")
    return task_ns, peer_ns, tmp_path


def task(sandbox, argv, **kwargs) -> TaskProcess:
    task_ns, _, files = sandbox
    kwargs.setdefault("log_path", str(files / "task.log"))
    return TaskProcess(argv, netns_path=task_ns, hostname="web-1",
                       files={"/etc/resolv.conf": str(files / "resolv.conf"), "/etc/hosts": str(files / "hosts")},
                       **kwargs)


def group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != b"Z":
                found.append(int(entry))
    return found


async def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_http_server_answers_on_the_sandbox_address(sandbox) -> None:
    _, peer_ns, files = sandbox

    async def scenario() -> None:
        server = task(sandbox, ("python3", "-m", "http.server", "8000", "--bind", "10.77.0.1"))
        server.start()
        assert server.pid != 0  # the first run is launched by start() itself
        try:
            fetched = await asyncio.to_thread(run_in, peer_ns, sys.executable, "-c", FETCH, "http://10.77.0.1:8000/",
                                              check=False)
            assert fetched.stdout.strip() == "200", fetched.stderr + (files / "task.log").read_text()
            assert server.state == RUNNING and server.restarts == 0
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_task_sees_its_hostname_and_files_and_the_host_keeps_its_own(sandbox) -> None:
    _, _, files = sandbox
    with open("/etc/resolv.conf", "rb") as before_resolv, open("/etc/hosts", "rb") as before_hosts:
        host_files = before_resolv.read(), before_hosts.read()
    host_name = os.uname().nodename
    statuses: list[TaskStatus] = []

    async def scenario() -> None:
        shown = task(sandbox, ("sh", "-c", "hostname; echo $HOSTNAME $GREETING; cat /etc/resolv.conf /etc/hosts"),
                     env=("GREETING=hello",), restart_delay=30, on_state=statuses.append)
        shown.start()
        await wait_for(lambda: any(s.state == EXITED for s in statuses))
        await shown.stop()

    asyncio.run(scenario())
    lines = (files / "task.log").read_text().splitlines()
    assert lines[:2] == ["web-1", "web-1 hello"]
    assert "\n".join(lines[2:]) + "\n" == (files / "resolv.conf").read_text() + (files / "hosts").read_text()
    assert [s.state for s in statuses] == ["starting", "running", "exited"] and statuses[-1].exit_code == 0
    with open("/etc/resolv.conf", "rb") as after_resolv, open("/etc/hosts", "rb") as after_hosts:
        assert (after_resolv.read(), after_hosts.read()) == host_files
    with open("/proc/self/mountinfo") as mounts:
        assert str(files) not in mounts.read()
    assert os.uname().nodename == host_name


def test_a_task_that_exits_is_restarted(sandbox) -> None:
    statuses: list[TaskStatus] = []

    async def scenario() -> None:
        flaky = task(sandbox, ("sh", "-c", "sleep 0.2; exit 7"), restart_delay=0.1, on_state=statuses.append)
        flaky.start()
        await wait_for(lambda: flaky.restarts >= 2 and flaky.state == RUNNING)
        assert flaky.exit_code == 7
        await flaky.stop()

    asyncio.run(scenario())
    running = [s.pid for s in statuses if s.state == RUNNING]
    assert len(running) >= 3 and len(set(running)) == len(running)
    ended = [s.exit_code for s in statuses if s.state == EXITED]
    assert set(ended[:-1]) == {7} and ended[-1] == 128 + signal.SIGTERM  # the last one was stopped


def test_a_command_that_cannot_run_says_why(sandbox) -> None:
    statuses: list[TaskStatus] = []

    async def scenario() -> None:
        missing = task(sandbox, ("no-such-command-here",), restart_delay=30, on_state=statuses.append)
        missing.start()
        await wait_for(lambda: any(s.state == EXITED for s in statuses))
        await missing.stop()

    asyncio.run(scenario())
    assert [s.state for s in statuses] == ["starting", "exited"]
    assert statuses[-1].exit_code == 127 and "no-such-command-here" in statuses[-1].err


def test_stop_kills_the_whole_group_even_when_it_ignores_sigterm(sandbox) -> None:
    async def scenario() -> tuple[list[int], float]:
        stubborn = task(sandbox, ("sh", "-c", "trap '' TERM; sleep 300 & sleep 300 & wait"), stop_timeout=0.5)
        stubborn.start()
        await wait_for(lambda: stubborn.pid != 0 and len(group_members(stubborn.pid)) == 3)
        pgid = stubborn.pid
        members = group_members(pgid)
        began = time.monotonic()
        await stubborn.stop()
        assert stubborn.pid == 0
        return members, time.monotonic() - began

    members, took = asyncio.run(scenario())
    assert took >= 0.5
    assert not [pid for pid in members if is_alive(pid)]


def test_what_an_ended_command_left_behind_goes_with_it(sandbox) -> None:
    async def scenario() -> list[int]:
        leaver = task(sandbox, ("sh", "-c", "sleep 300 & echo started; sleep 0.5"), restart_delay=30)
        leaver.start()
        await wait_for(lambda: leaver.pid != 0 and len(group_members(leaver.pid)) == 3)
        members = group_members(leaver.pid)
        await wait_for(lambda: leaver.state == EXITED)
        await leaver.stop()
        return members

    members = asyncio.run(scenario())
    assert not [pid for pid in members if is_alive(pid)]


def test_tasks_die_with_their_daemon(sandbox) -> None:
    task_ns, _, files = sandbox
    parent = subprocess.Popen([sys.executable, "-c", PARENT, task_ns, str(files / "task.log")],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert is_alive(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while is_alive(pid):
            assert time.monotonic() < deadline, f"task {pid} outlived its daemon"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
