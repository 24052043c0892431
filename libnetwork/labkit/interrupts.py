"""Ctrl-C for labs that build namespaces: stop the run, never the teardown."""

from __future__ import annotations

import signal
from types import FrameType


class Interrupts:
    """The first SIGINT/SIGTERM/SIGHUP stops the run (KeyboardInterrupt, so every finally runs); later
    ones are refused, so a second impatient Ctrl-C cannot cut the teardown short.  Set ``stopping``
    when the teardown starts, so a signal then is refused too."""

    def __init__(self) -> None:
        self.stopping = False
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            print("tearing down, please wait", flush=True)
            return
        self.stopping = True
        raise KeyboardInterrupt
