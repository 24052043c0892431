"""Swarm routes answer as dockerd on a node in no swarm; /info says so (no root: a fake controller)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from libnetwork import events
from libnetwork.api import swarm
from libnetwork.api.server import build_app

MANAGER_TEXT = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                'this node to swarm and try again.')


def _controller():
    settings = SimpleNamespace(data_root="/var/lib/cnm", default_address_pools=(("10.10.0.0/16", 24),))
    return SimpleNamespace(events=events.EventBus(), sandboxes={}, networks={}, settings=settings)


def _request(method: str, path: str, **kwargs):
    async def run():
        client = TestClient(TestServer(build_app(_controller())))
        await client.start_server()
        try:
            response = await client.request(method, path, **kwargs)
            return response.status, response.headers.get("Content-Type"), await response.json()
        finally:
            await client.close()

    return asyncio.run(run())


@pytest.mark.parametrize("method, path", [
    ("GET", "/swarm"), ("GET", "/v1.45/swarm"), ("GET", "/swarm/unlockkey"), ("POST", "/swarm/unlock"),
    ("POST", "/swarm/update"), ("GET", "/nodes"), ("GET", "/v1.45/nodes/abc"), ("GET", "/services"),
    ("POST", "/services/create"), ("GET", "/tasks"), ("GET", "/secrets"), ("GET", "/configs"),
])
def test_manager_routes_are_503_with_dockerds_text(method, path):
    assert _request(method, path) == (503, "application/json", {"message": MANAGER_TEXT})


def test_leave_is_503_not_part_of_a_swarm():
    assert _request("POST", "/v1.45/swarm/leave", params={"force": "True"}) == (
        503, "application/json", {"message": "This node is not part of a swarm"})


def test_init_says_it_is_not_implemented_yet():
    status, _, body = _request("POST", "/swarm/init", json={"ListenAddr": "0.0.0.0:2377"})
    assert status == 501 and "not implemented" in body["message"]


def test_info_has_an_inactive_swarm_section():
    status, _, body = _request("GET", "/v1.45/info")
    assert status == 200
    assert body["Swarm"] == swarm.INACTIVE_INFO and body["Swarm"]["LocalNodeState"] == "inactive"
    assert body["OSType"] == "linux" and body["NEventsListener"] == 0
    assert body["DefaultAddressPools"] == [{"Base": "10.10.0.0/16", "Size": 24}]
