"""One libnftables context, in this namespace or in another one, and one way to run a batch on it.

libnftables opens its netlink socket when the context is made, in the
namespace of the calling thread, and takes no socket from outside; no thread
of the daemon ever enters another namespace (DESIGN.md, "Data plane").  So a
context for another namespace lives in a small child started inside it
(``nftchild.py``, under ``nsenter``), which runs the same calls and answers
over a pipe: one round trip per transaction, a fraction of a millisecond.

Not thread-safe (neither is libnftables): each owner calls from one thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Protocol

from .. import metrics
from .api import FirewallError, FirewallUnavailable

_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nftchild.py")


class NftContext(Protocol):
    def json_cmd(self, data: dict) -> tuple[int, Any, str]: ...

    def cmd(self, text: str) -> tuple[int, str, str]: ...

    def close(self) -> None: ...


class _Local:
    """The binding's own context, in this process's namespace."""

    def __init__(self) -> None:
        try:
            from nftables import Nftables

            self._nft = Nftables()
        except (ImportError, OSError) as err:
            raise FirewallUnavailable(
                f"nftables is not available ({err}): install libnftables1 and pip-nftables, "
                "or run with --iptables=false") from None
        self._nft.set_json_output(True)

    def json_cmd(self, data: dict) -> tuple[int, Any, str]:
        return self._nft.json_cmd(data)

    def cmd(self, text: str) -> tuple[int, str, str]:
        return self._nft.cmd(text)

    def close(self) -> None:
        pass


class _InNamespace:
    """A context living in a child inside ``netns`` (a namespace's path)."""

    def __init__(self, netns: str) -> None:
        self.netns = netns
        self._proc = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, _CHILD],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self._read()
        if ready != ["ready"]:
            self.close()
            raise FirewallUnavailable(f"nftables is not available in {netns}: {ready}")

    def _read(self) -> Any:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise FirewallUnavailable(f"the nftables helper in {self.netns} exited")
        return json.loads(line)

    def _call(self, kind: str, payload: Any) -> Any:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps([kind, payload]) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def json_cmd(self, data: dict) -> tuple[int, Any, str]:
        rc, output, error = self._call("json", data)
        return rc, output, error

    def cmd(self, text: str) -> tuple[int, str, str]:
        rc, output, error = self._call("text", text)
        return rc, output, error

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def open_context(netns: str | None = None) -> NftContext:
    """A context for ``netns`` (a path such as /run/netns/NAME), or for this process's own namespace."""
    return _InNamespace(netns) if netns else _Local()


def run(ctx: NftContext, commands: list[dict], operation: str) -> dict:
    """One JSON batch, so one kernel transaction: it applies whole or not at all."""
    if not commands:
        return {}
    start = time.perf_counter()
    rc, output, error = ctx.json_cmd({"nftables": commands})
    _observe(operation, start, rc)
    if rc != 0:
        raise FirewallError(f"nftables: {error.strip() or 'transaction failed'}")
    return output or {}


def run_text(ctx: NftContext, text: str, operation: str) -> None:
    """One batch in nft's own syntax (for what libnftables' JSON cannot say), one transaction too."""
    start = time.perf_counter()
    rc, _, error = ctx.cmd(text)
    _observe(operation, start, rc)
    if rc != 0:
        raise FirewallError(f"nftables: {error.strip() or 'transaction failed'}")


def list_table(ctx: NftContext, family: str, table: str) -> dict:
    """``list table`` as JSON, or {} when there is no such table (nothing of ours is there)."""
    rc, output, _ = ctx.json_cmd({"nftables": [{"list": {"table": {"family": family, "name": table}}}]})
    if rc != 0:
        return {}
    return output or {}


def _observe(operation: str, start: float, rc: int) -> None:
    metrics.FIREWALL_SECONDS.labels(operation).observe(time.perf_counter() - start)
    metrics.FIREWALL_TRANSACTIONS.labels(operation, "ok" if rc == 0 else "error").inc()
