"""An asyncio client of the Serf agent's RPC protocol (IPC version 1).

The protocol (hashicorp/serf ``cmd/serf/command/agent/ipc.go``, documented as
"RPC Protocol") is a TCP stream of msgpack objects.  Every request is a header
``{"Command", "Seq"}`` followed by a body for commands that take one; every
answer is a header ``{"Seq", "Error"}`` followed by a body only for the
commands that return data.  Nothing on the wire says whether a body follows a
header, so the client has to remember, per ``Seq``, what it asked for: that is
``Demux``, kept free of I/O so it is tested alone.

``stream`` and ``query`` keep their ``Seq`` alive after the first answer: the
agent pushes records (header + body) under it, events until ``stop`` for a
stream, acks and responses until a ``done`` record for a query.

One reader task per connection routes answers to the futures of the callers
and records to per-stream inboxes.  When the agent goes away, every caller
waiting for an answer gets ``SerfConnectionError`` and every stream ends with
it, after the records that arrived before.  ``close`` ends streams cleanly.

Ordering guarantees that come from the agent: the answer to ``stream`` is sent
before the stream is registered, and the answer to ``query`` before its
records, so a caller that has awaited ``stream()`` sees every later event.
The agent drops events for a client that reads too slowly (a 512-event
buffer per stream), and this client ends a stream with ``SerfStreamOverflow``
when its own inbox is full rather than blocking the answers of every other
caller; either way the consumer has lost events and must resynchronise.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import ipaddress
import logging
import re
import socket
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import msgpack

from libnetwork.errors import Unavailable

log = logging.getLogger("cnmd")

IPC_VERSION = 1

# The commands whose answer header is followed by a body, even when it carries an error.
_REPLY_HAS_BODY = frozenset({
    "join", "members", "members-filtered", "install-key", "use-key", "remove-key", "list-keys",
    "stats", "get-coordinate",
})
# The commands whose Seq keeps receiving records after a successful answer.
_RECORDS_FOLLOW = frozenset({"stream", "monitor", "query"})
# Errors the agent answers before it looks at the command, so with no body whatever the command.
_HEADER_ONLY_ERRORS = frozenset({
    "Unsupported command", "Handshake required", "Authentication required",
})

MEMBER_EVENTS = ("member-join", "member-leave", "member-failed", "member-update", "member-reap")
_EVENT_FILTERS = frozenset({*MEMBER_EVENTS, "user", "query", "*"})


# -- errors ---------------------------------------------------------------------------

class SerfError(Unavailable):
    """The Serf agent cannot be used for what was asked."""


class SerfConnectionError(SerfError):
    """The RPC connection could not be made, was lost, or was closed by this side."""


class SerfProtocolError(SerfConnectionError):
    """The agent sent something this client cannot place; the connection is dropped."""


class SerfCommandError(SerfError):
    """The agent answered a command with an error (the ``Error`` of its answer header)."""

    def __init__(self, command: str, remote_error: str):
        super().__init__(f"serf {command}: {remote_error}")
        self.command = command
        self.remote_error = remote_error


class SerfKeyError(SerfCommandError):
    """A keyring operation failed on some nodes; ``response`` says which and why."""

    def __init__(self, command: str, remote_error: str, response: KeyResponse):
        super().__init__(command, remote_error)
        self.response = response


class SerfStreamOverflow(SerfError):
    """The consumer of a stream fell behind by more than its inbox holds; events were lost."""


# -- what the agent tells ---------------------------------------------------------------

@dataclass(frozen=True)
class Member:
    """A member as the agent sees it.  ``status`` is Serf's: alive, leaving, left, failed (or none)."""

    name: str
    addr: str
    port: int
    tags: Mapping[str, str]
    status: str
    protocol_min: int
    protocol_max: int
    protocol_cur: int
    delegate_min: int
    delegate_max: int
    delegate_cur: int


@dataclass(frozen=True)
class MemberEvent:
    kind: str  # one of MEMBER_EVENTS
    members: tuple[Member, ...]


@dataclass(frozen=True)
class UserEvent:
    name: str
    payload: bytes
    ltime: int
    coalesce: bool


