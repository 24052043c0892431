"""One nftables helper for many namespaces, with the real kernel: each context acts in its own namespace only.

Throwaway namespaces; the helper itself runs in the test's namespace and only
ever changes the namespaces it is asked for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from libnetwork.firewall import nftctx
from libnetwork.firewall.api import FirewallUnavailable
from libnetwork.testing import add_netns, delete_netns, require_root, run_in


@pytest.fixture
def spaces():
    require_root()
    prefix = f"nftc{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in range(3)]
    paths = [add_netns(name) for name in names]
    yield paths
    for name in names:
        delete_netns(name)


def _tables(path: str) -> str:
    return run_in(path, "nft", "list", "tables").stdout


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        time.sleep(0.01)
    raise AssertionError(f"helper {pid} still alive")


def test_each_context_in_its_own_namespace_one_helper(spaces):
    contexts = [nftctx.open_context(path) for path in spaces]
    try:
        pid = nftctx.HELPER.pid()
        for index, ctx in enumerate(contexts):
            assert ctx.cmd(f"add table inet probe{index}")[0] == 0
        assert nftctx.HELPER.pid() == pid
        for index, path in enumerate(spaces):
            assert _tables(path).split() == ["table", "inet", f"probe{index}"]
        listing = nftctx.list_table(contexts[1], "inet", "probe1")
        assert any("table" in item for item in listing["nftables"])
        assert nftctx.list_table(contexts[1], "inet", "probe0") == {}
        # Interface names are resolved in the context's namespace, not the helper's.
        run_in(spaces[0], "ip", "link", "add", "vprobe", "type", "veth", "peer", "name", "vprobe1")
        rc, _, error = contexts[0].cmd("add chain inet probe0 c; add rule inet probe0 c iif vprobe accept")
        assert rc == 0, error
    finally:
        for ctx in contexts:
            ctx.close()
    assert nftctx.HELPER.pid() is None


def test_helper_death_reopens_contexts_or_says_the_namespace_is_gone(spaces):
    contexts = [nftctx.open_context(path) for path in spaces]
    try:
        assert contexts[0].cmd("add table inet kept")[0] == 0
        pid = nftctx.HELPER.pid()
        assert pid is not None
        subprocess.run(["ip", "netns", "delete", os.path.basename(spaces[2])], check=True)
        os.kill(pid, 9)
        _wait_dead(pid)
        rc, output, _ = contexts[0].cmd("list tables")
        assert rc == 0 and "kept" in output and nftctx.HELPER.pid() not in (None, pid)
        assert contexts[1].cmd("add table inet again")[0] == 0
        assert "again" in _tables(spaces[1]) and "again" not in _tables(spaces[0])
        with pytest.raises(FirewallUnavailable, match="gone"):
            contexts[2].cmd("list tables")
    finally:
        for ctx in contexts:
            ctx.close()
    assert nftctx.HELPER.pid() is None


def test_benchmark_runs():
    """labs/bench_nftctx.py keeps working (three namespaces)."""
    require_root()
    bench = os.path.join(os.path.dirname(__file__), "..", "..", "labs", "bench_nftctx.py")
    out = subprocess.run([sys.executable, bench, "--count", "3"], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    assert "helper processes: 1," in out
