"""HTTP/1.1 to cnmd over its unix socket (or plain TCP), stdlib only.

The CLI starts once per command, so it avoids any HTTP library beyond
http.client, and imports even that only when a request is made.  Errors
come back as Docker's ``{"message": ...}``; :class:`DaemonError` carries the
status so callers can treat 404 specially (``rm -f``), and prints as the
docker CLI does: ``Error response from daemon: <message>``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    import http.client
    from typing import Any

DEFAULT_HOST = "unix:///run/cnm/cnm.sock"
HOST_ENV = "CNM_HOST"


class DaemonError(Exception):
    """The daemon answered with a status >= 400."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Error response from daemon: {message}")
        self.status = status
        self.message = message


class ConnectError(Exception):
    """The daemon could not be reached at all."""


class ProtocolError(ConnectError):
    """Something answered, but not in the API's terms (e.g. not JSON)."""


def parse_host(host: str) -> tuple[str, str | tuple[str, int]]:
    """Split ``unix:///path`` / ``tcp://h:p`` / ``/path`` into (scheme, address)."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if not path:
            raise ValueError(f"invalid host {host!r}: empty socket path")
        return "unix", path
    if host.startswith("/"):
        return "unix", host
    if host.startswith("tcp://") or host.startswith("http://"):
        rest = host.split("://", 1)[1].rstrip("/")
        hostname, sep, port = rest.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"invalid host {host!r}: a port is required")
        return "tcp", (hostname.strip("[]") or "127.0.0.1", int(port))
    raise ValueError(f"invalid host {host!r}: use unix:///path or tcp://host:port")


def resolve_host(flag_value: str | None = None) -> str:
    """-H wins over $CNM_HOST, which wins over the default socket."""
    return flag_value or os.environ.get(HOST_ENV) or DEFAULT_HOST


def encode_query(params: Mapping[str, object]) -> str:
    """Build a query string; ``None`` values are left out."""
    from urllib.parse import quote

    parts = []
    for key, value in params.items():
        if value is None:
            continue
        parts.append(f"{quote(key, safe='')}={quote(str(value), safe='')}")
    return "&".join(parts)


class Response:
    """Status, headers and body of one answer."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as err:
            raise ProtocolError(f"invalid JSON in the daemon's answer ({self.status}): {err}") from None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """One connection to the daemon, reused for every request of a command."""

    def __init__(self, host: str, timeout: float | None = None) -> None:
        self.host = host
        self.scheme, self.address = parse_host(host)
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            # http.client is imported here, by the first request: --help and usage errors never pay for it.
            import http.client

            from ..unixhttp import UnixHTTPConnection

            if isinstance(self.address, str):
                self._conn = UnixHTTPConnection(self.address, timeout=self.timeout)
            else:
                self._conn = http.client.HTTPConnection(*self.address, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, query: Mapping[str, object] | None = None,
                body: object = None) -> Response:
        """Send one request; raise DaemonError for >= 400, ConnectError if unreachable."""
        url = path
        if query:
            qs = encode_query(query)
            if qs:
                url = f"{path}?{qs}"
        headers = {"User-Agent": "cnm-cli"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = self._connect()
        try:
            conn.request(method, url, body=payload, headers=headers)
            raw = conn.getresponse()
            data = raw.read()
        except (FileNotFoundError, ConnectionRefusedError) as err:
            self.close()
            raise ConnectError(
                f"Cannot connect to the cnm daemon at {self.host}. Is cnmd running? ({err.strerror or err})") from None
        except PermissionError as err:
            self.close()
            raise ConnectError(
                f"permission denied while trying to connect to the cnm daemon socket at {self.host}: "
                f"{err.strerror or err}") from None
        except OSError as err:
            self.close()
            raise ConnectError(f"error during connect to {self.host}: {err}") from None
        except Exception as err:  # http.client.HTTPException and friends
            self.close()
            raise ConnectError(f"error reading response from {self.host}: {err!r}") from None
        resp = Response(raw.status, raw.reason, raw.headers, data)
        if resp.status >= 400:
            raise DaemonError(resp.status, _error_message(resp, method, url))
        return resp

    def get(self, path: str, query: Mapping[str, object] | None = None) -> Response:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: object = None, query: Mapping[str, object] | None = None) -> Response:
        return self.request("POST", path, query=query, body=body)

    def delete(self, path: str, query: Mapping[str, object] | None = None) -> Response:
        return self.request("DELETE", path, query=query)


def _error_message(resp: Response, method: str, url: str) -> str:
    """The message docker's client would show for an error answer."""
    ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
    if resp.body and ctype == "application/json":
        try:
            data = json.loads(resp.body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return data["message"]
    text = resp.text.strip()
    if text:
        return text
    return (f"request returned {_status_text(resp)} for API route and version {url}, check if the server "
            "supports the requested API version")


def _status_text(resp: Response) -> str:
    return f"{resp.status} {resp.reason}" if resp.reason else str(resp.status)


def path_quote(name: str) -> str:
    """Quote a user-supplied name for use as one path segment."""
    from urllib.parse import quote

    return quote(name, safe="")
