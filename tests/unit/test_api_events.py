"""/events: rendering in dockerd's shape, its filters, replay and streaming (no root: a fake controller)."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from libnetwork import events
from libnetwork.api import events as api_events
from libnetwork.api.server import build_app
from libnetwork.cluster.swarm import Swarm
from libnetwork.errors import InvalidParameter
from libnetwork.eventlog import EventLog, render

NET = events.NetworkRef(id="a" * 64, name="web", driver="bridge")
EP = events.EndpointRef(id="e" * 64, network_id=NET.id, sandbox_id="c" * 64, name="box")


def test_render_connect_in_dockers_shape():
    message = render(events.EndpointJoined(NET, EP, time=1700000000.123456))
    assert list(message) == ["Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert message["Type"] == "network" and message["Action"] == "connect" and message["scope"] == "local"
    assert message["Actor"] == {"ID": NET.id, "Attributes": {"container": EP.sandbox_id, "name": "web",
                                                             "type": "bridge"}}
    assert message["time"] == 1700000000
    assert abs(message["timeNano"] - 1700000000123456000) < 1000


@pytest.mark.parametrize("kind, action", [(events.NetworkCreated, "create"), (events.NetworkRemoved, "destroy")])
def test_render_network_events_have_no_container(kind, action):
    message = render(kind(NET, time=5.0))
    assert message["Action"] == action
    assert message["Actor"]["Attributes"] == {"name": "web", "type": "bridge"}


def test_encode_is_one_compact_line_with_go_escaping():
    line = api_events.encode({"a": "<&>"})
    assert line == b'{"a":"\\u003c\\u0026\\u003e"}\n'


def _match(wanted: dict, event) -> bool:
    return api_events.include(wanted, render(event))


def test_filters_as_dockerd():
    connect = events.EndpointJoined(NET, EP)
    create = events.NetworkCreated(NET)
    assert _match({}, connect)
    assert _match({"type": ["network"]}, connect)
    assert not _match({"type": ["container"]}, connect)
    assert _match({"event": ["connect", "disconnect"]}, connect)
    assert not _match({"event": ["connect"]}, create)
    assert _match({"action": ["nothing"]}, connect)  # not a key dockerd reads
    # network: a prefix of the ID, or of the name
    assert _match({"network": ["aaaa"]}, connect) and _match({"network": ["we"]}, connect)
    assert not _match({"network": ["db"]}, connect)
    assert _match({"scope": ["local"]}, connect) and not _match({"scope": ["swarm"]}, connect)
    # label: matched against the attributes (dockerd copies no network labels into them)
    assert _match({"label": ["type=bridge"]}, connect) and not _match({"label": ["team"]}, connect)
    # container: like dockerd, the actor (the network) is matched, not the container attribute
    assert not _match({"container": ["cccc"]}, connect)
    assert _match({"container": ["web"]}, connect)
    assert not _match({"image": ["alpine"]}, connect)


def test_timestamps():
    assert api_events.parse_timestamp("", "since") is None
    assert api_events.parse_timestamp("12", "since") == 12_000_000_000
    assert api_events.parse_timestamp("12.5", "since") == 12_500_000_000
    assert api_events.parse_timestamp("12.000000001", "since") == 12_000_000_001
    with pytest.raises(InvalidParameter, match="invalid value for 'until': strconv.ParseInt: parsing \"x\""):
        api_events.parse_timestamp("x", "until")


def _everything(message: dict) -> bool:
    return True


def test_ring_keeps_the_last_256_and_replays_a_window():
    log = EventLog()
    for i in range(300):
        log.record(events.NetworkCreated(events.NetworkRef(id=f"{i:064x}", name=f"n{i}", driver="bridge"),
                                         time=1000.0 + i))
    replay, stream = log.subscribe(0, None, _everything)
    assert len(replay) == 256 and replay[0]["Actor"]["Attributes"]["name"] == "n44"
    stream.close()
    replay, stream = log.subscribe(1290 * 10**9, 1292 * 10**9, _everything)
    assert [m["Actor"]["Attributes"]["name"] for m in replay] == ["n290", "n291", "n292"]
    stream.close()
    replay, stream = log.subscribe(None, None, _everything)
    assert replay == [] and log.subscribers == 1
    stream.close()
    assert log.subscribers == 0


def test_events_from_other_nodes_are_not_logged():
    log = EventLog()
    log.record(events.EndpointJoined(NET, EP, source="node-2"))
    replay, stream = log.subscribe(0, None, lambda m: True)
    assert replay == []
    stream.close()


def _app():
    bus = events.EventBus()
    return bus, build_app(SimpleNamespace(events=bus), Swarm("/nonexistent"))


async def _with_client(body):
    bus, app = _app()
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await body(bus, client)
    finally:
        await client.close()


def test_stream_flushes_each_event_and_ends_at_until():
    async def body(bus, client):
        until = time.time() + 1.5
        response = await client.get("/v1.45/events", params={
            "until": f"{until:.9f}", "filters": json.dumps({"type": {"network": True}})})
        assert response.status == 200 and response.headers["Content-Type"] == "application/json"
        assert response.headers["Api-Version"] == "1.45"
        await bus.publish(events.NetworkCreated(NET))
        first = json.loads(await asyncio.wait_for(response.content.readline(), 1))
        assert first["Action"] == "create"
        await bus.publish(events.EndpointJoined(NET, EP))
        second = json.loads(await asyncio.wait_for(response.content.readline(), 1))
        assert second["Action"] == "connect" and second["Actor"]["Attributes"]["container"] == EP.sandbox_id
        assert await asyncio.wait_for(response.content.read(), 3) == b""  # ended at until
        assert time.time() >= until - 0.05

    asyncio.run(_with_client(body))


def test_replay_of_the_past_ends_at_once():
    async def body(bus, client):
        start = time.time()
        await bus.publish(events.NetworkCreated(NET))
        await bus.publish(events.EndpointJoined(NET, EP))
        await bus.publish(events.EndpointLeft(NET, EP))
        await bus.publish(events.NetworkRemoved(NET))
        response = await client.get("/events", params={
            "since": f"{start:.9f}", "until": f"{time.time():.9f}",
            "filters": json.dumps({"event": ["connect", "disconnect"]})})
        lines = (await asyncio.wait_for(response.read(), 2)).decode().splitlines()
        assert [json.loads(line)["Action"] for line in lines] == ["connect", "disconnect"]

    asyncio.run(_with_client(body))


def test_bad_parameters_are_400():
    async def body(bus, client):
        response = await client.get("/events", params={"since": "20", "until": "10"})
        assert response.status == 400
        assert (await response.json())["message"] == "`since` time (20) cannot be after `until` time (10)"
        response = await client.get("/events", params={"filters": "{bad"})
        assert response.status == 400 and (await response.json())["message"].startswith("invalid filter")

    asyncio.run(_with_client(body))


def test_a_reader_that_goes_away_is_unsubscribed():
    async def body(bus, client):
        response = await client.get("/events")
        log: EventLog = client.server.app[api_events.EVENT_LOG]
        assert log.subscribers == 1
        response.close()
        for _ in range(40):
            if log.subscribers == 0:
                break
            await asyncio.sleep(0.1)
        assert log.subscribers == 0

    asyncio.run(_with_client(body))


def test_a_slow_reader_loses_events_and_still_gets_the_end():
    log = EventLog(queue_size=2)
    _, stream = log.subscribe(None, None, _everything)
    for _ in range(5):
        log.record(events.NetworkCreated(NET))
    log.end_streams()
    assert stream.dropped == 3
    assert [stream.queue.get_nowait() is None for _ in range(3)] == [False, False, True]
    stream.close()
