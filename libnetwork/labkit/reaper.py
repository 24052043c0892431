"""Find and end the processes a test host leaves behind.

cnmd starts children that outlive it on purpose: the Serf agent (and the
etcd member) run in their own sessions so that a crashed cnmd adopts them on
restart instead of starting a second one.  So after a ``kill -9`` of cnmd,
stopping "the daemon" leaves them running, still bound to the host
namespace's addresses; a namespace deleted under them keeps existing as long
as they hold it.  Teardown therefore looks for them the two ways that cannot
miss one: every process whose network namespace is the host's, and every
process whose command line names the daemon's root directory (a child that
moved to another namespace still has its data dir on its command line).
Both are exact; nothing is matched by program name.
"""

from __future__ import annotations

import os
import signal
import time


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _netns_inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def pids_in_netns(netns_path: str) -> list[int]:
    """Processes whose network namespace is the one bound at netns_path (e.g. /run/netns/x)."""
    wanted = _netns_inode(netns_path)
    if wanted is None:
        return []
    return [pid for pid in _pids() if _netns_inode(f"/proc/{pid}/ns/net") == wanted and pid != os.getpid()]


def pids_naming(path: str) -> list[int]:
    """Processes whose command line has an argument under path (path itself or path/...)."""
    needle = path.rstrip("/").encode()
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        if any(argument_under(arg, needle) for arg in args):
            found.append(pid)
    return found


def argument_under(arg: bytes, needle: bytes) -> bool:
    # "--data-dir=/tmp/x/data" and "/tmp/x/data/etcd" both count; "/tmp/x2" does not name "/tmp/x".
    at = arg.find(needle)
    while at != -1:
        end = at + len(needle)
        if end == len(arg) or arg[end:end + 1] == b"/":
            return True
        at = arg.find(needle, at + 1)
    return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            # The state follows the parenthesised command name, which may itself hold spaces.
            state = handle.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def end_processes(pids: list[int], grace: float = 2.0) -> list[int]:
    """SIGTERM, then SIGKILL whatever is left after grace seconds; returns the pids that had to be killed.

    Waits until every one is gone (or a zombie, which holds no namespace or socket), so
    the caller can delete the namespace and the directories right after.
    """
    live = [pid for pid in pids if _alive(pid)]
    for pid in live:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in live):
        time.sleep(0.02)
    killed = [pid for pid in live if _alive(pid)]
    for pid in killed:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in killed):
        time.sleep(0.02)
    return killed


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
