"""The cluster port (2377): JSON over HTTPS between nodes, mutual TLS once a node holds a certificate.

It carries what swarmkit's CA and dispatcher services carry: the root CA for
a joiner to pin (``GET /ca``, no secret crosses it), the join itself (token
and certificate request, on a connection verified against the pinned root,
see ``tls.py``), and, with a node certificate, the calls of members:
promote my etcd learner, I am leaving, my session.  The role a caller has is
read from its certificate, never from what it says.

The transport knows nothing of what the calls do: ``PortHandler`` (the
swarm service) answers them.  Errors keep their kind across the wire: the
server sends the ``CnmError``'s status and message, the client raises the
class of that status, so a joiner's API answers what the manager said.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from ..errors import (
    CnmError,
    Conflict,
    Forbidden,
    Internal,
    InvalidParameter,
    NotFound,
    Unavailable,
    UntrustedCertificate,
)
from .ca import NodeIdentity, RootCA
from .tls import CA_SERVER_NAME, MANAGER_SERVER_NAME, bootstrap_client_context, join_client_context

log = logging.getLogger("cnmd")

JOIN_TIMEOUT = 20.0  # dockerd's swarmConnectTimeout
CALL_TIMEOUT = 10.0
TIMEOUT_TEXT = ("Timeout was reached before node joined. The attempt to join the swarm will continue in the "
                "background. Use the \"docker info\" command to see the current swarm status of your node.")

_BY_STATUS: dict[int, type[CnmError]] = {400: InvalidParameter, 403: Forbidden, 404: NotFound, 409: Conflict,
                                         503: Unavailable}


class PortHandler(Protocol):
    """What the swarm service answers on the cluster port."""

    def root_ca(self) -> RootCA: ...

    async def join_request(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def member_call(self, caller: NodeIdentity, call: str, body: dict[str, Any]) -> dict[str, Any]: ...


def _error_answer(err: CnmError) -> web.Response:
    return web.json_response({"message": err.message}, status=err.status)


class ClusterPortServer:
    def __init__(self, handler: PortHandler, context: ssl.SSLContext):
        self.handler = handler
        self.context = context
        self._runner: web.AppRunner | None = None
        self._address = ("0.0.0.0", 2377)

    async def start(self, host: str, port: int) -> None:
        self._address = (host, port)
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/ca", self._ca)
        app.router.add_post("/join", self._join)
        app.router.add_post("/member/{call}", self._member)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host or "0.0.0.0", port, ssl_context=self.context, reuse_address=True)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            reason = {errno.EADDRNOTAVAIL: "bind: cannot assign requested address",
                      errno.EADDRINUSE: "bind: address already in use"}.get(err.errno or 0, str(err.strerror))
            raise Internal(f"manager stopped: failed to listen on remote API address: listen tcp "
                           f"{host}:{port}: {reason}") from None
        self._runner = runner
        log.info("cluster port listening", extra={"address": f"{host}:{port}"})

    async def restart(self) -> None:
        """Serve with the current context (a new node certificate after a change of role)."""
        await self.stop()
        await self.start(*self._address)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _ca(self, request: web.Request) -> web.Response:
        return web.json_response({"ca": self.handler.root_ca().cert_pem.decode()})

    async def _join(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(await self.handler.join_request(await request.json()))
        except CnmError as err:
            return _error_answer(err)

    async def _member(self, request: web.Request) -> web.Response:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            if not der:
                raise UntrustedCertificate("this call needs a node certificate")
            caller = self.handler.root_ca().identify(der)
            answer = await self.handler.member_call(caller, request.match_info["call"], await request.json())
            return web.json_response(answer)
        except CnmError as err:
            return _error_answer(err)


def _connection_error(addr: str, err: BaseException) -> CnmError:
    if isinstance(err, asyncio.TimeoutError):
        return Unavailable(TIMEOUT_TEXT)
    os_error = getattr(err, "os_error", None)
    reason = "connection refused" if isinstance(os_error, ConnectionRefusedError) else (
        "no route to host" if getattr(os_error, "errno", None) == errno.EHOSTUNREACH else str(os_error or err))
    return Unavailable(f"rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while "
                       f"dialing dial tcp {addr}: connect: {reason}\"")


async def _call(addr: str, method: str, path: str, context: ssl.SSLContext, server_hostname: str | None,
                body: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
    url = f"https://{addr}{path}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.request(method, url, json=body, ssl=context,
                                       server_hostname=server_hostname) as answer:
                data = await answer.json(content_type=None)
                if answer.status >= 400:
                    raise _BY_STATUS.get(answer.status, Internal)(str(data.get("message", data)))
                return dict(data)
    except aiohttp.ClientConnectorCertificateError as err:
        raise UntrustedCertificate(f"x509: {err.certificate_error}") from None
    except (TimeoutError, aiohttp.ClientConnectionError) as err:
        raise _connection_error(addr, err) from None


async def fetch_root_ca(addr: str, timeout: float = JOIN_TIMEOUT) -> bytes:
    """Step 1 of a join: the root bundle, over a connection that verifies nothing (the token's digest does)."""
    answer = await _call(addr, "GET", "/ca", bootstrap_client_context(), None, None, timeout)
    return str(answer["ca"]).encode()


async def request_join(addr: str, ca_pem: bytes, body: dict[str, Any], timeout: float = JOIN_TIMEOUT) -> dict[str, Any]:
    """Step 3: the token goes only to a server the pinned root names ``swarm-ca``."""
    return await _call(addr, "POST", "/join", join_client_context(ca_pem), CA_SERVER_NAME, body, timeout)


async def member_call(addr: str, context: ssl.SSLContext, call: str, body: dict[str, Any] | None = None,
                      timeout: float = CALL_TIMEOUT, server_name: str = MANAGER_SERVER_NAME) -> dict[str, Any]:
    """A call of a member with its certificate: to any manager, or to the node ``server_name`` names."""
    return await _call(addr, "POST", f"/member/{call}", context, server_name, body or {}, timeout)


async def first_answer(addrs: list[str], call: Callable[[str], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Ask managers in turn until one answers; the last refusal when none does."""
    last: CnmError = Unavailable("no manager is known")
    for addr in addrs:
        try:
            return await call(addr)
        except Unavailable as err:
            last = err
    raise last
