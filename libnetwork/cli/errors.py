"""Errors a command raises to end with a given exit status.

main() maps them once: a StatusError prints its message (if any) to stderr
and exits with its status; a ClientError is a StatusError found before any
request was sent.
"""

from __future__ import annotations


class StatusError(Exception):
    """End the command with ``status``; print ``message`` to stderr if set."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientError(StatusError):
    """Invalid input caught client-side; docker prints these and exits 1
    (``docker run``-style commands exit 125)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(status, message)
