"""A scriptable plugin on a unix socket, in a thread: what the daemon's plugin client talks to in unit tests."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

# A route answers (status, body bytes); a dict or list is sent as JSON with 200.
Route = Callable[[dict[str, Any] | None], Any]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None


@dataclass
class FakePlugin:
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def calls(self) -> list[str]:
        return [s.path.lstrip("/") for s in self.seen]

    def last(self, method: str) -> Seen:
        return [s for s in self.seen if s.path == "/" + method][-1]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False


def serve(path: str, plugin: FakePlugin) -> _Server:
    class Handler(BaseHTTPRequestHandler):
        def address_string(self) -> str:
            return "unix"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            plugin.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, raw))
            route = plugin.routes.get(self.path.lstrip("/"))
            if route is None:
                status, body = 404, b'{"Err": "404 page not found"}'
            else:
                answer = route(json.loads(raw) if raw else None)
                if isinstance(answer, tuple):
                    status, body = answer
                else:
                    status, body = 200, json.dumps(answer).encode()
            if status is None:
                # The route asked to drop the connection without an answer.
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _Server(path, Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server
