"""libnftables contexts inside other network namespaces, many in one process, serving ``nftctx._Helper``.

Run as a script from the daemon's own namespace (standard library and the
nftables binding only, so it starts fast and never imports the daemon).
libnftables binds its netlink socket to the namespace current when the
context is made, so ``open`` enters the namespace (setns: this process has
one thread, so the whole process moves), makes the context there, and comes
back.  Each command enters the context's namespace again while it runs,
because libnftables resolves some names (``iif``, ``oif``) through a fresh
socket in whatever namespace is current then.

One request a line on stdin, ``[context id, verb, payload]``:
``open`` (payload: the namespace's path), ``json`` ({...}), ``text`` ("..."),
``close``; one answer a line on stdout, ``[rc, output, error]``.  The ids
are the caller's.  It exits when stdin closes, so it never outlives its owner.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class Contexts:
    def __init__(self, nftables_class: Any):
        self._make = nftables_class
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._open: dict[int, tuple[Any, int]] = {}   # id -> (Nftables, namespace fd)

    def _back_home(self) -> None:
        try:
            _setns(self._home)
        except OSError as err:
            # Stuck in another namespace, every later context would be made there: stop,
            # and let the daemon start a fresh helper.
            print(json.dumps([1, None, f"cannot return to the helper's namespace: {err}"]), flush=True)
            os._exit(1)

    def open(self, cid: int, path: str) -> None:
        self.close(cid)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(fd)
            try:
                nft = self._make()
            finally:
                self._back_home()
            nft.set_json_output(True)
        except BaseException:
            os.close(fd)
            raise
        self._open[cid] = (nft, fd)

    def close(self, cid: int) -> None:
        found = self._open.pop(cid, None)
        if found is not None:
            os.close(found[1])  # the binding frees its context (and socket) with the object

    def run(self, cid: int, verb: str, payload: Any) -> tuple[int, Any, str]:
        found = self._open.get(cid)
        if found is None:
            return 1, None, f"no open nftables context {cid}"
        nft, fd = found
        _setns(fd)
        try:
            return nft.json_cmd(payload) if verb == "json" else nft.cmd(payload)
        finally:
            self._back_home()


def serve(contexts: Contexts, lines: Any) -> None:
    for line in lines:
        cid, verb, payload = json.loads(line)
        try:
            if verb == "open":
                contexts.open(cid, payload)
                answer: tuple[int, Any, str] = (0, None, "")
            elif verb == "close":
                contexts.close(cid)
                answer = (0, None, "")
            else:
                answer = contexts.run(cid, verb, payload)
        except OSError as err:
            answer = (1, None, str(err))
        print(json.dumps(answer), flush=True)


def main() -> int:
    try:
        from nftables import Nftables

        Nftables()  # fails here, where it can be reported, when libnftables is missing
        contexts = Contexts(Nftables)
    except (ImportError, OSError) as err:
        print(json.dumps(str(err)), flush=True)
        return 1
    print(json.dumps(["ready"]), flush=True)
    serve(contexts, sys.stdin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
