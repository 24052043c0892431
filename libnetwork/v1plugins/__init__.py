"""Docker's v1 (out-of-process) plugin mechanism: discovery, activation, JSON calls.

What moby's ``pkg/plugins`` does, for the remote network driver
(``libnetwork.drivers.remote``) and the remote IPAM driver
(``libnetwork.ipam.remote``): find a plugin by name under the plugin
directories, POST ``/Plugin.Activate``, then POST ``/<Interface>.<Method>``
with JSON bodies.  Everything here blocks; it runs in the controller's kernel
worker thread, like every other driver call.
"""

from .client import MIMETYPE, BadReply, PluginClient
from .discovery import DEFAULT_DIRS, BadSpec, PluginSpec, TLSConfig, locate
from .registry import Registry

__all__ = [
    "DEFAULT_DIRS", "MIMETYPE", "BadReply", "BadSpec", "PluginClient", "PluginSpec", "Registry", "TLSConfig", "locate",
]
