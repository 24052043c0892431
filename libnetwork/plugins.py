"""Driver discovery through Python entry points.

Built-in drivers register in pyproject.toml under the same groups a third
party's package would use, so there is one loading path for both.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from .errors import NotFound

log = logging.getLogger(__name__)

DRIVER_GROUP = "libnetwork.drivers"
IPAM_GROUP = "libnetwork.ipam"
# Docker accepts "none" for the null driver in places; one name inside.
DRIVER_ALIASES = {"none": "null"}


def load(group: str, context) -> dict[str, object]:
    loaded = {}
    for point in entry_points(group=group):
        if point.name in loaded:
            continue
        try:
            loaded[point.name] = point.load()(context)
        except Exception:
            log.exception("plugin failed to load", extra={"group": group, "plugin": point.name})
            continue
        log.debug("plugin loaded", extra={"group": group, "plugin": point.name, "target": point.value})
    return loaded


def missing_plugin(name: str) -> NotFound:
    return NotFound(f"could not find plugin {name} in v1 plugin registry: plugin not found")
