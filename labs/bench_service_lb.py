#!/usr/bin/env python3
"""Service load balancing through nftables: the cost of one backend change, and connections per second.

1. Programming: a service with 10, 1,000 and 10,000 backends in place, then
   the time to add ONE backend and to remove ONE (from the middle, so the
   last one moves into its index), median of --samples each; beside it the
   same change done kube-proxy's way (the service chain's one rule rewritten
   with an anonymous vmap of all N backends, one chain per backend), for
   comparison.  Runs in a throwaway namespace, through the in-process
   libnftables context a daemon in that namespace would use.
2. Traffic: new TCP connections per second (connect, read the answer, close,
   one after the other, from a client namespace) through the VIP, against
   the same client straight to one task, alternating, in the same run.

    sudo python3 labs/bench_service_lb.py [--sizes 10,1000,10000] [--samples 9] [--seconds 3]

Needs root; nothing touches the machine's own namespace.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial

from libnetwork.firewall import lbjson, nftctx
from libnetwork.firewall.lbapi import Backend, ServiceVip
from libnetwork.firewall.lbnft import NftLoadBalancer, ipvs_available
from libnetwork.labkit.lbtraffic import LbTopology, connections, tasks

VIP = ServiceVip("bench", ipaddress.ip_address("10.250.0.1"), "tcp", 80)


def _backend(i: int) -> Backend:
    return Backend(ipaddress.ip_address(f"10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}"), 8080)


def _median_ms(action: Callable[[], None], undo: Callable[[], None], samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
        undo()
    return statistics.median(times) * 1000


def program_ours(sizes: list[int], samples: int) -> dict[int, tuple[float, float]]:
    lb = NftLoadBalancer()
    lb.setup()
    results = {}
    for size in sizes:
        backends = [_backend(i) for i in range(size)]
        lb.ensure_service(VIP, backends)
        extra, middle = _backend(size), backends[size // 2]
        add = _median_ms(partial(lb.add_backend, VIP, extra), partial(lb.remove_backend, VIP, extra), samples)
        remove = _median_ms(partial(lb.remove_backend, VIP, middle), partial(lb.add_backend, VIP, middle), samples)
        results[size] = (add, remove)
    lb.cleanup()
    return results


class KubeProxyStyle:
    """kube-proxy's layout for one service: a chain per backend, and the service chain's one rule
    ``numgen random mod N vmap { 0 : goto ep-0, ... }`` rewritten on every change."""

    TABLE = "bench-kp"

    def __init__(self) -> None:
        self.nft = nftctx.open_context()
        self.count = 0
        self._run([{"add": {"table": {"family": "inet", "name": self.TABLE}}},
                   {"add": {"chain": self._obj(name="svc")}}])

    def _obj(self, **spec):
        return {"family": "inet", "table": self.TABLE, **spec}

    def _run(self, commands: list[dict]) -> None:
        nftctx.run(self.nft, commands, "bench")

    def _endpoint(self, i: int) -> list[dict]:
        b = _backend(i)
        return [{"add": {"chain": self._obj(name=f"ep-{i}")}},
                {"add": {"rule": self._obj(chain=f"ep-{i}", expr=[
                    {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
                    {"dnat": {"family": "ip", "addr": str(b.address), "port": b.port}}])}}]

    def _service_rule(self, count: int) -> list[dict]:
        vmap = {"set": [[i, {"goto": {"target": f"ep-{i}"}}] for i in range(count)]}
        return [{"flush": {"chain": self._obj(name="svc")}},
                {"add": {"rule": self._obj(chain="svc", expr=[
                    {"vmap": {"key": {"numgen": {"mode": "random", "mod": count, "offset": 0}}, "data": vmap}}])}}]

    def grow(self, size: int) -> None:
        commands = [c for i in range(self.count, size) for c in self._endpoint(i)]
        self.count = size
        self._run(commands + self._service_rule(size))

    def add_one(self) -> None:
        self._run(self._endpoint(self.count) + self._service_rule(self.count + 1))

    def remove_added(self) -> None:
        self._run(self._service_rule(self.count) + [{"flush": {"chain": self._obj(name=f"ep-{self.count}")}},
                                                    {"delete": {"chain": self._obj(name=f"ep-{self.count}")}}])

    def cleanup(self) -> None:
        self._run([{"delete": {"table": {"family": "inet", "name": self.TABLE}}}])


def program_kube_proxy(sizes: list[int], samples: int) -> dict[int, float]:
    kp = KubeProxyStyle()
    results = {}
    for size in sizes:
        kp.grow(size)
        results[size] = _median_ms(kp.add_one, kp.remove_added, samples)
    kp.cleanup()
    return results


def programming(sizes: list[int], samples: int) -> dict:
    """Run inside the throwaway namespace (re-executed under nsenter): JSON on stdout."""
    return {"ours": program_ours(sizes, samples), "kube_proxy": program_kube_proxy(sizes, samples)}


def traffic(seconds: float) -> dict[str, float]:
    topo = LbTopology(f"lbb{uuid.uuid4().hex[:5]}")
    try:
        with tasks(topo.tasks):
            lb = NftLoadBalancer(topo.node_path)
            lb.setup()
            lb.add_interface("br0")
            lb.ensure_service(ServiceVip("web", ipaddress.ip_address(topo.vip), "tcp", 80),
                              [Backend(ipaddress.ip_address(a), 80) for a in topo.tasks])
            direct_to = next(iter(topo.tasks))
            rates: dict[str, list[float]] = {"direct": [], "vip": []}
            spread: dict[str, int] = {}
            for _ in range(2):
                rates["direct"].append(connections(topo.client, direct_to, 80, 0, seconds=seconds / 2)[1])
                seen, rate = connections(topo.client, topo.vip, 80, 0, seconds=seconds / 2)
                rates["vip"].append(rate)
                for k, v in seen.items():
                    spread[k] = spread.get(k, 0) + v
            lb.cleanup()
            lb.close()
    finally:
        topo.remove()
    total = sum(spread.values())
    return {"direct": statistics.mean(rates["direct"]), "vip": statistics.mean(rates["vip"]),
            **{f"share {k}": v / total for k, v in sorted(spread.items())}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="10,1000,10000")
    parser.add_argument("--samples", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0, help="of connections, per path")
    parser.add_argument("--program-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.program_only:
        print(json.dumps(programming(sizes, args.samples)))
        return 0

    print(f"IPVS in this kernel: {'yes' if ipvs_available() else 'no'} (not used: nftables is the one path)")
    name = f"lbp{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        out = subprocess.run(["nsenter", f"--net=/run/netns/{name}", sys.executable, __file__, "--program-only",
                              "--sizes", args.sizes, "--samples", str(args.samples)],
                             check=True, capture_output=True, text=True, timeout=1800).stdout
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
    figures = json.loads(out)
    print(f"\nOne backend change, median of {args.samples} (ms; table {lbjson.FAMILY} {lbjson.TABLE}):\n")
    print("| backends in place | add one | remove one | kube-proxy style add one |")
    print("|---|---|---|---|")
    for size in sizes:
        add, remove = figures["ours"][str(size)]
        print(f"| {size:,} | {add:.2f} | {remove:.2f} | {figures['kube_proxy'][str(size)]:.2f} |")
    first, last = figures["ours"][str(sizes[0])], figures["ours"][str(sizes[-1])]
    print(f"\n{sizes[-1]:,} over {sizes[0]:,}: add {last[0] / first[0]:.1f}x, remove {last[1] / first[1]:.1f}x")

    rates = traffic(args.seconds)
    print(f"\nNew TCP connections per second, one client, sequential ({args.seconds:g} s per path):\n")
    print(f"| direct to one task | {rates['direct']:.0f} |")
    print(f"| through the VIP (4 tasks, hairpin masquerade) | {rates['vip']:.0f} |")
    print(f"| ratio VIP / direct | {rates['vip'] / rates['direct']:.2f} |")
    shares = ", ".join(f"{k.split()[1]} {v:.0%}" for k, v in rates.items() if k.startswith("share"))
    print(f"\nshares through the VIP: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
