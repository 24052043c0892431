"""One plugin's HTTP client: ``POST /<Interface>.<Method>`` with a JSON body, JSON back.

Wire rules, from moby ``pkg/plugins/client.go`` and ``transport/``:

* every call is a POST to ``/`` + method name, with
  ``Accept: application/vnd.docker.plugins.v1.2+json``; calls without
  arguments send an empty body;
* over a unix socket the Host header is ``plugin.moby.localhost``;
* a reply other than 200 is an error, whose text is the ``Err`` field of a
  JSON body, else the body itself;
* a 200 reply must be a JSON object (an empty body is an error, as in Docker).

Waiting, where this client differs from Docker on purpose:

* A connection that cannot be made (no socket yet, connection refused) is
  retried with Docker's backoff (1 s, 2 s, 4 s ... capped at 30 s) until
  ``retry_window`` would be exceeded: a plugin that is starting or
  restarting gets that long to come (back) up.
* Once a request was sent it is never sent again (Docker retries it): the
  plugin may have acted on it, and the calls are not idempotent for it.
* Each socket operation waits at most ``timeout`` seconds (Docker waits
  forever): the daemon's kernel worker must not hang behind one plugin.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

from .. import metrics
from ..errors import PluginError, PluginUnavailable
from ..unixhttp import UnixHTTPConnection
from .discovery import BadSpec, PluginSpec, TLSConfig

log = logging.getLogger(__name__)

MIMETYPE = "application/vnd.docker.plugins.v1.2+json"
UNIX_HOST = "plugin.moby.localhost"
MAX_BACKOFF = 30.0

T = TypeVar("T")


class BadReply(ValueError):
    """A reply that does not fit the protocol; the reply parsers raise it."""


def backoff(retries: int) -> float:
    """Docker's plugin backoff: 1 s doubled per retry, at most 30 s."""
    return min(2.0 ** retries, MAX_BACKOFF)


def tls_context(tls: TLSConfig | None) -> ssl.SSLContext:
    tls = tls or TLSConfig()
    try:
        context = ssl.create_default_context(cafile=tls.ca_file or None)
        if tls.cert_file and tls.key_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except OSError as err:
        # A missing or unreadable certificate is the spec's fault; retrying cannot help.
        raise BadSpec(f"TLSConfig: {err}") from None
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def open_connection(spec: PluginSpec, timeout: float) -> http.client.HTTPConnection:
    """A connected HTTP connection to the plugin (raises OSError when it cannot connect)."""
    url = urlsplit(spec.addr)
    if url.scheme == "unix":
        conn: http.client.HTTPConnection = UnixHTTPConnection(url.path, timeout, host=UNIX_HOST)
    elif url.scheme in ("tcp", "http"):
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    elif url.scheme == "https":
        conn = http.client.HTTPSConnection(url.hostname or "", url.port, timeout=timeout,
                                           context=tls_context(spec.tls))
    else:
        raise BadSpec(f"plugin spec {spec.source}: unsupported protocol {url.scheme!r}")
    conn.connect()
    return conn


