"""Swarm routes answer as dockerd on a node in no swarm; /info says so (no root: a fake controller)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from libnetwork import events
from libnetwork.api import swarm
from libnetwork.api.server import build_app
from libnetwork.cluster.swarm import Swarm

MANAGER_TEXT = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                'this node to swarm and try again.')


def _controller():
    settings = SimpleNamespace(data_root="/var/lib/cnm", default_address_pools=(("10.10.0.0/16", 24),))
    return SimpleNamespace(events=events.EventBus(), sandboxes={}, networks={}, settings=settings)


def _request(method: str, path: str, cluster: Swarm | None = None, **kwargs):
    async def run():
        client = TestClient(TestServer(build_app(_controller(), cluster or Swarm("/nonexistent"))))
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


@pytest.mark.parametrize("body, status, message", [
    ({}, 400, 'invalid ListenAddr "": invalid empty address'),
    ({"ListenAddr": "bogus"}, 400,
     "listen address must be an IP address or network interface (with optional port number)"),
    ({"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "eth9"}, 400,
     "advertise address must be a non-zero IP address or network interface (with optional port number)"),
    ({"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "192.168.10.11", "DataPathPort": 80}, 500,
     "Datapath port number is not in valid range (1024-49151) : 80"),
    ({"ListenAddr": "0.0.0.0:2377"}, 400,
     "could not choose an IP address to advertise since this system has multiple addresses on interface eth0 "
     "(192.168.10.11 and 192.168.10.111) - specify one with --advertise-addr"),
])
def test_init_refuses_bad_input_as_dockerd(body, status, message, tmp_path):
    """Refused before anything is made: no swarm directory appears."""
    def interfaces():
        return {"lo": ["127.0.0.1"], "eth0": ["192.168.10.11", "192.168.10.111"]}

    cluster = Swarm(str(tmp_path), interfaces=interfaces)
    assert _request("POST", "/swarm/init", json=body, cluster=cluster) == (status, "application/json",
                                                                           {"message": message})
    assert not (tmp_path / "swarm").exists()


def test_info_has_an_inactive_swarm_section():
    status, _, body = _request("GET", "/v1.45/info")
    assert status == 200
    assert body["Swarm"] == swarm.INACTIVE_INFO and body["Swarm"]["LocalNodeState"] == "inactive"
    assert body["OSType"] == "linux" and body["NEventsListener"] == 0
    assert body["DefaultAddressPools"] == [{"Base": "10.10.0.0/16", "Size": 24}]
