"""Plugins by name: looked up when first named, activated once, then reused.

As in Docker (moby ``pkg/plugins/plugins.go``), the handshake is
``POST /Plugin.Activate`` answered by ``{"Implements": ["NetworkDriver", ...]}``;
an activated plugin is kept, and one whose activation failed is looked up
afresh the next time it is named.  A kept plugin that dies and comes back on
the same address is simply called again: every call opens a new connection.

Unlike Docker, a name that no plugin directory holds fails at once instead
of being looked for again for 30 seconds: a typo in ``-d`` should not cost
half a minute, and a plugin that is starting has its socket or spec in place
before it can answer anyway (connecting to it is retried, see ``client``).
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import PluginError
from ..plugins import missing_plugin
from .client import BadReply, PluginClient
from .discovery import DEFAULT_DIRS, BadSpec, locate

log = logging.getLogger(__name__)

NETWORK_DRIVER = "NetworkDriver"
IPAM_DRIVER = "IpamDriver"


def parse_manifest(reply: dict[str, Any]) -> tuple[str, ...]:
    implements = reply.get("Implements")
    if implements is None:
        return ()
    if not isinstance(implements, list) or not all(isinstance(i, str) for i in implements):
        raise BadReply("Implements: expected a list of strings")
    return tuple(implements)


class Registry:
    """Not thread-safe: the controller's kernel worker is its one user."""

    def __init__(self, dirs: tuple[str, ...] = DEFAULT_DIRS, timeout: float = 30.0,
                 retry_window: float | None = None):
        self.dirs = tuple(dirs)
        self.timeout = timeout
        self.retry_window = timeout if retry_window is None else retry_window
        self._active: dict[str, tuple[PluginClient, tuple[str, ...]]] = {}

    def get(self, name: str, interface: str) -> PluginClient:
        """The client of plugin ``name``, which must implement ``interface``.

        Raises NotFound (Docker's text) when no directory holds the name,
        PluginUnavailable when it cannot be reached, PluginError otherwise.
        """
        entry = self._active.get(name) or self._activate(name)
        client, implements = entry
        if interface not in implements:
            raise PluginError(f'legacy plugin: Plugin does not implement the requested driver: plugin="{name}", '
                              f'requested implementation="{interface}"')
        return client

    def forget(self, name: str) -> None:
        """Drop an activated plugin, so that the next use looks it up and activates it again."""
        self._active.pop(name, None)

    def _locate(self, name: str):
        return locate(name, self.dirs)

    def _activate(self, name: str) -> tuple[PluginClient, tuple[str, ...]]:
        try:
            spec = self._locate(name)
        except BadSpec as err:
            raise PluginError(f'remote plugin "{name}": {err}') from None
        if spec is None:
            raise missing_plugin(name)
        client = PluginClient(name, lambda: self._locate(name), timeout=self.timeout,
                              retry_window=self.retry_window)
        implements = client.call("Plugin.Activate", None, parse_manifest)
        self._active[name] = (client, implements)
        log.info("plugin activated", extra={"plugin": name, "addr": spec.addr, "implements": ",".join(implements)})
        return client, implements
