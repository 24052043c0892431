"""Helpers shared by the netns tests: raw HTTP to the daemon's socket."""

from __future__ import annotations

import json

import pytest

from libnetwork import unixhttp
from libnetwork.testing import require_root

pytestmark = pytest.mark.netns


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.netns)


def api(daemon, method: str, path: str, body=None, raw: bytes | None = None, headers=None):
    """(status, decoded JSON or text, headers) of one request."""
    headers = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    response, payload = unixhttp.request(daemon.socket, method, path, body=data, headers=headers)
    try:
        decoded = json.loads(payload) if payload else None
    except ValueError:
        decoded = payload.decode()
    return response.status, decoded, dict(response.getheaders())


@pytest.fixture(autouse=True)
def _root():
    require_root()
