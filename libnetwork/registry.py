"""Network and IPAM drivers by name, and the worker each one's calls run in.

Built-in and in-process drivers come from entry points at start; a name no
entry point provides is a Docker plugin, looked up on first use as Docker
does.  The controller asks a driver what it can do (its capabilities), never
what it is called.
"""

from __future__ import annotations

import asyncio
import logging

from . import plugins
from .drivers import remote as remote_driver
from .drivers.api import Capabilities, Driver, DriverContext
from .ipam import remote as remote_ipam
from .ipam.api import IpamContext, IpamDriver
from .v1plugins import Registry
from .workers import Workers

log = logging.getLogger("cnmd")


class DriverRegistry:
    def __init__(self, workers: Workers, plugin_dirs: tuple[str, ...], plugin_timeout: float):
        self.drivers: dict[str, Driver] = {}
        self.ipams: dict[str, IpamDriver] = {}
        self.v1plugins = Registry(plugin_dirs, timeout=plugin_timeout)
        self._workers = workers

    def load_entry_points(self, drivers: DriverContext, ipams: IpamContext) -> None:
        self.drivers = plugins.load(plugins.DRIVER_GROUP, drivers)  # type: ignore[assignment]
        self.ipams = plugins.load(plugins.IPAM_GROUP, ipams)  # type: ignore[assignment]
        loaded: list[tuple[str, Driver | IpamDriver]] = [*self.drivers.items(), *self.ipams.items()]
        for name, driver in loaded:
            self._assign_worker(name, driver)

    def _assign_worker(self, name: str, driver: Driver | IpamDriver) -> None:
        if driver.capabilities().own_worker:
            self._workers.give_own_worker(driver, name)

    def driver(self, name: str) -> Driver:
        name = plugins.DRIVER_ALIASES.get(name, name)
        try:
            return self.drivers[name]
        except KeyError:
            raise plugins.missing_plugin(name) from None

    def capabilities(self, name: str) -> Capabilities:
        """What driver ``name`` can do; one not loaded yet is a Docker plugin, which has the defaults."""
        driver = self.drivers.get(plugins.DRIVER_ALIASES.get(name, name))
        return driver.capabilities() if driver is not None else Capabilities()

    def ipam(self, name: str) -> IpamDriver:
        try:
            return self.ipams[name or "default"]
        except KeyError:
            raise plugins.missing_plugin(name) from None

    async def load_driver(self, name: str) -> Driver:
        """Driver ``name``, looking a Docker plugin up now if no entry point provides it."""
        name = plugins.DRIVER_ALIASES.get(name, name)
        if name not in self.drivers:
            # Activation may wait for a plugin to come up: not in the shared kernel worker.
            driver = await asyncio.to_thread(remote_driver.connect, self.v1plugins, name)
            if name not in self.drivers:
                self._assign_worker(name, driver)
                self.drivers[name] = driver
        return self.drivers[name]

    async def load_ipam(self, name: str) -> IpamDriver:
        name = name or "default"
        if name not in self.ipams:
            ipam = await asyncio.to_thread(remote_ipam.connect, self.v1plugins, name)
            if name not in self.ipams:
                self._assign_worker(name, ipam)
                self.ipams[name] = ipam
        return self.ipams[name]
