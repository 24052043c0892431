"""Put this process into a task's sandbox, then exec the task's command: the launcher of ``taskrun``.

Run as a script (``python3 -I taskexec.py SPEC COMMAND...``, standard library
only, plus ``libnetwork.cli.nsexec``'s ctypes wrappers, themselves standard
library only) by a fresh child of cnmd, never inside the daemon: setns and
unshare change the calling process, and the daemon's threads must keep
theirs (DESIGN.md, "Data plane").  SPEC is JSON: ``netns`` (the path of the
sandbox's network namespace), ``hostname``, ``files`` (pairs of target,
source bind-mounted over the target) and ``report_fd``.

It execs the command rather than running it, so the command keeps this
pid, its process group and the parent-death signal cnmd set at fork.  The
outcome reaches cnmd through ``report_fd``, marked close-on-exec: it closes
empty when the exec succeeded, and carries the reason when it did not (as
runc's exec fifo and Go's os/exec do), with exit statuses as a shell's and
Docker's: 125 the sandbox could not be entered, 126 the command could not
be run, 127 it was not found.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from types import ModuleType

ENTER_FAILED = 125
CANNOT_RUN = 126
NOT_FOUND = 127


def _nsexec() -> ModuleType:
    try:
        from libnetwork.cli import nsexec
    except ImportError:
        # Run from a checkout that is not installed: the package is beside this file.
        sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from libnetwork.cli import nsexec
    return nsexec


def enter(spec: dict) -> None:
    """The sandbox's network namespace, a UTS namespace with its hostname, a mount namespace with its files.

    / is made private before any bind mount, so none of them reaches the host's mount namespace.
    """
    ns = _nsexec()
    fd = os.open(spec["netns"], os.O_RDONLY | os.O_CLOEXEC)
    try:
        ns.unshare(ns.CLONE_NEWNS | ns.CLONE_NEWUTS)
        ns.setns(fd, ns.CLONE_NEWNET, f"join network namespace {spec['netns']}")
    finally:
        os.close(fd)
    ns.mount(None, "/", None, ns.MS_REC | ns.MS_PRIVATE, "make / private")
    for target, source in spec.get("files", ()):
        if not os.path.exists(source):
            raise ns.NamespaceError(f"bind-mount {source} over {target}: {os.strerror(errno.ENOENT)}")
        ns.mount(source, target, None, ns.MS_BIND, f"bind-mount {source} over {target}")
    if spec.get("hostname"):
        ns.sethostname(spec["hostname"])


def _fail(report_fd: int, status: int, text: str) -> int:
    print(f"task: {text}", file=sys.stderr, flush=True)
    try:
        os.write(report_fd, text.encode())
    except OSError:
        pass
    return status


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    command = argv[2:]
    report_fd = int(spec["report_fd"])
    os.set_inheritable(report_fd, False)  # closed by a successful exec: that is the "started" signal
    try:
        enter(spec)
    except Exception as err:  # whatever it is, the task did not start, and cnmd must hear why
        return _fail(report_fd, ENTER_FAILED, str(err))
    try:
        os.execvp(command[0], command)
    except OSError as err:
        status = NOT_FOUND if err.errno == errno.ENOENT else CANNOT_RUN
        return _fail(report_fd, status, f"exec {command[0]}: {err.strerror}")
    return CANNOT_RUN  # not reached: execvp returns only by raising


if __name__ == "__main__":
    sys.exit(main(sys.argv))
