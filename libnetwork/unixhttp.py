"""HTTP/1.1 over a unix stream socket, on the standard library's http.client.

cnmd's API and Docker's plugins listen on unix sockets, and http.client only
dials TCP; this is the one connection class for that, used by the CLI, the
plugin client, the tests and the labs.  It imports nothing beyond the
standard library, but http.client itself costs about 15 ms: code on ``cnm``'s
startup path imports this module only when it sends its first request.
"""

from __future__ import annotations

import http.client
import socket

__all__ = ["UnixHTTPConnection", "request"]


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection to the socket at ``path``.

    ``host`` is what the Host header says (Docker's plugins expect
    ``plugin.moby.localhost``); ``timeout`` bounds each socket operation,
    None waits forever.
    """

    def __init__(self, path: str, timeout: float | None = None, host: str = "localhost") -> None:
        super().__init__(host, timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def request(path: str, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float | None = 60.0, host: str = "localhost") -> tuple[http.client.HTTPResponse, bytes]:
    """One request on a connection of its own: (the response, its whole body)."""
    conn = UnixHTTPConnection(path, timeout, host)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()
