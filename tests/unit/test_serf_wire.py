"""The Serf RPC client without an agent: its framing, its demultiplexing, and a scripted fake agent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import pytest

from libnetwork.cluster.serf import (
    Demux,
    Frame,
    MemberEvent,
    Query,
    QueryAck,
    QueryResponse,
    SerfClient,
    SerfCommandError,
    SerfConnectionError,
    SerfError,
    SerfKeyError,
    SerfProtocolError,
    SerfStreamOverflow,
    UserEvent,
    encode_request,
    event_filter,
    event_from_wire,
    member_from_wire,
)
from libnetwork.cluster.serfagent import SerfAgentConfig, render_config


def unpack_all(data: bytes) -> list[Any]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    return list(unpacker)


def wire_member(name: str = "n1", addr: bytes = bytes([10, 0, 0, 1])) -> dict[str, Any]:
    return {"Name": name, "Addr": addr, "Port": 7946, "Tags": {"role": "worker"}, "Status": "alive",
            "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
            "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4}


# -- encoding -----------------------------------------------------------------------

def test_request_is_a_header_then_a_body_with_serfs_field_names():
    header, body = unpack_all(encode_request("event", 7, {"Name": "deploy", "Payload": b"\x00\xff", "Coalesce": True}))
    assert header == {"Command": "event", "Seq": 7}
    assert body == {"Name": "deploy", "Payload": b"\x00\xff", "Coalesce": True}


def test_payload_travels_as_msgpack_bin_and_names_as_str():
    # Go's codec with RawToString wants bin for []byte and str for string.
    raw = encode_request("event", 1, {"Name": "n", "Payload": b"p"})
    assert b"\xc4\x01p" in raw  # bin8 of length 1
    assert b"\xa1n" in raw  # fixstr "n"


def test_request_without_body_is_only_the_header():
    assert unpack_all(encode_request("members", 3)) == [{"Command": "members", "Seq": 3}]


# -- decoding -------------------------------------------------------------------------

def test_member_addresses_in_both_go_forms():
    assert member_from_wire(wire_member()).addr == "10.0.0.1"
    mapped = bytes(10) + b"\xff\xff" + bytes([192, 168, 1, 9])
    assert member_from_wire(wire_member(addr=mapped)).addr == "192.168.1.9"
    v6 = bytes.fromhex("fd000000000000000000000000000001")
    assert member_from_wire(wire_member(addr=v6)).addr == "fd00::1"


def test_member_fields():
    member = member_from_wire(wire_member())
    assert (member.name, member.port, dict(member.tags), member.status) == ("n1", 7946, {"role": "worker"}, "alive")
    assert (member.protocol_min, member.protocol_max, member.protocol_cur) == (1, 5, 2)
    assert (member.delegate_min, member.delegate_max, member.delegate_cur) == (2, 5, 4)


def test_stream_records_become_typed_events():
    user = event_from_wire({"Event": "user", "LTime": 12, "Name": "ep", "Payload": b"x", "Coalesce": False})
    assert user == UserEvent(name="ep", payload=b"x", ltime=12, coalesce=False)
    query = event_from_wire({"Event": "query", "ID": 3, "LTime": 4, "Name": "q", "Payload": b"y"})
    assert query == Query(id=3, name="q", payload=b"y", ltime=4)
    failed = event_from_wire({"Event": "member-failed", "Members": [wire_member()]})
    assert isinstance(failed, MemberEvent) and failed.kind == "member-failed"
    assert [m.name for m in failed.members] == ["n1"]
    assert event_from_wire({"Event": "something-new"}) is None


def test_event_filter():
    assert event_filter("*") == "*"
    assert event_filter(["user:ep", "member-failed,member-join"]) == "user:ep,member-failed,member-join"
    assert event_filter([]) == "*"
    with pytest.raises(SerfError):
        event_filter("member-died")


def test_agent_config_uses_serfs_keys_and_a_keyring_not_encrypt_key():
    config = SerfAgentConfig(node_name="n1", data_dir="/d", bind_addr="10.0.0.1", rpc_auth="s", encrypt_key=bytes(32),
                             advertise_addr="192.0.2.1", tags={"role": "worker"})
    document = render_config(config, "/d/keyring.json", "/d/snapshot")
    assert document["bind"] == "10.0.0.1:7946" and document["advertise"] == "192.0.2.1:7946"
    assert document["rpc_addr"] == "127.0.0.1:7373" and document["rpc_auth"] == "s"
    assert document["keyring_file"] == "/d/keyring.json" and "encrypt_key" not in document
    assert document["user_event_size_limit"] == 1280 and document["profile"] == "lan"
    v6 = SerfAgentConfig(node_name="n1", data_dir="/d", bind_addr="fd00::1", rpc_auth="s")
    assert render_config(v6, None, "/d/s")["bind"] == "[fd00::1]:7946"


@pytest.mark.parametrize("size", [16, 24, 32])
def test_agent_keys_are_aes_sizes(size):
    SerfAgentConfig(node_name="n", data_dir="/d", bind_addr="10.0.0.1", rpc_auth="s", encrypt_key=bytes(size))


def test_agent_refuses_other_key_sizes_and_no_rpc_secret():
    with pytest.raises(ValueError):
        SerfAgentConfig(node_name="n", data_dir="/d", bind_addr="10.0.0.1", rpc_auth="s", encrypt_key=bytes(20))
    with pytest.raises(ValueError):
        SerfAgentConfig(node_name="n", data_dir="/d", bind_addr="10.0.0.1", rpc_auth="")


# -- demultiplexing -------------------------------------------------------------------------

def test_reply_without_body():
    demux = Demux()
    demux.register(1, "event")
    assert demux.feed({"Seq": 1, "Error": ""}) == Frame(1, "reply", "", None)
    assert not demux.is_open(1)


def test_reply_with_body_waits_for_the_body():
    demux = Demux()
    demux.register(2, "members")
    assert demux.feed({"Seq": 2, "Error": ""}) is None
    assert demux.feed({"Members": []}) == Frame(2, "reply", "", {"Members": []})


def test_key_errors_still_carry_a_body():
    demux = Demux()
    demux.register(2, "use-key")
    assert demux.feed({"Seq": 2, "Error": "1/3 nodes reported failure"}) is None
    frame = demux.feed({"NumNodes": 3, "NumErr": 1})
    assert frame is not None and frame.error and frame.body == {"NumNodes": 3, "NumErr": 1}


def test_errors_answered_before_the_command_have_no_body():
    demux = Demux()
    demux.register(2, "members")
    assert demux.feed({"Seq": 2, "Error": "Authentication required"}) == \
        Frame(2, "reply", "Authentication required", None)
    demux.register(3, "members")
    assert demux.feed({"Seq": 3, "Error": ""}) is None


def test_stream_records_interleave_with_other_replies():
    demux = Demux()
    demux.register(1, "stream")
    assert demux.feed({"Seq": 1, "Error": ""}) == Frame(1, "reply", "", None)
    demux.register(2, "members")
    frames = [demux.feed(obj) for obj in (
        {"Seq": 1, "Error": ""}, {"Event": "user", "Name": "a"},
        {"Seq": 2, "Error": ""}, {"Members": []},
        {"Seq": 1, "Error": ""}, {"Event": "user", "Name": "b"},
    )]
    assert [f for f in frames if f is not None] == [
        Frame(1, "record", "", {"Event": "user", "Name": "a"}),
        Frame(2, "reply", "", {"Members": []}),
        Frame(1, "record", "", {"Event": "user", "Name": "b"}),
    ]


def test_a_retired_stream_is_read_but_not_delivered():
    demux = Demux()
    demux.register(1, "stream")
    demux.feed({"Seq": 1, "Error": ""})
    demux.retire(1)
    assert demux.feed({"Seq": 1, "Error": ""}) is None
    assert demux.feed({"Event": "user"}) is None
    demux.register(2, "event")
    assert demux.feed({"Seq": 2, "Error": ""}) == Frame(2, "reply", "", None)


def test_a_failed_stream_expects_no_records():
    demux = Demux()
    demux.register(1, "stream")
    assert demux.feed({"Seq": 1, "Error": "Invalid event filter"}) == Frame(1, "reply", "Invalid event filter", None)
    assert not demux.is_open(1)


def test_query_ends_with_done():
    demux = Demux()
    demux.register(5, "query")
    demux.feed({"Seq": 5, "Error": ""})
    demux.feed({"Seq": 5, "Error": ""})
    assert demux.feed({"Type": "ack", "From": "n2"}) == Frame(5, "record", "", {"Type": "ack", "From": "n2"})
    demux.feed({"Seq": 5, "Error": ""})
    assert demux.feed({"Type": "done"}) == Frame(5, "record", "", {"Type": "done"})
    assert not demux.is_open(5)
    with pytest.raises(SerfProtocolError):
        demux.feed({"Seq": 5, "Error": ""})


def test_unknown_seq_and_garbage_are_protocol_errors():
    with pytest.raises(SerfProtocolError):
        Demux().feed({"Seq": 9, "Error": ""})
    with pytest.raises(SerfProtocolError):
        Demux().feed([1, 2])


# -- a scripted agent -------------------------------------------------------------------------

_REQUEST_HAS_BODY = {"handshake", "auth", "event", "force-leave", "join", "members-filtered", "stream", "stop",
                     "install-key", "use-key", "remove-key", "query", "respond", "tags", "monitor"}

Handler = Callable[["FakeAgent", str, int, Any], Awaitable[None]]


class FakeAgent:
    """Answers handshake and auth itself, everything else through ``handler``."""

    def __init__(self, handler: Handler, auth: str = "k"):
        self.handler = handler
        self.auth = auth
        self.requests: list[tuple[str, Any]] = []
        self.writer: asyncio.StreamWriter | None = None
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        sock: socket.socket = self.server.sockets[0]
        return sock.getsockname()[1]

    def send(self, seq: int, error: str = "", body: Any = None) -> None:
        assert self.writer is not None
        data = msgpack.packb({"Seq": seq, "Error": error}, use_bin_type=True)
        if body is not None:
            data += msgpack.packb(body, use_bin_type=True)
        self.writer.write(data)

    def die(self) -> None:
        assert self.writer is not None
        self.writer.transport.abort()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        if self.writer is not None:
            self.writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        unpacker = msgpack.Unpacker(raw=False)
        header: dict[str, Any] | None = None
        while data := await reader.read(65536):
            unpacker.feed(data)
            for obj in unpacker:
                if header is None and obj["Command"] in _REQUEST_HAS_BODY:
                    header = obj
                    continue
                command, seq, body = (header or obj)["Command"], (header or obj)["Seq"], obj if header else None
                header = None
                self.requests.append((command, body))
                if command == "handshake":
                    self.send(seq, "" if body == {"Version": 1} else "Unsupported IPC version")
                elif command == "auth":
                    assert body is not None
                    self.send(seq, "" if body["AuthKey"] == self.auth else "Invalid authentication token")
                elif command == "stop":
                    self.send(seq)
                else:
                    await self.handler(self, command, seq, body)


def run_with_agent(handler: Handler, scenario: Callable[[SerfClient, FakeAgent], Awaitable[None]]) -> FakeAgent:
    agent = FakeAgent(handler)

    async def main() -> None:
        port = await agent.start()
        client = await SerfClient.connect("127.0.0.1", port, "k")
        try:
            await asyncio.wait_for(scenario(client, agent), 5)
        finally:
            await client.close()
            await agent.stop()

    asyncio.run(main())
    return agent


async def answer_plainly(agent: FakeAgent, command: str, seq: int, body: Any) -> None:
    if command == "members":
        agent.send(seq, body={"Members": [wire_member()]})
    elif command == "stream":
        agent.send(seq)
    elif command == "list-keys":
        agent.send(seq, "1/2 nodes reported failure",
                   {"NumNodes": 2, "NumResp": 2, "NumErr": 1, "Messages": {"n2": "boom"}, "Keys": {"a2V5": 1}})
    else:
        agent.send(seq)


def test_handshake_and_auth_go_first():
    async def scenario(client: SerfClient, agent: FakeAgent) -> None:
        assert [m.name for m in await client.members()] == ["n1"]

    agent = run_with_agent(answer_plainly, scenario)
    assert agent.requests[:2] == [("handshake", {"Version": 1}), ("auth", {"AuthKey": "k"})]


def test_wrong_auth_key_is_a_command_error():
    async def main() -> None:
        agent = FakeAgent(answer_plainly, auth="other")
        port = await agent.start()
        with pytest.raises(SerfCommandError, match="Invalid authentication token"):
            await SerfClient.connect("127.0.0.1", port, "k")
        await agent.stop()

    asyncio.run(main())


def test_nothing_listening_is_a_connection_error():
    async def main() -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with pytest.raises(SerfConnectionError):
            await SerfClient.connect("127.0.0.1", port, "k", timeout=1)

    asyncio.run(main())


def test_key_errors_carry_the_per_node_answer():
    async def scenario(client: SerfClient, agent: FakeAgent) -> None:
        with pytest.raises(SerfKeyError) as caught:
            await client.list_keys()
        assert caught.value.response.messages == {"n2": "boom"}
        assert caught.value.response.keys == {"a2V5": 1}

    run_with_agent(answer_plainly, scenario)


def test_query_timeout_is_sent_in_nanoseconds_and_records_end_at_done():
    async def handler(agent: FakeAgent, command: str, seq: int, body: Any) -> None:
        agent.send(seq)
        agent.send(seq, body={"Type": "ack", "From": "n2"})
        agent.send(seq, body={"Type": "response", "From": "n2", "Payload": b"pong"})
        # What the agent streams from the query's closed channels just before the end.
        for _ in range(3):
            agent.send(seq, body={"Type": "response", "From": "", "Payload": None})
            agent.send(seq, body={"Type": "ack", "From": ""})
        agent.send(seq, body={"Type": "done"})

    async def scenario(client: SerfClient, agent: FakeAgent) -> None:
        responses = await client.query("ping", b"x", filter_nodes=["n2"], request_ack=True, timeout=1.5)
        assert await responses.collect() == [QueryAck("n2"), QueryResponse("n2", b"pong")]
        assert await client.members() is not None  # the connection is still in step

    async def both(agent: FakeAgent, command: str, seq: int, body: Any) -> None:
        await (handler if command == "query" else answer_plainly)(agent, command, seq, body)

    agent = run_with_agent(both, scenario)
    query = next(body for command, body in agent.requests if command == "query")
    assert query["Timeout"] == 1_500_000_000 and query["FilterNodes"] == ["n2"] and query["RequestAck"] is True


def test_agent_death_fails_waiting_calls_and_ends_streams_after_what_arrived():
    async def handler(agent: FakeAgent, command: str, seq: int, body: Any) -> None:
        if command == "stream":
            agent.send(seq)
            agent.send(seq, body={"Event": "user", "LTime": 1, "Name": "a", "Payload": b"1", "Coalesce": False})
        elif command == "members":
            agent.die()  # never answers

    async def scenario(client: SerfClient, agent: FakeAgent) -> None:
        events = await client.stream("user")
        with pytest.raises(SerfConnectionError):
            await client.members()
        assert (await events.__anext__()).name == "a"  # type: ignore[union-attr]
        with pytest.raises(SerfConnectionError):
            await events.__anext__()
        with pytest.raises(SerfConnectionError):
            await client.user_event("late")

    run_with_agent(handler, scenario)


def test_close_ends_streams_cleanly_and_stops_them_at_the_agent():
    async def scenario(client: SerfClient, agent: FakeAgent) -> None:
        events = await client.stream("member-join")
        consumer = asyncio.ensure_future(_drain(events))
        await asyncio.sleep(0)
        await client.close()
        assert await consumer == []

    agent = run_with_agent(answer_plainly, scenario)
    assert ("stop", {"Stop": 3}) in agent.requests


def test_a_cancelled_call_does_not_put_the_connection_out_of_step():
    async def handler(agent: FakeAgent, command: str, seq: int, body: Any) -> None:
        if command == "members" and not hasattr(agent, "held"):
            agent.held = seq  # type: ignore[attr-defined]
            return
        await answer_plainly(agent, command, seq, body)

    async def scenario(client: SerfClient, agent: FakeAgent) -> None:
        slow = asyncio.ensure_future(client.members())
        await asyncio.sleep(0.05)
        slow.cancel()
        agent.send(agent.held, body={"Members": [wire_member("late")]})  # type: ignore[attr-defined]
        assert [m.name for m in await client.members()] == ["n1"]

    run_with_agent(handler, scenario)


def test_a_consumer_that_falls_behind_gets_an_overflow_not_a_stall():
    async def handler(agent: FakeAgent, command: str, seq: int, body: Any) -> None:
        if command == "stream":
            agent.send(seq)
            for n in range(5):
                agent.send(seq, body={"Event": "user", "LTime": n, "Name": "e", "Payload": b"", "Coalesce": False})
        else:
            await answer_plainly(agent, command, seq, body)

    async def scenario(client: SerfClient, agent: FakeAgent) -> None:
        events = await client.stream("user", buffer=2)
        await client.members()  # the reader has seen every record by now
        received = []
        with pytest.raises(SerfStreamOverflow):
            async for event in events:
                received.append(event)
        assert len(received) == 2
        await asyncio.sleep(0.05)
        assert ("stop", {"Stop": events.seq}) in agent.requests

    run_with_agent(handler, scenario)


async def _drain(events: Any) -> list[Any]:
    return [event async for event in events]
