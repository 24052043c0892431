"""Helpers shared by the netns tests: raw HTTP to the daemon's socket."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from libnetwork.testing import require_root

pytestmark = pytest.mark.netns


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.netns)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=60)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


def api(daemon, method: str, path: str, body=None, raw: bytes | None = None, headers=None):
    """(status, decoded JSON or text, headers) of one request."""
    conn = UnixHTTPConnection(daemon.socket)
    headers = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    try:
        decoded = json.loads(payload) if payload else None
    except ValueError:
        decoded = payload.decode()
    return response.status, decoded, dict(response.getheaders())


@pytest.fixture(autouse=True)
def _root():
    require_root()
