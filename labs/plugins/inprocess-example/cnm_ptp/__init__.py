"""cnm-ptp: a network driver for cnmd, shipped as its own package (an entry point in ``libnetwork.drivers``)."""

from libnetwork.drivers.api import DriverContext

from .driver import PtpDriver


def create_driver(context: DriverContext) -> PtpDriver:
    return PtpDriver(context)
