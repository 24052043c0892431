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

REPEATS = 3
DYNAMIC_ROUNDS = 20_000
STATIC_ROUNDS = 5_000


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


def best_of(func) -> float:
    times = []
    for _ in range(REPEATS):
        times.append(func())
    return min(times)


def dynamic_cost(aset: AddressSet) -> float:
    def run() -> float:
        start = time.perf_counter()
        for _ in range(DYNAMIC_ROUNDS):
            aset.release(aset.allocate_any())
        return (time.perf_counter() - start) / DYNAMIC_ROUNDS * 1e6

    return best_of(run)


def static_cost(aset: AddressSet, rng: random.Random) -> float:
    network = aset.pool
    base = int(network.network_address)
    targets = []
    while len(targets) < 1_000:
        address = ipaddress.ip_address(base + rng.randrange(1, network.num_addresses - 1))
        if address not in aset:
            targets.append(address)

    def run() -> float:
        start = time.perf_counter()
        for i in range(STATIC_ROUNDS):
            address = targets[i % len(targets)]
            aset.allocate(address)
            aset.release(address)
        return (time.perf_counter() - start) / STATIC_ROUNDS * 1e6

    return best_of(run)


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
    print(f"{'pool':<12} {'taken':>9} {'layout':<9} {'free runs':>9} {'dynamic µs':>10} {'static µs':>9}")
    dynamic, static = [], []
    started = time.perf_counter()
    for pool, taken, layout in cases:
        aset = filled(pool, taken, layout, rng)
        # Measure the steady state, not a collection of the fill's garbage.
        gc.collect()
        d, s = dynamic_cost(aset), static_cost(aset, rng)
        dynamic.append(d)
        static.append(s)
        print(f"{pool:<12} {taken:>9,} {layout:<9} {aset.interval_count:>9,} {d:>10.2f} {s:>9.2f}")
        del aset
    print(
        f"ratio largest/smallest: dynamic {max(dynamic) / min(dynamic):.2f}, "
        f"static {max(static) / min(static):.2f}   (1.00 = flat)"
    )
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