def error_text(status: int, body: bytes) -> str:
    """Docker's reading of a non-200 reply: its ``Err`` field, else the body as text."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("Err"), str) and data["Err"]:
        return data["Err"]
    text = body.decode(errors="replace").strip()
    return text or f"HTTP {status}"


def decode_reply(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise BadReply("empty reply (a plugin answers at least {})")
    try:
        data = json.loads(body)
    except ValueError as err:
        raise BadReply(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadReply(f"expected a JSON object, got {type(data).__name__}")
    return data


class PluginClient:
    """Calls to one named plugin.  Not thread-safe: the kernel worker is its one user."""

    def __init__(self, name: str, resolve: Callable[[], PluginSpec | None], *, timeout: float = 30.0,
                 retry_window: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        # Resolved again on every call: a plugin that restarted may have
        # rewritten its spec (a new TCP port), and its socket file may be new.
        self._resolve = resolve
        self.timeout = timeout
        self.retry_window = retry_window
        self._sleep = sleep
        self._clock = clock

    def _prefix(self, method: str) -> str:
        return f'remote plugin "{self.name}": {method}'

    @overload
    def call(self, method: str, body: Any, parse: Callable[[dict], T], error_field: str | None = None) -> T: ...

    @overload
    def call(self, method: str, body: Any = None, parse: None = None, error_field: str | None = None) -> dict: ...

    def call(self, method: str, body: Any = None, parse: Callable[[dict], T] | None = None,
             error_field: str | None = None) -> T | dict:
        """POST ``/method``; the reply parsed by ``parse`` (which raises BadReply on a bad one).

        ``error_field`` names the field of a 200 reply that carries an error
        (``Err`` for network drivers, ``Error`` for IPAM drivers).
        """
        try:
            return self._call(method, body, parse, error_field)
        except PluginUnavailable:
            metrics.PLUGIN_CALL_ERRORS.labels(self.name, method, "unavailable").inc()
            raise
        except PluginError as err:
            # A 404 is how a plugin says it lacks an optional method, which callers may expect.
            kind = "not_implemented" if err.plugin_status == 404 else "error"
            metrics.PLUGIN_CALL_ERRORS.labels(self.name, method, kind).inc()
            raise

    def _call(self, method: str, body: Any, parse: Callable[[dict], T] | None,
              error_field: str | None) -> T | dict:
        payload = b"" if body is None else json.dumps(body).encode() + b"\n"
        status, raw = self._exchange(method, payload)
        if status != 200:
            raise PluginError(f"{self._prefix(method)}: {error_text(status, raw)}", plugin_status=status)
        try:
            reply = decode_reply(raw)
            if error_field:
                err = reply.get(error_field)
                if err not in (None, "") and not isinstance(err, str):
                    raise BadReply(f"{error_field}: expected a string")
                if err:
                    raise PluginError(f"{self._prefix(method)}: {err}", plugin_status=status)
            return parse(reply) if parse else reply
        except BadReply as err:
            raise PluginError(f"{self._prefix(method)}: invalid reply: {err}", plugin_status=status) from None

    def _exchange(self, method: str, payload: bytes) -> tuple[int, bytes]:
        conn = self._connect(method)
        try:
            conn.request("POST", "/" + method, body=payload,
                         headers={"Accept": MIMETYPE, "Content-Type": MIMETYPE})
            response = conn.getresponse()
            return response.status, response.read()
        except TimeoutError:
            raise PluginUnavailable(f"{self._prefix(method)}: no answer within {self.timeout:g}s") from None
        except (OSError, http.client.RemoteDisconnected, http.client.IncompleteRead) as err:
            # The plugin went away after taking the request (it died mid-call).
            raise PluginUnavailable(f"{self._prefix(method)}: connection lost: {err}") from None
        except http.client.HTTPException as err:
            raise PluginError(f"{self._prefix(method)}: not an HTTP reply: {err!r}") from None
        finally:
            conn.close()

    def _connect(self, method: str) -> http.client.HTTPConnection:
        start = self._clock()
        retries = 0
        while True:
            try:
                spec = self._resolve()
            except BadSpec as err:
                raise PluginError(f"{self._prefix(method)}: {err}") from None
            try:
                if spec is None:
                    raise FileNotFoundError("plugin not found in the plugin directories")
                return open_connection(spec, self.timeout)
            except BadSpec as err:
                raise PluginError(f"{self._prefix(method)}: {err}") from None
            except ssl.SSLError as err:
                raise PluginUnavailable(f"{self._prefix(method)}: TLS: {err}") from None
            except OSError as err:
                delay = backoff(retries)
                if self._clock() - start + delay >= self.retry_window:
                    where = spec.addr if spec else "its address"
                    raise PluginUnavailable(f"{self._prefix(method)}: cannot connect to {where}: "
                                            f"{err.strerror or err}") from None
                log.warning("plugin not reachable, retrying", extra={
                    "plugin": self.name, "method": method, "error": str(err), "retry_in": delay})
                retries += 1
                self._sleep(delay)
