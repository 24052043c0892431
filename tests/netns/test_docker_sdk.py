"""The docker Python SDK (docker-py) drives the daemon unchanged."""

from __future__ import annotations

import docker
import pytest


@pytest.fixture(scope="module")
def client(cnmd):
    sdk = docker.DockerClient(base_url=cnmd.host)
    yield sdk
    sdk.close()


def test_sdk_network_lifecycle(cnmd, client):
    assert client.ping()
    assert client.version()["ApiVersion"] == "1.45"
    net = client.networks.create("sdk-net", driver="bridge", labels={"by": "sdk"},
                                 ipam=docker.types.IPAMConfig(pool_configs=[
                                     docker.types.IPAMPool(subnet="10.88.0.0/24", gateway="10.88.0.1")]))
    assert net.name == "sdk-net"
    assert net.attrs["IPAM"]["Config"][0]["Subnet"] == "10.88.0.0/24"
    assert "sdk-net" in [n.name for n in client.networks.list(greedy=True)]
    assert [n.name for n in client.networks.list(filters={"label": "by=sdk"})] == ["sdk-net"]

    cnmd.cnm("sandbox", "create", "--name", "sdk-box", "--network", "none")
    cnmd.cnm("sandbox", "create", "--name", "sdk-box2", "--network", "bridge")
    net.connect("sdk-box2", ipv4_address="10.88.0.50", aliases=["db"])
    net.reload()
    [member] = net.containers
    assert member.name == "sdk-box2"
    [entry] = net.attrs["Containers"].values()
    assert entry["IPv4Address"] == "10.88.0.50/24"
    net.disconnect("sdk-box2")
    net.reload()
    assert net.attrs["Containers"] == {}
    net.remove()
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("sdk-net")
    client.networks.create("sdk-prune")
    assert "sdk-prune" in client.networks.prune()["NetworksDeleted"]
    cnmd.cnm("sandbox", "rm", "-f", "sdk-box", "sdk-box2")
