"""The shared nftables helper's protocol, against a fake child: reopening after a death, closing, threads.

No root and no namespace: the fake child answers as ``nftchild.py`` does, and
dies on request, so each way the real one can fail is played on purpose.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time

import pytest

from libnetwork.firewall import nftctx
from libnetwork.firewall.api import FirewallUnavailable

FAKE = textwrap.dedent("""
    import json, os, sys
    opened = {}
    print(json.dumps(["ready"]), flush=True)
    for line in sys.stdin:
        cid, verb, payload = json.loads(line)
        if verb == "open":
            opened[cid] = payload
            answer = [0, None, ""]
        elif verb == "close":
            opened.pop(cid, None)
            answer = [0, None, ""]
        elif payload == "die":
            sys.exit(1)
        elif cid not in opened:
            answer = [1, None, "no open nftables context"]
        else:
            answer = [0, f"{os.getpid()} {cid} {opened[cid]} {payload}", ""]
        print(json.dumps(answer), flush=True)
""")

NETNS = "/proc/self/ns/net"      # any path that stat()s: the fake child never enters it


@pytest.fixture
def helper(tmp_path):
    child = tmp_path / "fakechild.py"
    child.write_text(FAKE)
    made = nftctx._Helper(str(child))
    yield made
    made.shutdown()


def _wait_dead(pid: int) -> None:
    """Until the killed helper is a zombie (not reaped: its Popen does that)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        time.sleep(0.01)
    raise AssertionError(f"helper {pid} still alive")


def _pid(ctx: nftctx._InNamespace) -> int:
    return int(ctx.cmd("x")[1].split()[0])


def test_one_helper_serves_every_context_and_exits_with_the_last(helper):
    first, second = nftctx._InNamespace(NETNS, helper), nftctx._InNamespace(NETNS, helper)
    assert _pid(first) == _pid(second) == helper.pid()
    assert first.cmd("hello")[1].split()[1:] == [str(first.cid), NETNS, "hello"]
    first.close()
    first.close()
    with pytest.raises(FirewallUnavailable, match="closed"):
        first.cmd("x")
    assert helper.pid() is not None
    second.close()
    assert helper.pid() is None


def test_a_dead_helper_is_restarted_and_contexts_reopened_transparently(helper):
    ctx = nftctx._InNamespace(NETNS, helper)
    before = helper.pid()
    assert before is not None
    os.kill(before, 9)
    _wait_dead(before)
    assert _pid(ctx) != before                      # between requests: nobody notices
    with pytest.raises(FirewallUnavailable, match="may have been applied"):
        ctx.cmd("die")                              # during one: that one fails, plainly
    assert ctx.cmd("again")[0] == 0                 # and the next is served by a new helper
    ctx.close()


def test_a_context_whose_namespace_changed_is_not_reopened(helper, tmp_path):
    path = tmp_path / "ns"
    path.write_text("")
    ctx = nftctx._InNamespace(str(path), helper)
    other = nftctx._InNamespace(NETNS, helper)
    replacement = tmp_path / "ns2"
    replacement.write_text("")
    os.replace(replacement, path)                   # the same path, another inode: another namespace
    with pytest.raises(FirewallUnavailable, match="may have been applied"):
        ctx.cmd("die")
    with pytest.raises(FirewallUnavailable, match="gone"):
        ctx.cmd("x")
    assert other.cmd("x")[0] == 0                   # reopened in the new helper: its path did not change
    other.close()
    ctx.close()


def test_threads_share_the_pipe(helper):
    contexts = [nftctx._InNamespace(NETNS, helper) for _ in range(4)]
    errors: list[str] = []

    def work(ctx: nftctx._InNamespace, tag: int) -> None:
        for i in range(200):
            rc, output, _ = ctx.cmd(f"{tag}-{i}")
            if rc != 0 or output.split()[1:] != [str(ctx.cid), NETNS, f"{tag}-{i}"]:
                errors.append(output)

    threads = [threading.Thread(target=work, args=(contexts[t % 4], t)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for ctx in contexts:
        ctx.close()
    assert helper.pid() is None


def test_a_missing_namespace_is_unavailable(helper):
    with pytest.raises(FirewallUnavailable):
        nftctx._InNamespace("/nonexistent/netns", helper)
    assert helper.pid() is None
