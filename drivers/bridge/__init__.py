"""The ``bridge`` driver (Docker's default): see ``driver.py`` and its steps."""

from libnetwork.drivers.api import DriverContext

from .driver import BridgeDriver


def create_driver(context: DriverContext) -> BridgeDriver:
    return BridgeDriver(context)
