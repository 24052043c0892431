"""The ``remote`` driver: Docker network plugins, out of process (``NetworkDriver.*`` over HTTP).

Not an entry point: a remote driver exists per plugin, made when a network
names a driver that no entry point provides (``network create -d NAME``).
"""

from __future__ import annotations

from libnetwork.v1plugins import Registry
from libnetwork.v1plugins.registry import NETWORK_DRIVER

from .driver import RemoteDriver


def connect(registry: Registry, name: str) -> RemoteDriver:
    """Find, activate and register plugin ``name`` as a network driver (blocks)."""
    client = registry.get(name, NETWORK_DRIVER)
    try:
        return RemoteDriver.register(name, client)
    except Exception:
        # Docker registers a driver only once its capabilities are known:
        # a plugin that failed here is activated afresh next time.
        registry.forget(name)
        raise


__all__ = ["RemoteDriver", "connect"]
