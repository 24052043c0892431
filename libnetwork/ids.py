"""Docker-style identifiers: 64 hex characters, shown truncated to 12."""

import secrets
from datetime import UTC, datetime

SHORT_LEN = 12


def generate_id() -> str:
    while True:
        value = secrets.token_hex(32)
        # Docker regenerates when the short form reads as a number, so that a
        # short ID is never mistaken for one by tools that accept either.
        if not value[:SHORT_LEN].isdigit():
            return value


def short_id(value: str) -> str:
    return value[:SHORT_LEN]


def now_rfc3339() -> str:
    """Go's RFC3339Nano as Docker prints it (nanoseconds, UTC 'Z')."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"
