"""One libnftables context, in this namespace or in another one, and one way to run a batch on it.

libnftables opens its netlink socket when the context is made, in the
namespace of the calling thread, and takes no socket from outside; no thread
of the daemon ever enters another namespace (DESIGN.md, "Data plane").  So
contexts for other namespaces live in one helper process (``nftchild.py``),
started from the daemon's namespace, that enters each namespace to make its
context there and answers over a pipe: one round trip per transaction, a
fraction of a millisecond.  One process serves every namespace, as a sandbox
each has one: opening a context costs a request, not a process
(``labs/bench_nftctx.py``, 50 namespaces: a child each took 17 ms to open
and 639 MiB together; one helper takes 0.2 ms per open after its 20 ms start,
and 21 MiB together).

The helper starts with the first context and exits once the last one is
closed.  If it dies, the request that was on the wire fails with
``FirewallUnavailable`` (its transaction may or may not have been applied:
the caller reconciles); the next request starts a new helper, and each
context is opened again there, transparently, when it is next used, provided
its path still names the same namespace (else ``FirewallUnavailable``).

Thread-safe: a lock serialises the helper's round trips (and libnftables is
used from one thread at a time).  A ``_Local`` context is not: its owner
calls it from one thread.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import subprocess
import sys
import threading
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


class _Died(Exception):
    """The helper was gone before a request reached it whole: nothing of it was done."""


class _Helper:
    """The one child that holds the contexts of every other namespace."""

    def __init__(self, child: str = _CHILD) -> None:
        self._child = child
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._generation = 0            # bumped at each start: contexts of an older one are reopened
        self._ids = itertools.count(1)
        self._live: dict[int, _InNamespace] = {}

    def _start(self) -> None:
        self._proc = subprocess.Popen([sys.executable, self._child], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
        self._generation += 1
        ready = self._read()
        if ready != ["ready"]:
            self._stop()
            raise FirewallUnavailable(f"nftables is not available: {ready}")

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.close()      # the child exits at the end of its input
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    def _write(self, request: list) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except OSError:  # it acts on whole lines only, so a request that did not get through did nothing
            self._stop()
            raise _Died() from None

    def _read(self) -> Any:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._stop()
            raise FirewallUnavailable("the nftables helper exited during a request (it may have been applied)")
        return json.loads(line)

    def _ensure_open(self, ctx: _InNamespace) -> None:
        """A live helper, with ``ctx`` open in it."""
        if self._proc is not None and self._proc.poll() is not None:
            self._stop()
        if self._proc is not None and ctx.generation == self._generation:
            return
        if ctx.generation:  # opened in a helper that died: reopened only where it was opened
            try:
                same = _identity(ctx.netns) == ctx.identity
            except OSError:
                same = False
            if not same:
                raise FirewallUnavailable(f"the namespace {ctx.netns} of this nftables context is gone")
        if self._proc is None:
            self._start()
        self._write([ctx.cid, "open", ctx.netns])
        rc, _, error = self._read()
        if rc != 0:
            raise FirewallUnavailable(f"nftables is not available in {ctx.netns}: {error}")
        ctx.generation = self._generation

    def _exchange(self, ctx: _InNamespace, verb: str | None, payload: Any = None) -> tuple[int, Any, str]:
        """``ctx`` open in a live helper, then one round trip of ``verb`` (None: only the opening)."""
        for _ in range(2):
            try:
                self._ensure_open(ctx)
                if verb is None:
                    return 0, None, ""
                self._write([ctx.cid, verb, payload])
            except _Died:
                continue  # once: a helper that dies twice in a row will not do better a third time
            rc, output, error = self._read()
            return rc, output, error
        raise FirewallUnavailable("the nftables helper keeps exiting")

    def open(self, ctx: _InNamespace) -> None:
        with self._lock:
            ctx.cid = next(self._ids)
            try:
                self._exchange(ctx, None)
            except BaseException:
                if not self._live:
                    self._stop()
                raise
            self._live[ctx.cid] = ctx

    def call(self, ctx: _InNamespace, verb: str, payload: Any) -> tuple[int, Any, str]:
        with self._lock:
            if ctx.cid not in self._live:
                raise FirewallUnavailable(f"the nftables context of {ctx.netns} is closed")
            return self._exchange(ctx, verb, payload)

    def close(self, ctx: _InNamespace) -> None:
        with self._lock:
            if self._live.pop(ctx.cid, None) is None:
                return
            if not self._live:
                self._stop()     # its contexts go with it
                return
            if self._proc is None or self._proc.poll() is not None or ctx.generation != self._generation:
                return           # not open in a live helper: nothing to free
            try:
                self._write([ctx.cid, "close", None])
                self._read()
            except (_Died, FirewallUnavailable):
                pass             # the helper died: nothing left of this context to free

    def shutdown(self) -> None:
        with self._lock:
            self._live.clear()
            self._stop()

    def pid(self) -> int | None:
        """The helper's process ID, while it runs (tests, benchmarks)."""
        return self._proc.pid if self._proc is not None else None


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class _InNamespace:
    """A context for ``netns`` (a namespace's path), held by the shared helper."""

    def __init__(self, netns: str, helper: _Helper | None = None) -> None:
        self.netns = netns
        self._helper = helper or HELPER
        self.cid = 0
        self.generation = 0
        try:
            self.identity = _identity(netns)
        except OSError as err:
            raise FirewallUnavailable(f"nftables is not available in {netns}: {err}") from None
        self._helper.open(self)

    def json_cmd(self, data: dict) -> tuple[int, Any, str]:
        return self._helper.call(self, "json", data)

    def cmd(self, text: str) -> tuple[int, str, str]:
        rc, output, error = self._helper.call(self, "text", text)
        return rc, output, error

    def close(self) -> None:
        self._helper.close(self)


HELPER = _Helper()
atexit.register(HELPER.shutdown)


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
