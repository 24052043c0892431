"""Cost of one address allocation + release as a pool fills up.

No other tool exposes Docker's allocator to time it against, so the figure is
measured against itself: the same operation with 1 address taken and with a
million taken.  An allocator whose cost follows the pool size or the number
of taken addresses shows a ratio far above 1 here.

Two layouts of the taken addresses:
  packed     taken by dynamic picks, as containers fill a network: one free run;
  scattered  taken at random positions: about one free run per taken address,
             the worst case for the free-run structure.

Two operations:
  dynamic    lowest free address (Docker's default pick) and its release;
  static     a given free address at a random place (``--ip``) and its release.

Usage: python labs/bench_ipam.py [--full]   (--full: a million scattered in the /8)
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import random
import time

from libnetwork.ipam.allocator import AddressSet

ROUNDS = 7  # each case measured once per round, round-robin, best kept
DYNAMIC_OPS = 5_000
STATIC_OPS = 2_000


def filled(pool: str, taken: int, layout: str, rng: random.Random) -> AddressSet:
    network = ipaddress.ip_network(pool)
    aset = AddressSet(network)
    if layout == "packed":
        for _ in range(taken):
            aset.allocate_any()
    else:
        base = int(network.network_address)
        # Ascending order builds the same structure as random order, faster.
        for ordinal in sorted(rng.sample(range(1, network.num_addresses - 1), taken)):
            aset.allocate(ipaddress.ip_address(base + ordinal))
    return aset


def free_targets(aset: AddressSet, rng: random.Random, count: int = 1_000) -> list:
    network = aset.pool
    base = int(network.network_address)
    targets: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    while len(targets) < count:
        address = ipaddress.ip_address(base + rng.randrange(1, network.num_addresses - 1))
        if address not in aset:
            targets.append(address)
    return targets


def dynamic_cost(aset: AddressSet) -> float:
    start = time.perf_counter()
    for _ in range(DYNAMIC_OPS):
        aset.release(aset.allocate_any())
    return (time.perf_counter() - start) / DYNAMIC_OPS * 1e6


def static_cost(aset: AddressSet, targets: list) -> float:
    start = time.perf_counter()
    for i in range(STATIC_OPS):
        address = targets[i % len(targets)]
        aset.allocate(address)
        aset.release(address)
    return (time.perf_counter() - start) / STATIC_OPS * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="a million scattered addresses in the /8 (slow to fill)")
    args = parser.parse_args()

    cases = [
        ("10.0.0.0/16", 1, "packed"),
        ("10.0.0.0/16", 1_000, "packed"),
        ("10.0.0.0/16", 60_000, "packed"),
        ("10.0.0.0/16", 1_000, "scattered"),
        ("10.0.0.0/16", 60_000, "scattered"),
        ("10.0.0.0/8", 1, "packed"),
        ("10.0.0.0/8", 1_000_000, "packed"),
        ("10.0.0.0/8", 1_000_000 if args.full else 200_000, "scattered"),
    ]
    rng = random.Random(42)
    started = time.perf_counter()
    sets = [filled(pool, taken, layout, rng) for pool, taken, layout in cases]
    targets = [free_targets(aset, rng) for aset in sets]
    fill_seconds = time.perf_counter() - started
    # Measure the steady state, not a collection of the fills' garbage; the
    # round-robin keeps a burst of load on a shared machine from landing on
    # one case only.
    gc.collect()
    dynamic = [float("inf")] * len(cases)
    static = [float("inf")] * len(cases)
    for _ in range(ROUNDS):
        for i, aset in enumerate(sets):
            dynamic[i] = min(dynamic[i], dynamic_cost(aset))
            static[i] = min(static[i], static_cost(aset, targets[i]))

    print(f"{'pool':<12} {'taken':>9} {'layout':<9} {'free runs':>9} {'dynamic µs':>10} {'static µs':>9}")
    for (pool, taken, layout), aset, d, s in zip(cases, sets, dynamic, static, strict=True):
        print(f"{pool:<12} {taken:>9,} {layout:<9} {aset.interval_count:>9,} {d:>10.2f} {s:>9.2f}")
    packed = [i for i, case in enumerate(cases) if case[2] == "packed"]
    groups = (("packed rows (taken count only)", packed), ("all rows (count and fragmentation)", range(len(cases))))
    for label, rows in groups:
        dyn = [dynamic[i] for i in rows]
        sta = [static[i] for i in rows]
        print(f"ratio largest/smallest, {label}: dynamic {max(dyn) / min(dyn):.2f}, static {max(sta) / min(sta):.2f}")
    print(f"fill {fill_seconds:.1f} s, total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
