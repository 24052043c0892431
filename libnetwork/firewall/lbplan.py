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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Delta:
    """What one change does to a service's index space (element commands are built from it)."""

    deleted: list[int]
    added: list[tuple[int, Backend]]
    before: int      # backends before and after: the rule's N changes when they differ
    after: int


class Slots:
    """A service's backends by index, dense.  Planning one added or removed backend is O(1), as its
    kernel change is; a plan is applied here only once the kernel took it (``apply``)."""

    def __init__(self, backends: Iterable[Backend] = ()):
        self.order: list[Backend] = list(backends)
        self._index = {b: i for i, b in enumerate(self.order)}

    def __contains__(self, backend: Backend) -> bool:
        return backend in self._index

    def __len__(self) -> int:
        return len(self.order)

    def plan_add(self, backend: Backend) -> Delta:
        count = len(self.order)
        if backend in self._index:
            return Delta([], [], count, count)
        return Delta([], [(count, backend)], count, count + 1)

    def plan_remove(self, backend: Backend) -> Delta:
        """The last backend moves into the freed index: two elements deleted and one added, at most."""
        count = len(self.order)
        index = self._index.get(backend)
        if index is None:
            return Delta([], [], count, count)
        if index == count - 1:
            return Delta([index], [], count, count - 1)
        return Delta([index, count - 1], [(index, self.order[-1])], count, count - 1)

    def plan_assign(self, backends: Sequence[Backend]) -> Delta:
        """Exactly ``backends``, surviving ones kept in place (``layout``): O(N), as its argument is."""
        deleted, added = changes(self.order, layout(self.order, backends))
        return Delta(deleted, added, len(self.order), len(backends))

    def apply(self, delta: Delta) -> None:
        for index in delta.deleted:
            self._index.pop(self.order[index], None)
        for index, backend in delta.added:
            if index == len(self.order):
                self.order.append(backend)
            else:
                self.order[index] = backend
            self._index[backend] = index
        del self.order[delta.after:]
