"""A misbehaving Docker plugin for tests: a proxy in front of a real one, with faults on chosen calls.

    python3 plugin_faults.py LISTEN.sock UPSTREAM.sock FAULTS.json

FAULTS.json is read at every request, so a test changes the plugin's
behaviour while it runs: ``{"NetworkDriver.Join": {"kind": ..., ...}}`` with
kind

* ``slow``: answer ``{}`` after ``seconds`` (the call never reaches upstream);
* ``error``: answer 200 ``{"Err": message}``;
* ``garbage``: answer 200 with a body that is not JSON;
* ``crash``: exit at once, the request unanswered (dies mid-call);
* ``hold``: note the call as held in the call log, then answer ``{}`` only
  once the file ``until`` exists (a test acts while the caller waits: it
  kills the daemon mid-connect without guessing how long a connect takes);
  ``answer`` replaces the ``{}``.

``"forward": true`` passes the call upstream first, so the fault comes after
the real plugin acted.  Calls without a fault are passed upstream unchanged.

Every call is appended to FAULTS.json.calls as it arrives, one line
``METHOD ENDPOINT-ID`` (``-`` when the call names none); a held call adds
``held METHOD ENDPOINT-ID`` once the upstream has answered it.
"""

from __future__ import annotations

import json
import os
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

from libnetwork import unixhttp


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main() -> None:
    listen, upstream, faults_path = sys.argv[1:4]
    lock = threading.Lock()

    def forward(path: str, raw: bytes) -> tuple[int, bytes]:
        response, body = unixhttp.request(upstream, "POST", path, body=raw,
                                          headers={"Content-Type": "application/json"}, host="plugin.moby.localhost")
        return response.status, body

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def address_string(self) -> str:
            return "daemon"

        def answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def note(self, line: str) -> None:
            with lock, open(faults_path + ".calls", "a") as handle:
                handle.write(line + "\n")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                eid = json.loads(raw).get("EndpointID") or "-"
            except (ValueError, AttributeError):
                eid = "-"
            method = self.path.lstrip("/")
            self.note(f"{method} {eid}")
            try:
                with open(faults_path) as handle:
                    fault = json.load(handle).get(self.path.lstrip("/"))
            except (OSError, ValueError):
                fault = None
            if fault is None:
                self.answer(*forward(self.path, raw))
                return
            if fault.get("forward"):
                forward(self.path, raw)
            kind = fault["kind"]
            if kind == "crash":
                os._exit(3)
            if kind == "slow":
                time.sleep(fault.get("seconds", 30))
                self.answer(200, b"{}")
            elif kind == "error":
                self.answer(200, json.dumps({"Err": fault["message"]}).encode())
            elif kind == "garbage":
                self.answer(200, b"<html>oops</html>")
            elif kind == "hold":
                self.note(f"held {method} {eid}")
                while not os.path.exists(fault["until"]):
                    time.sleep(0.02)
                self.answer(200, json.dumps(fault.get("answer", {})).encode())

    if os.path.exists(listen):
        os.unlink(listen)
    server = _Server(listen, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
