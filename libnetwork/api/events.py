"""``GET /events``: dockerd's event stream, its filters and its ``since``/``until`` replay.

As dockerd (api/server/router/system ``getEvents``, daemon/events/filter.go):
the filter keys are not validated (a key no matcher reads filters nothing);
``since``/``until`` are ``seconds[.nanoseconds]``; an ``until`` in the past
replays and ends, one in the future streams until then; messages are JSON
lines, each flushed as it happens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping

from aiohttp import web

from ..errors import InvalidParameter
from ..eventlog import EventLog, Message
from . import filters

log = logging.getLogger("cnmd.api")

EVENT_LOG = web.AppKey("event_log", EventLog)

# How often an idle stream looks whether its reader is still there: aiohttp
# does not cancel a handler whose client went away (dockerd's ctx.Done()).
_IDLE_CHECK = 1.0

# Filters that dockerd matches by prefix against the actor's ID or its "name" attribute,
# whatever the event's type (fuzzyMatchName).
_NAME_FILTERS = ("daemon", "container", "plugin", "volume", "network", "service", "node", "secret", "config")
_FUZZY_EVENTS = {"health_status", "exec_create", "exec_start"}


def _exact(wanted: Mapping[str, list[str]], key: str, value: str) -> bool:
    values = wanted.get(key)
    return not values or value in values


def _fuzzy(wanted: Mapping[str, list[str]], key: str, value: str) -> bool:
    values = wanted.get(key)
    return not values or any(value.startswith(v) for v in values)


def _labels(wanted: list[str], attributes: Mapping[str, str]) -> bool:
    if not attributes:
        return False
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in attributes or (sep and attributes[key] != value):
            return False
    return True


def include(wanted: Mapping[str, list[str]], message: Message) -> bool:
    """dockerd's events Filter.Include for one message."""
    actor = message["Actor"]
    attributes = actor.get("Attributes") or {}
    name = attributes.get("name", "")
    action = message["Action"]
    if _FUZZY_EVENTS & set(wanted.get("event", ())):
        if not _fuzzy(wanted, "event", action):
            return False
    elif not _exact(wanted, "event", action):
        return False
    if not _exact(wanted, "type", message["Type"]):
        return False
    if not _exact(wanted, "scope", message.get("scope", "")):
        return False
    for key in _NAME_FILTERS:
        if key in wanted and not (_fuzzy(wanted, key, actor["ID"]) or _fuzzy(wanted, key, name)):
            return False
    if wanted.get("image") and not (actor["ID"] in wanted["image"] or attributes.get("image", "") in wanted["image"]):
        return False
    return not wanted.get("label") or _labels(wanted["label"], attributes)


def parse_timestamp(value: str, name: str) -> int | None:
    """``seconds[.fraction]`` as nanoseconds (timetypes.ParseTimestamps); None when empty."""
    if value == "":
        return None
    seconds, dot, fraction = value.partition(".")
    for part in (seconds, fraction) if dot else (seconds,):
        try:
            int(part)
        except ValueError:
            raise InvalidParameter(f"invalid value for '{name}': strconv.ParseInt: parsing "
                                   f"{json.dumps(part)}: invalid syntax") from None
    # A fraction is read as nanoseconds scaled to its length: ".5" is 500 ms.
    nanos = int(fraction[:9].ljust(9, "0")) if dot else 0
    return int(seconds) * 1_000_000_000 + nanos


def encode(message: Message) -> bytes:
    # Go's json.Encoder: compact, HTML characters escaped, one line each.
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (text + "\n").encode()


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def get_events(request: web.Request) -> web.StreamResponse:
    since_text, until_text = request.query.get("since", ""), request.query.get("until", "")
    since = parse_timestamp(since_text, "since")
    until = parse_timestamp(until_text, "until")
    if until is not None and since is not None and until < since:
        raise InvalidParameter(f"`since` time ({since_text}) cannot be after `until` time ({until_text})")
    wanted = filters.parse(request.query.get("filters"), None)
    replay, stream = request.app[EVENT_LOG].subscribe(since, until, lambda m: include(wanted, m))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await response.prepare(request)
        for past in replay:
            await response.write(encode(past))
        if until is not None and until <= time.time_ns():
            await response.write_eof()
            return response
        deadline = None if until is None else time.monotonic() + (until - time.time_ns()) / 1e9
        while True:
            wait = _IDLE_CHECK if deadline is None else min(_IDLE_CHECK, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                message = await asyncio.wait_for(stream.queue.get(), wait)
            except TimeoutError:
                if _client_gone(request):
                    log.debug("events reader went away", extra={"path": request.path})
                    return response
                continue
            if message is None or (until is not None and message["timeNano"] > until):
                break
            await response.write(encode(message))
        await response.write_eof()
    except ConnectionResetError:
        log.debug("events reader went away", extra={"path": request.path})
    finally:
        stream.close()
    return response
