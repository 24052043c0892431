"""Structured logs: one logfmt line per event, fields passed as ``extra``.

    log.info("network created", extra={"network": "dev", "id": "3f2a..."})
    -> time=2026-11-23T09:00:00.123Z level=info msg="network created" network=dev id=3f2a...
"""

from __future__ import annotations

import logging
import sys
import time

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\t\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"time={stamp}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"msg={_quote(record.getMessage())}",
        ]
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                parts.append(f"{key}={_quote(value)}")
        if record.levelno <= logging.DEBUG:
            parts.append(f"logger={record.name}")
        if record.exc_info:
            parts.append(f"error={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def setup(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    handler.addFilter(_quiet_libraries)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _quiet_libraries(record: logging.LogRecord) -> bool:
    # pyroute2 logs every netlink message at debug, grpc (etcd's client) every
    # loop it finds: that is noise, not the detail a person chasing a bug in
    # this daemon needs.
    return record.levelno >= logging.WARNING or not record.name.startswith(
        ("pyroute2", "aiohttp", "asyncio", "grpc", "aetcd"))
