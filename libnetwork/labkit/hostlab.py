"""What every multi-host lab's ``main`` does: its common flags, the root check, the hosts, and a teardown
that always runs (also on a failure or Ctrl-C)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable

from ..testing import ClusterHosts, cluster_hosts
from .interrupts import Interrupts
from .narrate import say
from .underlay import MAX_HOSTS

LabBody = Callable[[ClusterHosts, argparse.Namespace], None]


def lab_parser(doc: str | None, keep_help: str) -> argparse.ArgumentParser:
    """The flags every lab takes: ``-n`` hosts and ``--keep``; a lab adds its own."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("-n", type=int, default=3, help=f"hosts (2..{MAX_HOSTS}, default 3)")
    parser.add_argument("--keep", action="store_true", help=keep_help)
    return parser


def run_lab(parser: argparse.ArgumentParser, argv: list[str] | None, prefix: str, body: LabBody,
            teardown: str) -> int:
    """Run ``body`` on ``-n`` fresh hosts and remove everything after; the process's exit code."""
    args = parser.parse_args(argv)
    if not 2 <= args.n <= MAX_HOSTS:
        parser.error(f"-n must be 2..{MAX_HOSTS}")
    if os.geteuid() != 0:
        print("needs root (it creates network namespaces)", file=sys.stderr)
        return 1
    interrupts = Interrupts()
    started = time.monotonic()
    try:
        say(f"starting {args.n} hosts, one cnmd each (namespaces {prefix}*)")
        with cluster_hosts(args.n, prefix=prefix) as hosts:
            try:
                body(hosts, args)
            finally:
                interrupts.stopping = True
                say(f"\ntearing down: {teardown}")
    except KeyboardInterrupt:
        say("interrupted; everything removed")
        return 130
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as error:
        say(f"failed: {error}; everything removed")
        return 1
    say(f"done in {time.monotonic() - started:.0f} s; everything removed")
    return 0
