"""What cnmd needs to keep a child process of its own (the etcd member, the Serf agent): find it, end it, tie it.

A child is found again after a restart through its pid file, checked against
/proc/PID/cmdline so a reused pid is never taken for it; a zombie counts as
gone.  ``tied_to_parent`` makes the kernel end a child when cnmd dies, even
by SIGKILL, so a dead daemon is a node down, as a dead dockerd is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time

_LOG_TAIL = 800


def tied_to_parent(argv: list[str]) -> list[str]:
    """argv run so the kernel sends SIGTERM when the forking thread's process dies.

    setpriv sets the death signal (which survives exec) and execs argv, so the
    pid stays the command's.  Not a ``preexec_fn``: a Python hook in the child
    makes subprocess fork (not vfork) and run every library's fork handlers, and
    gRPC's, there for etcd's client, could wreck the child before its exec.
    """
    return ["setpriv", "--pdeathsig", "TERM", *argv]


def read_pid(path: str) -> int | None:
    try:
        with open(path) as source:
            return int(source.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as source:
            return source.read().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def is_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The state follows the parenthesised command name; a zombie has already exited.
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def send_signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


async def wait_exit(process: subprocess.Popen[bytes] | None, pid: int, timeout: float) -> bool:
    """Whether the child (ours: ``process``; adopted: only its ``pid``) exited within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return True
        elif not is_alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


def log_tail(path: str) -> str:
    """The end of a child's log, for the error that says why it did not come up."""
    try:
        with open(path, "rb") as log_file:
            log_file.seek(0, os.SEEK_END)
            log_file.seek(max(0, log_file.tell() - _LOG_TAIL))
            return log_file.read().decode(errors="replace").strip()
    except OSError:
        return "(no log)"
