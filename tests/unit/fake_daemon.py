"""A fake cnmd for CLI tests: HTTP/1.1 on a unix socket, in a thread.

Routes map ``(method, path without query)`` to ``(status, body)``: a dict or
list body is sent as JSON, bytes as they are, None as an empty 200-style
answer; a list of such pairs answers successive requests.  Every request is
recorded (method, path with query, Content-Type, decoded JSON body).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socketserver
import sys
import tempfile
import threading


class FakeDaemon:
    """A unix-socket HTTP server that records requests and answers from a table."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cnmcli", dir="/tmp")
        self.path = os.path.join(self.dir, "d.sock")
        self.requests = []
        self.routes = {}
        daemon = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                daemon.requests.append({
                    "method": self.command, "path": self.path,
                    "content_type": self.headers.get("Content-Type"),
                    "body": json.loads(raw) if raw else None})
                bare = self.path.split("?")[0]
                answer = daemon.routes.get((self.command, bare), (404, {"message": "page not found"}))
                if isinstance(answer, list):
                    # A sequence of answers, one per request; the last one repeats.
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                status, obj = answer
                data = b"" if obj is None else (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = handle_any

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A client gone before its answer was written is what the test checks, not an error of the fake.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.server = Server(self.path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)
