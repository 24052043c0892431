"""The aliases this driver writes on the links it makes.

The kernel keeps an alias as long as the link lives, across daemon restarts
and a lost data root, so a mark is how the driver tells the links it made
from the user's (which it never removes), and finds what a crash left.
"""

from __future__ import annotations

from libnetwork.netlink import Link

PARENT_PREFIX = "cnm-macvlan:"
# An endpoint's child, between join and the sandbox layer's move (which renames it after the endpoint).
CHILD_PREFIX = "cnm-macvlan-child:"


def parent_mark(nid: str) -> str:
    return PARENT_PREFIX + nid


def child_mark(eid: str) -> str:
    return CHILD_PREFIX + eid


def parent_made_by_daemon(link: Link) -> bool:
    return (link.alias or "").startswith(PARENT_PREFIX)


def made_by_daemon(link: Link) -> bool:
    return (link.alias or "").startswith((PARENT_PREFIX, CHILD_PREFIX))
