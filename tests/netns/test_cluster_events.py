"""The interface the overlay gets of the cluster (ClusterEvents), between two real hosts behind a router:
events published on one node reach the other in Lamport order, members going down are heard, and a full
table comes over the mutually authenticated cluster port."""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import uuid
from typing import Any

import pytest

from libnetwork.labkit.reaper import end_processes, pids_in_netns
from libnetwork.labkit.underlay import Underlay
from libnetwork.testing import require_root

pytestmark = pytest.mark.netns

SCRIPT = os.path.join(os.path.dirname(__file__), "cluster_events_node.py")


class Node:
    """One cluster_events_node.py process and the lines it prints."""

    def __init__(self, netns_path: str, *argv: str):
        self.process = subprocess.Popen(["nsenter", f"--net={netns_path}", sys.executable, SCRIPT, *argv],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def expect(self, key: str, timeout: float = 30, **match: Any) -> dict[str, Any]:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                stderr = self.process.stderr.read() if self.process.poll() is not None and self.process.stderr \
                    else ""
                raise AssertionError(f"no {key} line within {timeout}s; {stderr}") from None
            if key in line and all(line.get(k) == v for k, v in match.items()):
                return line

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.send("quit")
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def underlay():
    require_root()
    if subprocess.run(["which", "serf", "etcd"], capture_output=True).returncode != 0:
        pytest.skip("needs Debian's serf and etcd-server")
    net = Underlay(2, f"ce{uuid.uuid4().hex[:5]}-", segments="AB")
    net.up(verbose=False)
    try:
        yield net
    finally:
        for host in net.hosts:
            end_processes(pids_in_netns(host.netns_path))
        net.down(verbose=False)


def test_events_members_and_full_sync_across_the_router(underlay: Underlay) -> None:
    with tempfile.TemporaryDirectory() as root:
        manager = Node(underlay.netns_path("node1"), "init", underlay.ip("node1"), os.path.join(root, "m"))
        worker = None
        try:
            hello = manager.expect("node_id")
            worker = Node(underlay.netns_path("node2"), "join", f"{underlay.ip('node1')}:2377", hello["token"],
                          os.path.join(root, "w"))
            worker_id = worker.expect("node_id")["node_id"]
            manager.expect("member", member=worker_id, up=True)
            for n in range(3):
                manager.send(f"publish endpoints ep{n} joined")
            heard = [worker.expect("event") for _ in range(3)]
            assert [h["event"] for h in heard] == ["ep0 joined", "ep1 joined", "ep2 joined"]
            assert {h["origin"] for h in heard} == {hello["node_id"]}
            assert heard[0]["ltime"] < heard[1]["ltime"] < heard[2]["ltime"]
            worker.send(f"sync {hello['node_id']} endpoints")
            table = base64.b64decode(worker.expect("sync")["sync"]).decode()
            assert table == f"the table of {hello['node_id']}"
            manager.send(f"sync {worker_id} endpoints")
            assert base64.b64decode(manager.expect("sync")["sync"]).decode() == f"the table of {worker_id}"
            manager.send(f"sync {worker_id} nosuchtable")
            assert manager.expect("error")["status"] == 404
            worker.process.kill()
            manager.expect("member", member=worker_id, up=False, timeout=20)
        finally:
            for node in (worker, manager):
                if node is not None:
                    node.stop()