@dataclass(frozen=True)
class Query:
    """A query to answer with ``SerfClient.respond(id, ...)`` on the connection that received it,
    before the query's timeout."""

    id: int
    name: str
    payload: bytes
    ltime: int


Event = MemberEvent | UserEvent | Query


@dataclass(frozen=True)
class QueryAck:
    from_node: str


@dataclass(frozen=True)
class QueryResponse:
    from_node: str
    payload: bytes


QueryRecord = QueryAck | QueryResponse


@dataclass(frozen=True)
class KeyResponse:
    """The outcome of a keyring operation across the cluster.

    ``keys`` (list_keys only) maps each base64 key to the number of nodes that hold it;
    ``messages`` maps a node to its error.
    """

    num_nodes: int
    num_resp: int
    num_err: int
    messages: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, int] = field(default_factory=dict)


# -- wire format (pure) -------------------------------------------------------------------

def encode_request(command: str, seq: int, body: Mapping[str, Any] | None = None) -> bytes:
    """Header and body as one buffer, so one write never interleaves with another request."""
    data = msgpack.packb({"Command": command, "Seq": seq}, use_bin_type=True)
    if body is not None:
        data += msgpack.packb(dict(body), use_bin_type=True)
    return data


def _ip_from_wire(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    ip = ipaddress.ip_address(bytes(raw))
    # Go keeps IPv4 addresses in the 16-byte mapped form as often as not.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def member_from_wire(raw: Mapping[str, Any]) -> Member:
    return Member(
        name=raw["Name"], addr=_ip_from_wire(raw["Addr"]), port=int(raw["Port"]),
        tags=dict(raw.get("Tags") or {}), status=raw["Status"],
        protocol_min=raw.get("ProtocolMin", 0), protocol_max=raw.get("ProtocolMax", 0),
        protocol_cur=raw.get("ProtocolCur", 0), delegate_min=raw.get("DelegateMin", 0),
        delegate_max=raw.get("DelegateMax", 0), delegate_cur=raw.get("DelegateCur", 0),
    )


def event_from_wire(raw: Mapping[str, Any]) -> Event | None:
    """The typed event of a stream record; None for a kind this client does not know."""
    kind = raw.get("Event")
    if kind == "user":
        return UserEvent(name=raw["Name"], payload=bytes(raw.get("Payload") or b""),
                         ltime=int(raw["LTime"]), coalesce=bool(raw.get("Coalesce")))
    if kind == "query":
        return Query(id=int(raw["ID"]), name=raw["Name"], payload=bytes(raw.get("Payload") or b""),
                     ltime=int(raw["LTime"]))
    if kind in MEMBER_EVENTS:
        return MemberEvent(kind=kind, members=tuple(member_from_wire(m) for m in raw.get("Members") or ()))
    return None


def query_record_from_wire(raw: Mapping[str, Any]) -> QueryRecord | None:
    """An ack or a response; None for ``done``, for kinds this client does not know, and for
    records from no node.

    The agent closes a query's channels on a timer of its own and its IPC loop
    ends on another, armed a moment later; in between, the loop reads the
    closed channels and streams a burst of empty acks and responses
    (``ipc_query_response_stream.go``, still so upstream).  A real one always names its node.
    """
    kind, from_node = raw.get("Type"), raw.get("From") or ""
    if not from_node:
        return None
    if kind == "ack":
        return QueryAck(from_node=from_node)
    if kind == "response":
        return QueryResponse(from_node=from_node, payload=bytes(raw.get("Payload") or b""))
    return None


def key_response_from_wire(raw: Mapping[str, Any]) -> KeyResponse:
    return KeyResponse(num_nodes=int(raw.get("NumNodes", 0)), num_resp=int(raw.get("NumResp", 0)),
                       num_err=int(raw.get("NumErr", 0)), messages=dict(raw.get("Messages") or {}),
                       keys=dict(raw.get("Keys") or {}))


def event_filter(event_types: str | Iterable[str]) -> str:
    """Serf's stream filter: comma-separated kinds, ``user:NAME`` / ``query:NAME``, or ``*``.

    Checked here because the agent answers a bad filter with a bare "Invalid event filter".
    """
    kinds = [event_types] if isinstance(event_types, str) else list(event_types)
    parts = [p for kind in kinds for p in kind.split(",") if p]
    for part in parts:
        base = part.split(":", 1)[0] if part.startswith(("user:", "query:")) else part
        if base not in _EVENT_FILTERS:
            raise SerfError(f"unknown serf event type {part!r}")
    return ",".join(parts) or "*"


@dataclass(frozen=True)
class Frame:
    """One complete answer (``reply``) or pushed record (``record``) for ``seq``."""

    seq: int
    kind: str
    error: str
    body: Any


@dataclass
class _Route:
    command: str
    replied: bool = False
    retired: bool = False


class Demux:
    """Pairs the agent's headers with their bodies and says whom each frame is for.

    ``register`` each request before sending it; ``feed`` every decoded msgpack
    object in order.  A ``retire``d stream's records are still read (they may be
    in flight after ``stop`` is answered) but no longer returned.
    """

    def __init__(self) -> None:
        self._routes: dict[int, _Route] = {}
        self._body_for: tuple[int, str, str, bool] | None = None  # seq, kind, error, deliver

    def register(self, seq: int, command: str) -> None:
        if seq in self._routes:
            raise ValueError(f"seq {seq} is in use")
        self._routes[seq] = _Route(command)

    def retire(self, seq: int) -> None:
        route = self._routes.get(seq)
        if route is not None:
            route.retired = True

    def is_open(self, seq: int) -> bool:
        return seq in self._routes

    def feed(self, obj: Any) -> Frame | None:
        if self._body_for is not None:
            seq, kind, error, deliver = self._body_for
            self._body_for = None
            route = self._routes.get(seq)
            if (kind == "record" and route is not None and route.command == "query"
                    and isinstance(obj, dict) and obj.get("Type") == "done"):
                del self._routes[seq]
            return Frame(seq, kind, error, obj) if deliver else None
        if not isinstance(obj, dict) or "Seq" not in obj:
            raise SerfProtocolError(f"expected an answer header, got {obj!r:.80}")
        seq, error = int(obj["Seq"]), str(obj.get("Error") or "")
        route = self._routes.get(seq)
        if route is None:
            raise SerfProtocolError(f"answer for unknown seq {seq}")
        if route.replied:
            self._body_for = (seq, "record", error, not route.retired)
            return None
        route.replied = True
        if error or route.command not in _RECORDS_FOLLOW:
            del self._routes[seq]
        if route.command in _REPLY_HAS_BODY and error not in _HEADER_ONLY_ERRORS:
            self._body_for = (seq, "reply", error, True)
            return None
        return Frame(seq, "reply", error, None)


# -- streams --------------------------------------------------------------------------

T = TypeVar("T")


class _Inbox(Generic[T]):
    """A bounded queue the reader task never waits on, with an end that may carry an error."""

    def __init__(self, limit: int):
        self._items: collections.deque[T] = collections.deque()
        self._limit = limit
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def ended(self) -> bool:
        return self._ended

    def push(self, item: T) -> bool:
        """False when full; the item is not kept."""
        if self._ended:
            return True
        if len(self._items) >= self._limit:
            return False
        self._items.append(item)
        self._wake()
        return True

    def end(self, error: BaseException | None = None) -> None:
        if not self._ended:
            self._ended, self._error = True, error
            self._wake()

    async def pop(self) -> T:
        while not self._items:
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Subscription(Generic[T]):
    def __init__(self, client: SerfClient, seq: int, limit: int):
        self._client = client
        self.seq = seq
        self._inbox: _Inbox[T] = _Inbox(limit)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        return await self._inbox.pop()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop delivering; records already received are dropped."""
        if not self._inbox.ended:
            self._inbox.end()
            await self._client._unsubscribe(self)

    def _deliver(self, body: Any) -> bool:
        raise NotImplementedError

    def _end(self, error: BaseException | None = None) -> None:
        self._inbox.end(error)


class EventStream(_Subscription[Event]):
    """Events from ``SerfClient.stream``, in the order the agent saw them."""

    def _deliver(self, body: Any) -> bool:
        event = event_from_wire(body)
        if event is None:
            log.debug("serf stream: skipping a record of unknown kind %r", body.get("Event"))
            return True
        return self._inbox.push(event)


class QueryStream(_Subscription[QueryRecord]):
    """Acks and responses to one ``SerfClient.query``; ends when the query's timeout passes."""

    async def collect(self) -> list[QueryRecord]:
        """Every ack and response, once the query is over."""
        return [record async for record in self]

    def _deliver(self, body: Any) -> bool:
        record = query_record_from_wire(body)
        if record is None:
            if body.get("Type") == "done":
                self._inbox.end()
            return True
        return self._inbox.push(record)


# -- the client ---------------------------------------------------------------------------

@dataclass
class _Pending:
    command: str
    future: asyncio.Future[Any]


class SerfClient:
    """One RPC connection to a Serf agent.  Use from one event loop; calls may run concurrently."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._demux = Demux()
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        self._subscriptions: dict[int, _Subscription[Any]] = {}
        self._lost: SerfConnectionError | None = None
        self._closing = False
        self._left = False
        self._background: set[asyncio.Task[None]] = set()
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def connect(cls, host: str, port: int, auth_key: str | None = None, *,
                      netns: str | None = None, timeout: float = 5.0) -> SerfClient:
        """Connect, handshake and authenticate.  ``netns``: the path of a network namespace to
        connect from (the agent's RPC listens on that namespace's loopback)."""
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await _open(host, port, netns)
        except (OSError, TimeoutError) as err:
            raise SerfConnectionError(f"cannot reach the serf agent at {host}:{port}: {err}") from None
        client = cls(reader, writer)
        try:
            async with asyncio.timeout(timeout):
                await client._call("handshake", {"Version": IPC_VERSION})
                if auth_key:
                    await client._call("auth", {"AuthKey": auth_key})
        except TimeoutError:
            await client.close()
            raise SerfConnectionError(f"the serf agent at {host}:{port} did not answer the handshake") from None
        except BaseException:
            await client.close()
            raise
        return client

    @property
    def closed(self) -> bool:
        return self._closing or self._lost is not None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # members

    async def members(self) -> list[Member]:
        body = await self._call("members")
        return [member_from_wire(m) for m in body.get("Members") or ()]

    async def members_filtered(self, tags: Mapping[str, str] | None = None, status: str | None = None,
                               name: str | None = None) -> list[Member]:
        """Members whose tags, status and name match these regular expressions (anchored by the agent)."""
        patterns = [*(tags or {}).values(), status or "", name or ""]
        for pattern in patterns:
            # The agent drops the whole connection (every stream with it) on a pattern it cannot compile.
            try:
                re.compile(pattern)
            except re.error as err:
                raise SerfError(f"bad member filter {pattern!r}: {err}") from None
        body = await self._call("members-filtered",
                                {"Tags": dict(tags or {}), "Status": status or "", "Name": name or ""})
        return [member_from_wire(m) for m in body.get("Members") or ()]

    async def join(self, addresses: Sequence[str], replay: bool = False) -> int:
        """Join through ``addresses`` ("ip" or "ip:port"); the number of nodes contacted.
        ``replay`` asks for the user events of the past to be delivered again."""
        body = await self._call("join", {"Existing": list(addresses), "Replay": replay})
        return int(body.get("Num", 0))

    async def leave(self) -> None:
        """Leave the cluster gracefully; the agent then shuts down and the connection ends."""
        await self._call("leave")
        # The agent shuts down next: the end of the connection is what was asked for, not a failure.
        self._left = True

    async def force_leave(self, node: str, prune: bool = False) -> None:
        """Move a failed node to left (``prune``: forget it at once instead of after the tombstone timeout)."""
        await self._call("force-leave", {"Node": node, "Prune": prune})

    async def update_tags(self, tags: Mapping[str, str] | None = None, delete: Sequence[str] = ()) -> None:
        await self._call("tags", {"Tags": dict(tags or {}), "DeleteTags": list(delete)})

    # events and queries

    async def stream(self, event_types: str | Iterable[str] = "*", *, buffer: int = 4096) -> EventStream:
        """Subscribe; every event the agent sees after this returns is delivered.
        ``event_types``: member-join, member-leave, member-failed, member-update,
        member-reap, user, user:NAME, query, query:NAME or ``*``."""
        filter_ = event_filter(event_types)
        seq = self._next_seq()
        subscription = EventStream(self, seq, buffer)
        self._subscriptions[seq] = subscription
        try:
            await self._call("stream", {"Type": filter_}, seq=seq)
        except BaseException:
            self._abandon(seq)
            raise
        return subscription

    async def user_event(self, name: str, payload: bytes = b"", coalesce: bool = True) -> None:
        """Broadcast an event.  Its name and payload together must fit the agent's
        ``user_event_size_limit``.  ``coalesce``: receivers may merge events of the same name."""
        await self._call("event", {"Name": name, "Payload": bytes(payload), "Coalesce": coalesce})

    async def query(self, name: str, payload: bytes = b"", *, filter_nodes: Sequence[str] = (),
                    filter_tags: Mapping[str, str] | None = None, request_ack: bool = False,
                    relay_factor: int = 0, timeout: float | None = None,
                    buffer: int = 4096) -> QueryStream:
        """Ask the cluster; iterate the answer for acks and responses until ``timeout``
        (the agent's default, from the cluster size and gossip interval, when None)."""
        body: dict[str, Any] = {
            "FilterNodes": list(filter_nodes), "FilterTags": dict(filter_tags or {}),
            "RequestAck": request_ack, "RelayFactor": relay_factor,
            "Timeout": int(timeout * 1e9) if timeout else 0,  # a Go time.Duration
            "Name": name, "Payload": bytes(payload),
        }
        seq = self._next_seq()
        responses = QueryStream(self, seq, buffer)
        self._subscriptions[seq] = responses
        try:
            await self._call("query", body, seq=seq)
        except BaseException:
            self._abandon(seq)
            raise
        return responses

    async def respond(self, query_id: int, payload: bytes) -> None:
        await self._call("respond", {"ID": query_id, "Payload": bytes(payload)})

    # the keyring (keys are base64 text, as Serf writes them; raw bytes are encoded here)

    async def install_key(self, key: str | bytes) -> KeyResponse:
        return await self._key_call("install-key", key)

    async def use_key(self, key: str | bytes) -> KeyResponse:
        return await self._key_call("use-key", key)

    async def remove_key(self, key: str | bytes) -> KeyResponse:
        return await self._key_call("remove-key", key)

    async def list_keys(self) -> KeyResponse:
        return await self._key_call("list-keys", None)

    async def stats(self) -> dict[str, dict[str, str]]:
        body = await self._call("stats")
        return {section: dict(values) for section, values in (body or {}).items()}

    # lifetime

    async def close(self) -> None:
        """Stop the streams, end the connection; iterators end without error."""
        if self._closing:
            return
        if self._lost is None:
            for seq in [s for s, sub in self._subscriptions.items() if isinstance(sub, EventStream)]:
                try:
                    async with asyncio.timeout(1.0):
                        await self._call("stop", {"Stop": seq})
                except (SerfError, TimeoutError):
                    break
        self._closing = True
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
        self._reader_task.cancel()
        try:
            await self._reader_task
        except asyncio.CancelledError:
            pass

    # internals

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def _key_call(self, command: str, key: str | bytes | None) -> KeyResponse:
        if isinstance(key, bytes):
            key = base64.b64encode(key).decode()
        body = None if key is None else {"Key": key}
        return key_response_from_wire(await self._call(command, body))

    async def _call(self, command: str, body: Mapping[str, Any] | None = None, *, seq: int | None = None) -> Any:
        if self._closing:
            raise SerfConnectionError("the serf client is closed")
        if self._lost is not None:
            raise self._lost
        seq = self._next_seq() if seq is None else seq
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # Registered before sending: the answer can come before this task runs again.
        self._demux.register(seq, command)
        self._pending[seq] = _Pending(command, future)
        try:
            self._writer.write(encode_request(command, seq, body))
            await self._writer.drain()
        except OSError as err:
            self._connection_lost(SerfConnectionError(f"serf agent connection lost: {err}"))
        # The entry stays if the caller is cancelled: the answer still has to be read off the wire.
        return await future

    async def _unsubscribe(self, subscription: _Subscription[Any]) -> None:
        self._subscriptions.pop(subscription.seq, None)
        self._demux.retire(subscription.seq)
        if isinstance(subscription, EventStream) and not self.closed and self._demux.is_open(subscription.seq):
            try:
                await self._call("stop", {"Stop": subscription.seq})
            except SerfError:
                pass

    async def _read_loop(self) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        error: SerfConnectionError
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    error = SerfConnectionError("the serf agent closed the connection")
                    break
                unpacker.feed(data)
                for obj in unpacker:
                    frame = self._demux.feed(obj)
                    if frame is not None:
                        self._dispatch(frame)
        except SerfProtocolError as err:
            error = err
        except OSError as err:
            error = SerfConnectionError(f"serf agent connection lost: {err}")
        except asyncio.CancelledError:
            error = SerfConnectionError("the serf client is closed")
            raise
        except Exception as err:  # a bug here must not leave callers waiting forever
            log.exception("serf client: reader failed")
            error = SerfProtocolError(f"cannot decode the serf agent's answer: {err}")
        finally:
            self._connection_lost(error)
            if not self._writer.is_closing():
                self._writer.close()

    def _dispatch(self, frame: Frame) -> None:
        if frame.kind == "reply":
            pending = self._pending.pop(frame.seq)
            if not pending.future.done():
                if frame.error:
                    pending.future.set_exception(_command_error(pending.command, frame.error, frame.body))
                else:
                    pending.future.set_result(frame.body if frame.body is not None else {})
            if frame.error:
                subscription = self._subscriptions.pop(frame.seq, None)
                if subscription is not None:
                    subscription._end(SerfCommandError(pending.command, frame.error))
            return
        subscription = self._subscriptions.get(frame.seq)
        if subscription is None:
            return
        if not isinstance(frame.body, dict):
            raise SerfProtocolError(f"record for seq {frame.seq} is not a map")
        if not subscription._deliver(frame.body):
            log.warning("serf stream %d: consumer fell behind, ending the stream", frame.seq)
            self._subscriptions.pop(frame.seq, None)
            subscription._end(SerfStreamOverflow("serf events were lost: the consumer fell behind"))
            self._demux.retire(frame.seq)
            if isinstance(subscription, EventStream):
                self._in_background(self._stop_quietly(frame.seq))
        elif isinstance(subscription, QueryStream) and not self._demux.is_open(frame.seq):
            self._subscriptions.pop(frame.seq, None)

    def _abandon(self, seq: int) -> None:
        """Forget a subscription whose answer never reached its caller (an error, or a cancelled wait)."""
        subscription = self._subscriptions.pop(seq, None)
        self._demux.retire(seq)
        if isinstance(subscription, EventStream) and not self.closed and self._demux.is_open(seq):
            self._in_background(self._stop_quietly(seq))

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        # The loop keeps only weak references to tasks.
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stop_quietly(self, seq: int) -> None:
        try:
            await self._call("stop", {"Stop": seq})
        except SerfError:
            pass

    def _connection_lost(self, error: SerfConnectionError) -> None:
        if self._lost is not None:
            return
        self._lost = error
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        self._pending.clear()
        for subscription in self._subscriptions.values():
            subscription._end(None if self._closing or self._left else error)
        self._subscriptions.clear()


def _command_error(command: str, error: str, body: Any) -> SerfCommandError:
    if command in {"install-key", "use-key", "remove-key", "list-keys"} and isinstance(body, dict):
        return SerfKeyError(command, error, key_response_from_wire(body))
    return SerfCommandError(command, error)


async def _open(host: str, port: int, netns: str | None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if netns is None:
        return await asyncio.open_connection(host, port)
    from libnetwork import nshelper

    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    # The socket is made in the namespace by the helper process; no thread of ours changes namespace.
    (sock,) = await asyncio.to_thread(nshelper.open_sockets, netns, [(family, socket.SOCK_STREAM, 0)])
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise

