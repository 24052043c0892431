"""How the labs show what they do: each command as a user would type it, where, its output, its time."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from libnetwork.testing import Daemon

BOLD, PLAIN = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")


def say(text: str) -> None:
    print(text, flush=True)


def show_run(where: str, argv: Sequence[str], shown: str | None = None, env: Mapping[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run argv, printed as ``[where] $ shown`` (argv by default), then its output and how long it took.
    Never raises on a non-zero exit: the caller decides whether that is a failure (a ping that must
    fail, after a kill)."""
    say(f"\n{BOLD}[{where}] $ {shown or shlex.join(argv)}{PLAIN}")
    started = time.monotonic()
    result = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=timeout, check=False)
    took = time.monotonic() - started
    for text in (result.stdout, result.stderr):
        if text.strip():
            say(text.rstrip())
    say(f"  ({took:.2f} s)" if result.returncode == 0 else f"  (exit {result.returncode}, {took:.2f} s)")
    return result


def docker_step(node: str, daemon: Daemon, *argv: str, shown: tuple[str, ...] | None = None) -> str:
    """Run one docker command against a host's daemon, printed as a user would type it; its stdout.
    RuntimeError when it fails."""
    result = show_run(node, ["docker", *argv], "docker " + shlex.join(shown or argv), env=daemon.docker_env())
    if result.returncode != 0:
        raise RuntimeError(f"docker {argv[0]} {argv[1] if len(argv) > 1 else ''} failed on {node}")
    return result.stdout.strip()
