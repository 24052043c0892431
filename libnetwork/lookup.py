"""Docker's rules for finding a network or a container by what a user typed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from .errors import InvalidParameter, NotFound


class Named(Protocol):
    """What the lookups match on: an ID and a name."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


R = TypeVar("R", bound=Named)


def find_network(records: Iterable[R], term: str) -> R:
    """Full ID, then exact name, then unique ID prefix (Docker's getNetwork)."""
    by_name: list[R] = []
    by_prefix: list[R] = []
    for record in records:
        if record.id == term:
            return record
        if record.name == term:
            by_name.append(record)
        elif term and record.id.startswith(term):
            by_prefix.append(record)
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise InvalidParameter(f"{len(by_name)} matches found based on name: network {term} is ambiguous")
    if len(by_prefix) == 1:
        return by_prefix[0]
    if len(by_prefix) > 1:
        raise InvalidParameter(f"{len(by_prefix)} matches found based on ID prefix: network {term} is ambiguous")
    raise NotFound(f"network {term} not found")


def find_sandbox(records: Iterable[R], term: str) -> R:
    """Full ID, then name (with or without Docker's leading '/'), then unique ID prefix."""
    name = term[1:] if term.startswith("/") else term
    by_prefix: list[R] = []
    for record in records:
        if record.id == term or record.name == name:
            return record
        if term and record.id.startswith(term):
            by_prefix.append(record)
    if len(by_prefix) == 1:
        return by_prefix[0]
    if len(by_prefix) > 1:
        raise InvalidParameter(f"multiple IDs found with provided prefix: {term}")
    raise NotFound(f"No such container: {term}")
