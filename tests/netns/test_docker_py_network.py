"""docker-py's network integration cases (tests/integration/api_network_test.py and
models_networks_test.py upstream), restated here against cnmd.

The cases are docker-py's; the code is ours.  Where docker-py creates and
starts a container, a sandbox stands in for it (this daemon runs no
images): it is created through ``/sandboxes/create`` with the same network
settings docker-py would put in the container's ``NetworkingConfig``, and
from then on docker-py's own calls drive it (connect, disconnect,
``inspect_container``).  What needs a swarm manager waits for the cluster
issue; the swarm refusals themselves are checked here, because docker-py's
tear-down leaves any swarm after every test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import docker
import pytest
from docker.types import IPAMConfig, IPAMPool

from .conftest import api

HERE = os.path.dirname(__file__)


def random_name(prefix: str = "dpy") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Harness:
    """docker-py's APIClient plus what its BaseAPIIntegrationTest cleans up."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.client = docker.APIClient(base_url=daemon.host, version="1.45", timeout=60)
        self.networks: list[str] = []
        self.sandboxes: list[str] = []

    def create_network(self, *args, **kwargs) -> tuple[str, str]:
        name = random_name()
        nid = self.client.create_network(name, *args, **kwargs)["Id"]
        self.networks.append(nid)
        return name, nid

    def create_container(self, networking: dict | None = None, name: str | None = None) -> str:
        """A sandbox for a started container; ``networking`` is docker-py's
        ``create_networking_config`` (``EndpointsConfig`` by network name)."""
        endpoints = (networking or {}).get("EndpointsConfig", {})
        body = {"Name": name or random_name("box"),
                "Networks": [{"Network": net, "EndpointConfig": config or {}} for net, config in endpoints.items()]}
        status, reply, _ = api(self.daemon, "POST", "/v1.45/sandboxes/create", body)
        assert status == 201, reply
        self.sandboxes.append(reply["Id"])
        return reply["Id"]

    def settings(self, container: str, network: str) -> dict:
        return self.client.inspect_container(container)["NetworkSettings"]["Networks"][network]

    def resolve(self, container: str, name: str) -> dict:
        result = self.daemon.run_in_sandbox(container, sys.executable, os.path.join(HERE, "dns_client.py"),
                                            "query", name, "A")
        return json.loads(result.stdout)

    def tear_down(self) -> None:
        # docker-py's TestNetworks.tearDown: a node in no swarm answers 503, which leave_swarm takes as done.
        assert self.client.leave_swarm(force=True) is True
        for sid in self.sandboxes:
            api(self.daemon, "DELETE", f"/v1.45/sandboxes/{sid}?force=1")
        for nid in self.networks:
            try:
                self.client.remove_network(nid)
            except docker.errors.APIError:
                pass
        self.client.close()


@pytest.fixture
def dpy(cnmd):
    harness = Harness(cnmd)
    yield harness
    harness.tear_down()


# -- api_network_test.py --------------------------------------------------------------

def test_list_networks(dpy):
    name, nid = dpy.create_network()
    assert nid in [n["Id"] for n in dpy.client.networks()]
    assert [n["Id"] for n in dpy.client.networks(names=[name])] == [nid]
    assert [n["Id"] for n in dpy.client.networks(ids=[nid[:8]])] == [nid]


def test_inspect_network(dpy):
    name, nid = dpy.create_network()
    net = dpy.client.inspect_network(nid)
    assert (net["Id"], net["Name"], net["Driver"], net["Scope"]) == (nid, name, "bridge", "local")
    assert net["IPAM"]["Driver"] == "default"


def test_create_network_with_ipam_config(dpy):
    _, nid = dpy.create_network(ipam=IPAMConfig(driver="default", pool_configs=[IPAMPool(
        subnet="172.28.0.0/16", iprange="172.28.5.0/24", gateway="172.28.5.254",
        aux_addresses={"a": "172.28.1.5", "b": "172.28.1.6", "c": "172.28.1.7"})]))
    ipam = dpy.client.inspect_network(nid)["IPAM"]
    # Null when none were given, as dockerd echoes it (docker-py's own test asserts it).
    assert ipam["Driver"] == "default" and ipam["Options"] is None
    assert ipam["Config"] == [{"Subnet": "172.28.0.0/16", "IPRange": "172.28.5.0/24", "Gateway": "172.28.5.254",
                               "AuxiliaryAddresses": {"a": "172.28.1.5", "b": "172.28.1.6", "c": "172.28.1.7"}}]


def test_create_network_with_host_driver_fails(dpy):
    with pytest.raises(docker.errors.APIError):
        dpy.client.create_network(random_name(), driver="host")


def test_remove_network(dpy):
    name, nid = dpy.create_network()
    assert name in [n["Name"] for n in dpy.client.networks()]
    dpy.client.remove_network(nid)
    assert name not in [n["Name"] for n in dpy.client.networks()]


