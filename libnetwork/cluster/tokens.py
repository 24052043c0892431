"""Swarm join tokens: ``SWMTKN-1-<root CA digest>-<secret>``, as swarmkit makes and reads them.

A token carries two things.  The digest (SHA-256 of the cluster root CA
bundle, the PEM bytes exactly as a manager serves them, in base 36 padded to
50 characters) lets the joiner check the manager before it trusts anything
the manager says.  The secret (16 random bytes in base 36 padded to 25) lets
the manager check the joiner.  Worker and manager tokens share the digest and
differ in the secret; rotating a role's token draws a new secret, and the old
token stops matching.

swarmkit hashes the PEM bundle rather than a certificate's DER so that a
bundle of several roots (during root rotation) is pinned as a whole: a
man in the middle cannot serve one matching root plus extra roots of its own
(``ca/certificates.go``, GetRemoteCA).  So the bytes a manager serves must be
the bytes it hashed; :class:`libnetwork.cluster.ca.RootCA` keeps them as
written.

The manager compares the whole token text, not just the secret, with a
constant-time comparison (``ca/server.go``, IssueNodeCertificate): a token
made for another root CA is refused even if its secret were right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace

from libnetwork.cluster.ids import Role, to_base36
from libnetwork.errors import CAFingerprintMismatch, InvalidJoinToken, JoinTokenRefused

PREFIX = "SWMTKN"
VERSION = 1
DIGEST_LENGTH = 50  # ceil(log36(2^256 - 1))
SECRET_LENGTH = 25  # ceil(log36(2^128 - 1))
SECRET_BYTES = 16
_BASE36_TEXT = re.compile(r"[0-9a-z]+")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def ca_digest(root_ca_pem: bytes) -> str:
    """The hex SHA-256 a token pins: of the root CA bundle exactly as served."""
    return hashlib.sha256(root_ca_pem).hexdigest()


@dataclass(frozen=True)
class JoinToken:
    """A parsed or generated token.

    ``role`` is known only where the token was made (or matched, see
    :meth:`JoinTokens.role_for`); a token read from a user's text has none.
    ``fips`` is swarmkit's v2 flag (``SWMTKN-2-<0|1>-...``); v2 tokens are
    read but never made, as swarmkit makes them only for FIPS clusters.
    """

    version: int
    ca_digest: str
    secret: str
    role: Role | None = None
    fips: bool = False

    def __str__(self) -> str:
        digest = to_base36(int(self.ca_digest, 16)).zfill(DIGEST_LENGTH)
        if self.version == 2:
            return f"{PREFIX}-2-{int(self.fips)}-{digest}-{self.secret}"
        return f"{PREFIX}-{self.version}-{digest}-{self.secret}"


def new_secret() -> str:
    return to_base36(int.from_bytes(secrets.token_bytes(SECRET_BYTES), "big")).zfill(SECRET_LENGTH)


def generate_for_digest(digest: str, role: Role) -> JoinToken:
    if not _HEX_DIGEST.fullmatch(digest):
        raise ValueError(f"not a hex SHA-256 digest: {digest!r}")
    return JoinToken(version=VERSION, ca_digest=digest, secret=new_secret(), role=role)


def generate(root_ca_pem: bytes, role: Role) -> JoinToken:
    return generate_for_digest(ca_digest(root_ca_pem), role)


def parse(text: str) -> JoinToken:
    """Read a token as swarmkit's ParseJoinToken does; every malformed token is ``invalid join token``.

    Stricter than swarmkit in one way: the digest and secret must be lowercase
    base 36 and the digest must fit 256 bits (Go's big.Int parser would let
    other text through to a digest that can never match).
    """
    parts = text.split("-")
    if len(parts) < 4 or parts[0] != PREFIX:
        raise InvalidJoinToken()
    fips = False
    if parts[1] == "1":
        if len(parts) != 4:
            raise InvalidJoinToken()
        version = 1
    elif parts[1] == "2":
        if len(parts) != 5 or parts[2] not in ("0", "1"):
            raise InvalidJoinToken()
        version = 2
        fips = parts[2] == "1"
    else:
        raise InvalidJoinToken()
    digest_text, secret = parts[-2], parts[-1]
    if len(digest_text) != DIGEST_LENGTH or len(secret) != SECRET_LENGTH:
        raise InvalidJoinToken()
    if not (_BASE36_TEXT.fullmatch(digest_text) and _BASE36_TEXT.fullmatch(secret)):
        raise InvalidJoinToken()
    digest_value = int(digest_text, 36)
    if digest_value >= 1 << 256:
        raise InvalidJoinToken()
    return JoinToken(version=version, ca_digest=f"{digest_value:064x}", secret=secret, fips=fips)


def verify_ca(token: JoinToken, presented_ca_pem: bytes) -> None:
    """The joiner's check of the root CA a manager presented, before it trusts that manager."""
    if not hmac.compare_digest(ca_digest(presented_ca_pem), token.ca_digest):
        raise CAFingerprintMismatch(token.ca_digest)


@dataclass(frozen=True)
class JoinTokens:
    """A cluster's current worker and manager tokens: the manager's side of the check.

    Immutable, so a rotation is computed here and written to the global store
    in one transaction (two managers rotating at once cannot both win).
    ``to_docker`` / ``from_docker`` give Docker's ``JoinTokens`` object of
    GET /swarm.
    """

    worker: JoinToken
    manager: JoinToken

    @classmethod
    def create(cls, root_ca_pem: bytes) -> JoinTokens:
        return cls(worker=generate(root_ca_pem, Role.WORKER), manager=generate(root_ca_pem, Role.MANAGER))

    def for_role(self, role: Role) -> JoinToken:
        return self.manager if role is Role.MANAGER else self.worker

    def rotate(self, role: Role) -> JoinTokens:
        """New tokens where ``role`` has a fresh secret; the old token of that role no longer matches."""
        fresh = generate_for_digest(self.for_role(role).ca_digest, role)
        if role is Role.MANAGER:
            return replace(self, manager=fresh)
        return replace(self, worker=fresh)

    def role_for(self, presented: str) -> Role:
        """The role a presented token grants, or :class:`JoinTokenRefused`.

        Both comparisons always run, in constant time, so timing tells
        neither how much of a secret matched nor which role was tried.
        """
        given = presented.encode()
        is_manager = hmac.compare_digest(given, str(self.manager).encode())
        is_worker = hmac.compare_digest(given, str(self.worker).encode())
        if is_manager:
            return Role.MANAGER
        if is_worker:
            return Role.WORKER
        raise JoinTokenRefused()

    def to_docker(self) -> dict[str, str]:
        return {"Worker": str(self.worker), "Manager": str(self.manager)}

    @classmethod
    def from_docker(cls, tokens: dict[str, str]) -> JoinTokens:
        return cls(worker=replace(parse(tokens["Worker"]), role=Role.WORKER),
                   manager=replace(parse(tokens["Manager"]), role=Role.MANAGER))
