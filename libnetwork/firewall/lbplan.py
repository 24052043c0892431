"""Where each backend sits in its service's index space: pure, no I/O.

The kernel picks a backend as ``numgen random mod N`` and looks the number
up, so a service's backends must fill indices 0..N-1 with no hole.  A change
keeps every surviving backend where it is: a removed backend's index goes to
a new backend if there is one, else to the last backend (which moves down),
so removing one backend rewrites at most two indices, whatever N is.
Moving a backend to another index changes only which *new* connections it
gets; established ones are conntrack's and stay where they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from .lbapi import Backend


def layout(old: Sequence[Backend], new: Sequence[Backend]) -> list[Backend]:
    """The dense index order for ``new`` that differs least from ``old``."""
    wanted = set(new)
    present = set(old)
    arriving = [b for b in new if b not in present]
    slots: list[Backend | None] = [b if b in wanted else None for b in old]
    for index, backend in enumerate(slots):
        if backend is None and arriving:
            slots[index] = arriving.pop(0)
    slots.extend(arriving)
    # Fill the remaining holes (lowest first) with the last backends.
    for hole in [i for i, b in enumerate(slots) if b is None]:
        while slots and slots[-1] is None:
            slots.pop()
        if hole >= len(slots):
            break
        slots[hole] = slots.pop()
    return [b for b in slots if b is not None]


def changes(old: Sequence[Backend], new: Sequence[Backend]) -> tuple[list[int], list[tuple[int, Backend]]]:
    """(indices whose element goes, (index, backend) elements that come) from ``old`` to ``new``."""
    deleted = [i for i, b in enumerate(old) if i >= len(new) or new[i] != b]
    added = [(i, b) for i, b in enumerate(new) if i >= len(old) or old[i] != b]
    return deleted, added