@pytest.mark.parametrize("force", [False, True])
def test_connect_and_disconnect_container(dpy, force):
    _, nid = dpy.create_network()
    container = dpy.create_container()
    assert not dpy.client.inspect_network(nid).get("Containers")
    dpy.client.connect_container_to_network(container, nid)
    assert list(dpy.client.inspect_network(nid)["Containers"]) == [container]
    if not force:
        with pytest.raises(docker.errors.APIError):
            dpy.client.connect_container_to_network(container, nid)
    dpy.client.disconnect_container_from_network(container, nid, force)
    assert not dpy.client.inspect_network(nid).get("Containers")
    with pytest.raises(docker.errors.APIError):
        dpy.client.disconnect_container_from_network(container, nid, force)


def test_connect_with_aliases(dpy):
    name, nid = dpy.create_network()
    container = dpy.create_container()
    dpy.client.connect_container_to_network(container, nid, aliases=["foo", "bar"])
    aliases = dpy.settings(container, name)["Aliases"]
    assert "foo" in aliases and "bar" in aliases


def test_connect_on_container_create(dpy):
    name, nid = dpy.create_network()
    container = dpy.create_container(dpy.client.create_networking_config({name: None}))
    assert list(dpy.client.inspect_network(nid)["Containers"]) == [container]
    dpy.client.disconnect_container_from_network(container, nid)
    assert not dpy.client.inspect_network(nid).get("Containers")


def test_create_with_aliases(dpy):
    name, _ = dpy.create_network()
    container = dpy.create_container(dpy.client.create_networking_config({
        name: dpy.client.create_endpoint_config(aliases=["foo", "bar"])}))
    aliases = dpy.settings(container, name)["Aliases"]
    assert "foo" in aliases and "bar" in aliases


@pytest.mark.parametrize("subnet, field, address, ipv6", [
    ("132.124.0.0/16", "IPv4Address", "132.124.0.23", False),
    ("2001:389::/64", "IPv6Address", "2001:389::f00d", True),
])
def test_create_with_static_address(dpy, subnet, field, address, ipv6):
    name, _ = dpy.create_network(enable_ipv6=ipv6, ipam=IPAMConfig(driver="default",
                                                                   pool_configs=[IPAMPool(subnet=subnet)]))
    config = {"ipv6_address" if ipv6 else "ipv4_address": address}
    container = dpy.create_container(dpy.client.create_networking_config({
        name: dpy.client.create_endpoint_config(**config)}))
    assert dpy.settings(container, name)["IPAMConfig"][field] == address


def test_create_with_linklocal_ips(dpy):
    container = dpy.create_container(dpy.client.create_networking_config({
        "bridge": dpy.client.create_endpoint_config(link_local_ips=["169.254.8.8"])}))
    config = dpy.settings(container, "bridge")
    assert config["IPAMConfig"]["LinkLocalIPs"] == ["169.254.8.8"]


def test_create_with_driveropt(dpy):
    container = dpy.create_container(dpy.client.create_networking_config({
        "bridge": dpy.client.create_endpoint_config(driver_opt={"com.docker-py.setting": "on"})}))
    assert dpy.settings(container, "bridge")["DriverOpts"]["com.docker-py.setting"] == "on"


def _check_link(dpy, container: str, network: str, upstream: str) -> None:
    """The link is kept as given, and its alias answers once the upstream exists (docker-py runs nslookup)."""
    assert dpy.settings(container, network)["Links"] == [f"{upstream}:bar"]
    dpy.create_container(dpy.client.create_networking_config({network: None}), name=upstream)
    answer = dpy.resolve(container, "bar")
    assert answer["rcode"] == "NOERROR" and answer["answers"] == [dpy.settings(upstream, network)["IPAddress"]]


def test_create_with_links(dpy):
    name, _ = dpy.create_network()
    upstream = random_name("upstream")
    container = dpy.create_container(dpy.client.create_networking_config({
        name: dpy.client.create_endpoint_config(links=[(upstream, "bar")])}))
    _check_link(dpy, container, name, upstream)


def test_connect_with_links(dpy):
    name, _ = dpy.create_network()
    upstream = random_name("upstream")
    container = dpy.create_container(dpy.client.create_networking_config({name: None}))
    dpy.client.disconnect_container_from_network(container, name)
    dpy.client.connect_container_to_network(container, name, links=[(upstream, "bar")])
    _check_link(dpy, container, name, upstream)


def test_create_check_duplicate(dpy):
    name, _ = dpy.create_network()
    with pytest.raises(docker.errors.APIError):
        dpy.client.create_network(name, check_duplicate=True)


