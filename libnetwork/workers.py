"""Where blocking calls run: never on the event loop, which serves the API and DNS.

Netlink, nftables and in-process drivers share one kernel worker thread, so
they need no locks of their own.  A driver that says its calls may block for
long (``own_worker``: Docker plugins over HTTP, with a 30 s timeout) gets a
thread of its own, so a hung plugin delays only the networks it serves.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Workers:
    def __init__(self) -> None:
        self._kernel = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel")
        self._own: dict[int, ThreadPoolExecutor] = {}

    def give_own_worker(self, driver: object, name: str) -> None:
        """The calls of ``driver``'s methods run in a thread of its own from now on."""
        self._own[id(driver)] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"plugin-{name}")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` off the loop: a driver's method in that driver's worker, the rest in the kernel worker."""
        owner = getattr(fn, "__self__", None)
        executor = self._own.get(id(owner), self._kernel) if owner is not None else self._kernel
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args))

    def shutdown(self) -> None:
        self._kernel.shutdown(wait=True)
        # A hung plugin call must not hold up the daemon's exit.
        for executor in self._own.values():
            executor.shutdown(wait=False, cancel_futures=True)
