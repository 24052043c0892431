"""The ``host`` driver: the sandbox uses the daemon's own network namespace."""

from __future__ import annotations

from .api import Capabilities, DriverContext
from .null import NullDriver


class HostDriver(NullDriver):
    name = "host"

    def capabilities(self) -> Capabilities:
        return Capabilities(exclusive=True, uses_host_namespace=True)


def create_driver(context: DriverContext) -> HostDriver:
    return HostDriver()