@pytest.mark.parametrize("pool, ipv6, keyword, field, address", [
    (IPAMPool(subnet="172.28.0.0/16", iprange="172.28.5.0/24", gateway="172.28.5.254"), False,
     "ipv4_address", "IPv4Address", "172.28.5.24"),
    (IPAMPool(subnet="2001:389::/64", iprange="2001:389::0/96", gateway="2001:389::ffff"), True,
     "ipv6_address", "IPv6Address", "2001:389::f00d"),
])
def test_connect_with_static_address(dpy, pool, ipv6, keyword, field, address):
    name, _ = dpy.create_network(enable_ipv6=ipv6, ipam=IPAMConfig(driver="default", pool_configs=[pool]))
    container = dpy.create_container(dpy.client.create_networking_config({name: None}))
    dpy.client.disconnect_container_from_network(container, name)
    dpy.client.connect_container_to_network(container, name, **{keyword: address})
    assert dpy.settings(container, name)["IPAMConfig"][field] == address


def test_connect_with_mac_address(dpy):
    name, _ = dpy.create_network()
    container = dpy.create_container()
    dpy.client.connect_container_to_network(container, name, mac_address="02:42:ac:11:00:02")
    assert dpy.settings(container, name)["MacAddress"] == "02:42:ac:11:00:02"


def test_create_internal_networks(dpy):
    _, nid = dpy.create_network(internal=True)
    assert dpy.client.inspect_network(nid)["Internal"] is True


def test_create_network_with_labels(dpy):
    _, nid = dpy.create_network(labels={"com.docker.py.test": "label"})
    assert dpy.client.inspect_network(nid)["Labels"] == {"com.docker.py.test": "label"}


def test_create_network_with_labels_wrong_type(dpy):
    with pytest.raises(TypeError):
        dpy.create_network(labels=["com.docker.py.test=label"])


def test_create_network_ipv6_enabled(dpy):
    _, nid = dpy.create_network(enable_ipv6=True, ipam=IPAMConfig(driver="default", pool_configs=[
        IPAMPool(subnet="2001:389::/64", iprange="2001:389::0/96", gateway="2001:389::ffff")]))
    assert dpy.client.inspect_network(nid)["EnableIPv6"] is True


def test_prune_networks(dpy):
    name, _ = dpy.create_network()
    assert name in dpy.client.prune_networks()["NetworksDeleted"]


def test_inspect_local_network_with_scope(dpy):
    # The local half of docker-py's test_create_inspect_network_with_scope; the swarm half needs a manager.
    name, _ = dpy.create_network(scope="local")
    assert dpy.client.inspect_network(name)
    assert dpy.client.inspect_network(name, scope="local")
    with pytest.raises(docker.errors.NotFound):
        dpy.client.inspect_network(name, scope="global")


def test_create_remove_network_with_space_in_name(dpy):
    nid = dpy.client.create_network("test 01")
    dpy.networks.append(nid["Id"])
    assert dpy.client.inspect_network("test 01")
    assert dpy.client.remove_network("test 01") is None


def test_swarm_setup_and_teardown_of_the_swarm_cases(dpy):
    """docker-py's swarm network cases start with init_swarm and end with leave_swarm(force=True); the overlay
    networks in between wait for the overlay issue."""
    if subprocess.run(["which", "serf", "etcd"], capture_output=True).returncode != 0:
        pytest.skip("needs Debian's serf and etcd-server")
    node_id = dpy.client.init_swarm("127.0.0.1")
    try:
        swarm = dpy.client.inspect_swarm()
        assert swarm["JoinTokens"]["Worker"].startswith("SWMTKN-1-")
        assert dpy.client.nodes()[0]["ID"] == node_id
        assert dpy.client.info()["Swarm"]["LocalNodeState"] == "active"
    finally:
        assert dpy.client.leave_swarm(force=True) is True
    assert dpy.client.info()["Swarm"]["LocalNodeState"] == "inactive"


# -- models_networks_test.py -------------------------------------------------------------

def test_model_create_get_list_remove(cnmd, dpy):
    client = docker.DockerClient(base_url=cnmd.host, version="1.45")
    try:
        name = random_name()
        network = client.networks.create(name, labels={"foo": "bar"})
        assert network.name == name and network.attrs["Labels"]["foo"] == "bar"
        assert client.networks.get(network.id).name == name
        assert network.id in [n.id for n in client.networks.list()]
        assert [n.id for n in client.networks.list(ids=[network.id])] == [network.id]
        network.remove()
        assert network.id not in [n.id for n in client.networks.list()]
    finally:
        client.close()


def test_model_connect_disconnect(cnmd, dpy):
    client = docker.DockerClient(base_url=cnmd.host, version="1.45")
    try:
        network = client.networks.create(random_name())
        dpy.networks.append(network.id)
        assert network.containers == []
        container = dpy.create_container()
        network.connect(container)
        network.reload()
        assert [c.id for c in network.containers] == [container]
        network.disconnect(container)
        network.reload()
        assert network.containers == []
    finally:
        client.close()
