"""Enter a sandbox's namespaces from the CLI process itself, then exec.

``cnm exec`` needs no helper binary: the (single-threaded) CLI process joins
the sandbox's network namespace, takes private mount and UTS namespaces,
bind-mounts the sandbox's generated resolv.conf / hosts / hostname over the
/etc files, remounts /sys so /sys/class/net lists the sandbox's interfaces,
sets the hostname and replaces itself with the command (so its exit status
is the command's).  This is what ``ip netns exec`` does; Python 3.11 has no
os.setns/os.unshare, hence ctypes.

setns(CLONE_NEWNET) changes only the calling thread, which is why this must
run before any thread exists, and never in the daemon.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from types import ModuleType
    from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

ETC_FILES = (
    ("resolv_conf", "/etc/resolv.conf"),
    ("hosts", "/etc/hosts"),
    ("hostname_file", "/etc/hostname"),
)


class NamespaceError(Exception):
    """A namespace or mount step failed; the message names the step."""


class SandboxView:
    """What a process needs to see the sandbox: netns path, files, hostname."""

    def __init__(self, netns_path: str = "", hostname: str = "", resolv_conf: str = "", hosts: str = "",
                 hostname_file: str = "") -> None:
        self.netns_path = netns_path
        self.hostname = hostname
        self.resolv_conf = resolv_conf
        self.hosts = hosts
        self.hostname_file = hostname_file

    @classmethod
    def from_sandbox(cls, sbox: Mapping[str, Any]) -> SandboxView:
        """Build from the daemon's sandbox object (GET /sandboxes/{id})."""
        return cls(
            netns_path=sbox.get("SandboxKey") or "",
            hostname=sbox.get("Hostname") or "",
            resolv_conf=sbox.get("ResolvConfPath") or "",
            hosts=sbox.get("HostsPath") or "",
            hostname_file=sbox.get("HostnamePath") or "",
        )


# ctypes and libc are loaded by the first call: only ``cnm exec`` needs them.
_libc: tuple[ModuleType, ctypes.CDLL] | None = None


def _lib() -> tuple[ModuleType, ctypes.CDLL]:
    global _libc
    if _libc is None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.unshare.argtypes = [ctypes.c_int]
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                               ctypes.c_ulong, ctypes.c_void_p]
        libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        _libc = (ctypes, libc)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        ctypes, _ = _lib()
        err = ctypes.get_errno()
        raise NamespaceError(f"{what}: {os.strerror(err)}")


def _b(text: str | None) -> bytes | None:
    return text.encode() if text is not None else None


def setns(fd: int, nstype: int, what: str) -> None:
    _check(_lib()[1].setns(fd, nstype), what)


def unshare(flags: int) -> None:
    _check(_lib()[1].unshare(flags), "unshare mount and UTS namespaces")


def mount(source: str | None, target: str, fstype: str | None, flags: int, what: str) -> None:
    _check(_lib()[1].mount(_b(source), _b(target), _b(fstype), flags, None), what)


def umount2(target: str, flags: int, what: str) -> None:
    _check(_lib()[1].umount2(_b(target), flags), what)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_lib()[1].sethostname(raw, len(raw)), f"set hostname {name!r}")


def enter(view: SandboxView) -> None:
    """Move this process into the sandbox as seen by a container.

    Order matters: the network namespace is joined before /sys is mounted
    (sysfs shows the mounting process's netns), and / is made private before
    any bind mount so nothing leaks back to the host's mount namespace.
    """
    fd = -1
    if view.netns_path:
        try:
            fd = os.open(view.netns_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            raise NamespaceError(f"open network namespace {view.netns_path}: {err.strerror}") from None
    try:
        unshare(CLONE_NEWNS | CLONE_NEWUTS)
        if fd >= 0:
            setns(fd, CLONE_NEWNET, f"join network namespace {view.netns_path}")
    finally:
        if fd >= 0:
            os.close(fd)
    mount(None, "/", None, MS_REC | MS_PRIVATE, "make / private")
    for attr, target in ETC_FILES:
        source = getattr(view, attr)
        if not source:
            continue
        # A missing target (no /etc/hostname on this host) or source leaves
        # the host's view of that file rather than failing the command.
        if not os.path.exists(source) or not os.path.exists(target):
            continue
        mount(source, target, None, MS_BIND, f"bind-mount {source} over {target}")
    remount_sys()
    if view.hostname:
        sethostname(view.hostname)


def remount_sys() -> None:
    """Show the sandbox's /sys/class/net; a failure only hides that view."""
    flags = 0
    try:
        if os.statvfs("/sys").f_flag & os.ST_RDONLY:
            flags = MS_RDONLY
    except OSError:
        pass
    try:
        umount2("/sys", MNT_DETACH, "unmount /sys")
    except NamespaceError:
        pass
    try:
        mount("sysfs", "/sys", "sysfs", flags, "mount sysfs on /sys")
    except NamespaceError:
        pass
