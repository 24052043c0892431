#!/usr/bin/env python3
"""A routed underlay for multi-host labs: N "host" namespaces on two L2
segments joined by a router namespace (libnetwork.labkit.underlay, where the
topology and its drawing are explained).

Usage (root):
    labs/underlay.py up   [-n 3] [--prefix ul-] [--segments AAB]
    labs/underlay.py down [--prefix ul-]
    labs/underlay.py show [--prefix ul-]
    labs/underlay.py check [-n 3] [--prefix ul-]   # pings every pair

`up` is idempotent; `down` removes every namespace the prefix owns (also
those of a larger N from an earlier run). As a library:

    from libnetwork.labkit.underlay import Underlay
"""
from __future__ import annotations

import argparse
import os
import sys

from libnetwork.labkit.underlay import MAX_HOSTS, Underlay

__all__ = ["Underlay", "main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("action", choices=["up", "down", "show", "check"])
    p.add_argument("-n", type=int, default=int(os.environ.get("UL_N", "3")), help=f"hosts (1..{MAX_HOSTS}, default 3)")
    p.add_argument("--prefix", default=os.environ.get("UL_PREFIX", "ul-"), help="namespace name prefix")
    p.add_argument("--segments", default=None, help="one letter A|B per host, e.g. AAB")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 1
    ul = Underlay(a.n, a.prefix, a.segments)
    if a.action == "up":
        ul.up()
        print(ul.draw())
    elif a.action == "down":
        ul.down()
    elif a.action == "show":
        print(ul.draw())
        print("present:", " ".join(ul.owned()) or "(none)", "| complete:", ul.is_up())
    elif a.action == "check":
        return 0 if ul.check() else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
