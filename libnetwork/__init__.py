"""libnetwork (Python): a Container Network Model networking subsystem.

The in-process API is ``Controller`` (asyncio)::

    ctl = Controller(Settings(data_root=..., exec_root=...))
    await ctl.start()
"""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so `cnm` (which imports libnetwork.cli) pulls in neither aiohttp nor pyroute2.
    if name in ("Controller", "Settings"):
        from . import controller

        return getattr(controller, name)
    raise AttributeError(name)
