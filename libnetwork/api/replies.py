"""Docker's conventions for request and reply bodies, shared by every route module."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import InvalidParameter


def error_reply(status: int, message: str) -> web.Response:
    # Exactly "application/json", as dockerd sends: the docker CLI decodes an
    # error body only then (a "; charset=utf-8" makes it print the raw JSON).
    return web.Response(body=json.dumps({"message": message}).encode(), status=status,
                        content_type="application/json")


def json_reply(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=(json.dumps(data) + "\n").encode(), status=status, content_type="application/json")


async def read_json(request: web.Request) -> dict:
    """Docker's CheckForJSON/ReadJSON rules."""
    body = await request.read()
    content_type = request.headers.get("Content-Type", "")
    if not body and not content_type:
        return {}
    if content_type and content_type.split(";")[0].strip() != "application/json":
        raise InvalidParameter(f"unsupported Content-Type header ({content_type}): must be 'application/json'")
    if not body:
        raise InvalidParameter("invalid JSON: got EOF while reading request body")
    try:
        data = json.loads(body)
    except ValueError as err:
        raise InvalidParameter(f"invalid JSON: {err}") from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid JSON: expected an object")
    return data


def query_flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "")
    if value in ("", "0", "false", "False"):
        return False
    if value in ("1", "true", "True"):
        return True
    raise InvalidParameter(f"invalid value for {name}: {value}")
