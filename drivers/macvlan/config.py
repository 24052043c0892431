"""Docker's macvlan ``-o`` options parsed once into a typed config.

The texts of the errors are Docker's (libnetwork/drivers/macvlan), so
scripts that match on them keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from libnetwork.errors import InvalidParameter

PARENT = "parent"
MODE = "macvlan_mode"

BRIDGE, PRIVATE, VEPA, PASSTHRU = "bridge", "private", "vepa", "passthru"
MODES = (BRIDGE, PRIVATE, VEPA, PASSTHRU)

# Docker names the link it makes for a network without a parent "dm-" + short network ID.
PLACEHOLDER_PREFIX = "dm-"
MAX_IFNAME = 15  # IFNAMSIZ - 1


@dataclass(frozen=True)
class MacvlanConfig:
    parent: str
    mode: str = BRIDGE
    # No -o parent: the network gets a link of its own that reaches nothing
    # outside, so it is internal whatever --internal says (as in Docker 26).
    placeholder: bool = False


@dataclass(frozen=True)
class VlanName:
    """``-o parent=eth0.10``: base link ``eth0``, VLAN ID 10."""

    base: str
    vlan_id: int


def parse_options(nid: str, options: Mapping[str, str]) -> MacvlanConfig:
    mode = options.get(MODE) or BRIDGE
    if mode not in MODES:
        raise InvalidParameter(f"requested macvlan mode '{mode}' is not valid, "
                               f"'bridge' mode is the macvlan driver default")
    parent = options.get(PARENT, "")
    if parent == "lo":
        raise InvalidParameter("loopback interface is not a valid macvlan parent link")
    if not parent:
        return MacvlanConfig(parent=placeholder_name(nid), mode=mode, placeholder=True)
    if len(parent) > MAX_IFNAME:
        raise InvalidParameter(f"parent interface name {parent} is longer than {MAX_IFNAME} characters")
    return MacvlanConfig(parent=parent, mode=mode)


def placeholder_name(nid: str) -> str:
    return PLACEHOLDER_PREFIX + nid[:12]


def parse_vlan_name(name: str) -> VlanName:
    """Only asked of a parent that does not exist: an existing ``a.b`` link is used as it is."""
    if "." not in name:
        raise InvalidParameter(f"the requested parent interface {name} was not found on the Docker host")
    parts = name.split(".")
    if len(parts) != 2:
        raise InvalidParameter(f"required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, "
                               f"instead received {name}")
    base, vid = parts
    # Go's Atoi, which Docker uses: an optional sign, then decimal digits.
    digits = vid[1:] if vid[:1] in ("+", "-") else vid
    if not (digits.isascii() and digits.isdigit()):
        raise InvalidParameter(f"unable to parse a valid vlan id from: {vid} (ex. eth0.10 for vlan 10)")
    vlan_id = int(vid)
    return VlanName(base=base, vlan_id=vlan_id)


def check_vlan_id(vlan: VlanName) -> None:
    # After the base link is found, as Docker orders its checks.
    if not 1 <= vlan.vlan_id <= 4094:
        raise InvalidParameter(f"vlan id must be between 1-4094, received: {vlan.vlan_id}")
