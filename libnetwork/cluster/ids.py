"""Swarm identities: node and cluster IDs (25 base-36 characters) and node roles.

swarmkit (``identity/randomid.go``) draws 17 random bytes, sets the top bit
and keeps characters 1..25 of the base-36 text: the set bit fixes the length
without zero padding, and the extra byte evens out the first character.
Cluster IDs are made the same way (``ca/config.go`` uses ``identity.NewID()``
for the certificate's organisation).
"""

from __future__ import annotations

import enum
import re
import secrets

ID_LENGTH = 25
_ID_ENTROPY_BYTES = 17
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID_PATTERN = re.compile(rf"[0-9a-z]{{{ID_LENGTH}}}")


def to_base36(value: int) -> str:
    if value < 0:
        raise ValueError("base 36 of a negative number")
    digits = []
    while True:
        value, rest = divmod(value, 36)
        digits.append(_BASE36[rest])
        if not value:
            return "".join(reversed(digits))


def new_id() -> str:
    raw = bytearray(secrets.token_bytes(_ID_ENTROPY_BYTES))
    raw[0] |= 0x80
    return to_base36(int.from_bytes(raw, "big"))[1 : ID_LENGTH + 1]


def new_node_id() -> str:
    return new_id()


def new_cluster_id() -> str:
    return new_id()


def is_valid_id(value: str) -> bool:
    return _ID_PATTERN.fullmatch(value) is not None


class Role(enum.Enum):
    """A node's role, spelled as Docker's API spells it; ``ou`` is how its certificate carries it."""

    WORKER = "worker"
    MANAGER = "manager"

    @property
    def ou(self) -> str:
        return f"swarm-{self.value}"

    @classmethod
    def from_ou(cls, ou: str) -> Role:
        for role in cls:
            if role.ou == ou:
                return role
        raise ValueError(f"unknown node role {ou!r}")
