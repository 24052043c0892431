"""The ``macvlan`` driver: see ``driver.py``; options in README.md."""

from libnetwork.drivers.api import DriverContext

from .driver import MacvlanDriver


def create_driver(context: DriverContext) -> MacvlanDriver:
    return MacvlanDriver(context)
