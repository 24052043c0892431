"""The ``overlay`` driver (VXLAN across nodes): see ``driver.py``; options in README.md."""

from libnetwork.drivers.api import DriverContext

from .driver import OverlayDriver


def create_driver(context: DriverContext) -> OverlayDriver:
    return OverlayDriver(context)
