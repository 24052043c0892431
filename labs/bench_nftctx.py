#!/usr/bin/env python3
"""nftables contexts in other namespaces: the time to open one, and the memory many of them hold.

The service layer opens a load balancer in every sandbox namespace on a
swarm network, so what one more namespace costs is what a node pays per
container.  This opens ``--count`` contexts, each in a fresh throwaway
namespace, and reports:

- the first open (it may start the helper process) and the median of the others;
- the median round trip of one small request (``list tables``) on an open context;
- the resident memory (VmRSS) of every helper process this one started, all contexts open.

    sudo python3 labs/bench_nftctx.py [--count 50]

Needs root; nothing touches the machine's own namespace.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid

from libnetwork.firewall import nftctx


def _children_rss_kib(pid: int) -> tuple[int, int]:
    """(number of descendant processes of ``pid``, their summed VmRSS in KiB)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    total = 0
    for child in found:
        try:
            with open(f"/proc/{child}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return len(found), total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    prefix = f"nftb{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in range(args.count)]
    contexts: list[nftctx.NftContext] = []
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
        opens = []
        for name in names:
            start = time.perf_counter()
            contexts.append(nftctx.open_context(f"/run/netns/{name}"))
            opens.append(time.perf_counter() - start)
        trips = []
        for ctx in contexts:
            start = time.perf_counter()
            rc, _, _ = ctx.cmd("list tables")
            trips.append(time.perf_counter() - start)
            assert rc == 0
        processes, rss = _children_rss_kib(os.getpid())
        print(f"contexts: {args.count} (one fresh namespace each)")
        others = statistics.median(opens[1:]) * 1000
        print(f"first open: {opens[0] * 1000:.1f} ms; median of the others: {others:.2f} ms")
        print(f"round trip (list tables): median {statistics.median(trips) * 1000:.3f} ms")
        print(f"helper processes: {processes}, RSS together: {rss / 1024:.1f} MiB")
    finally:
        for ctx in contexts:
            ctx.close()
        for name in names:
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
