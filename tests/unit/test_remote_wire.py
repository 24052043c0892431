"""Docker's NetworkDriver.* and IpamDriver.* JSON, field by field, and the remote drivers that speak it."""

from __future__ import annotations

import ipaddress
import os
import time
from typing import Any

import pytest

from libnetwork import errors
from libnetwork.drivers import remote
from libnetwork.drivers.api import (
    Capabilities,
    EndpointConfig,
    EndpointInfo,
    ExternalConnectivity,
    NetworkConfig,
    NodeDiscovery,
    SandboxInfo,
    StaticRoute,
    SubnetData,
)
from libnetwork.drivers.remote import wire
from libnetwork.ipam import remote as ipam_remote
from libnetwork.ipam.api import AddressRequest, PoolRequest
from libnetwork.v1plugins import BadReply, Registry

from .plugin_server import FakePlugin, serve

net = ipaddress.ip_network
ip = ipaddress.ip_address
iface = ipaddress.ip_interface


def network_config(**kw) -> NetworkConfig:
    values: dict[str, Any] = dict(
        nid="n1", name="web", options={"foo": "bar"},
        ipv4=(SubnetData(net("10.1.0.0/24"), iface("10.1.0.1/24"), {"router": ip("10.1.0.254")}),),
        ipv6=(SubnetData(net("fd00:1::/64"), iface("fd00:1::1/64")),), enable_ipv6=True,
    )
    values.update(kw)
    return NetworkConfig(**values)


# -- NetworkDriver requests ----------------------------------------------------------

def test_create_network_as_docker_sends_it():
    assert wire.create_network(network_config()) == {
        "NetworkID": "n1",
        "Options": {"com.docker.network.enable_ipv6": True, "com.docker.network.generic": {"foo": "bar"}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": "10.1.0.0/24", "Gateway": "10.1.0.1/24",
                      "AuxAddresses": {"router": "10.1.0.254/24"}}],
        "IPv6Data": [{"AddressSpace": "LocalDefault", "Pool": "fd00:1::/64", "Gateway": "fd00:1::1/64"}],
    }


def test_create_network_internal_without_ipv6():
    body = wire.create_network(network_config(ipv6=(), enable_ipv6=False, internal=True, options={},
                                              ipv4=(SubnetData(net("10.2.0.0/16"), address_space="Mine"),)))
    assert body["Options"] == {"com.docker.network.enable_ipv6": False, "com.docker.network.generic": {},
                               "com.docker.network.internal": True}
    assert body["IPv4Data"] == [{"AddressSpace": "Mine", "Pool": "10.2.0.0/16"}]
    assert body["IPv6Data"] == []


def test_endpoint_requests():
    config = EndpointConfig("n1", "e1", iface("10.1.0.2/24"), None, None, {"opt": "1"})
    assert wire.create_endpoint(config) == {
        "NetworkID": "n1", "EndpointID": "e1",
        "Interface": {"Address": "10.1.0.2/24", "AddressIPv6": "", "MacAddress": ""},
        "Options": {"opt": "1"},
    }
    assert wire.join("n1", "e1", SandboxInfo("s1", "/run/cnm/netns/abc")) == {
        "NetworkID": "n1", "EndpointID": "e1", "SandboxKey": "/run/cnm/netns/abc", "Options": {}}
    assert wire.endpoint_id("n1", "e1") == {"NetworkID": "n1", "EndpointID": "e1"}
    assert wire.network_id("n1") == {"NetworkID": "n1"}


def test_published_ports_as_sandbox_labels():
    class Binding:
        def __init__(self, proto, port, host_port, host_ip=""):
            self.proto, self.container_port, self.host_port, self.host_ip = proto, port, host_port, host_ip
            self.host_port_end = 0

    body = wire.program_external_connectivity("n", "e", [Binding("tcp", 80, 8080), Binding("tcp", 80, 8081, "::1"),
                                                         Binding("udp", 53, 5353)])
    assert body["Options"] == {
        "com.docker.network.portmap": [
            {"Proto": 6, "IP": "", "Port": 80, "HostIP": "", "HostPort": 8080, "HostPortEnd": 0},
            {"Proto": 6, "IP": "", "Port": 80, "HostIP": "::1", "HostPort": 8081, "HostPortEnd": 0},
            {"Proto": 17, "IP": "", "Port": 53, "HostIP": "", "HostPort": 5353, "HostPortEnd": 0}],
        "com.docker.network.endpoint.exposedports": [{"Proto": 6, "Port": 80}, {"Proto": 17, "Port": 53}],
    }


def test_node_discovery():
    assert wire.node_discovery("192.0.2.1", self_node=True) == {
        "DiscoveryType": 1, "DiscoveryData": {"Address": "192.0.2.1", "BindAddress": "", "Self": True}}


# -- NetworkDriver replies -------------------------------------------------------------

def test_capabilities():
    assert wire.capabilities({"Scope": "local"}) == Capabilities("local", "local", restore_by_replay=False,
                                                                 own_worker=True)
    assert wire.capabilities({"Scope": "global", "ConnectivityScope": "local"}).connectivity_scope == "local"
    with pytest.raises(BadReply, match="expecting 'local' or 'global', got swarm"):
        wire.capabilities({"Scope": "swarm"})
    with pytest.raises(BadReply):
        wire.capabilities({})


def test_endpoint_info():
    sent = EndpointConfig("n", "e", iface("10.1.0.2/24"))
    assert wire.endpoint_info({}, sent) == EndpointInfo(None)
    assert wire.endpoint_info({"Interface": None}, sent) == EndpointInfo(None)
    assert wire.endpoint_info({"Interface": {"MacAddress": "AA-BB-CC-00-11-22"}}, sent) == \
        EndpointInfo("aa:bb:cc:00:11:22")
    with pytest.raises(BadReply, match="driver modified interface address"):
        wire.endpoint_info({"Interface": {"Address": "10.1.0.9/24"}}, sent)
    with pytest.raises(BadReply, match="invalid MAC address"):
        wire.endpoint_info({"Interface": {"MacAddress": "zz"}}, sent)
    user_mac = EndpointConfig("n", "e", iface("10.1.0.2/24"), mac="02:00:00:00:00:01")
    assert wire.endpoint_info({"Interface": {"MacAddress": ""}}, user_mac).mac == "02:00:00:00:00:01"
    with pytest.raises(BadReply, match="driver modified interface MAC address"):
        wire.endpoint_info({"Interface": {"MacAddress": "02:00:00:00:00:02"}}, user_mac)


def test_join_info():
    info = wire.join_info({
        "InterfaceName": {"SrcName": "veth1", "DstPrefix": "wv"},
        "Gateway": "10.1.0.1", "GatewayIPv6": "fd00:1::1",
        "StaticRoutes": [{"Destination": "10.9.0.0/16", "RouteType": 0, "NextHop": "10.1.0.254"},
                         {"Destination": "10.1.0.254/32", "RouteType": 1}],
        "DisableGatewayService": True,
    })
    assert info.src_name == "veth1" and info.dst_prefix == "wv"
    assert info.gateway_v4 == ip("10.1.0.1") and info.gateway_v6 == ip("fd00:1::1")
    assert info.static_routes == (StaticRoute(net("10.9.0.0/16"), ip("10.1.0.254")),
                                  StaticRoute(net("10.1.0.254/32"), None))
    bare = wire.join_info({"InterfaceName": {"SrcName": "v"}})
    assert bare.dst_prefix == "eth" and bare.gateway_v4 is None and bare.static_routes == ()
    assert wire.join_info({}).src_name is None


@pytest.mark.parametrize("reply, text", [
    ({"Gateway": "10.1.0.300"}, 'unable to parse Gateway "10.1.0.300"'),
    ({"Gateway": "fd00::1"}, "expected an IPv4 address"),
    ({"Gateway": 5}, "Gateway: expected a string"),
    ({"InterfaceName": "veth1"}, "InterfaceName: expected an object"),
    ({"StaticRoutes": [{"Destination": "x"}]}, "invalid Destination"),
    ({"StaticRoutes": [{"Destination": "10.0.0.0/8", "RouteType": 0}]}, "failed to parse nexthop IP"),
    ({"StaticRoutes": [{"Destination": "10.0.0.0/8", "RouteType": 7}]}, "RouteType must be 0"),
    ({"StaticRoutes": {}}, "StaticRoutes: expected a list"),
])
def test_bad_join_replies(reply, text):
    with pytest.raises(BadReply, match=text):
        wire.join_info(reply)


# -- IpamDriver ------------------------------------------------------------------------

def test_ipam_requests():
    assert ipam_remote.request_pool(PoolRequest("LocalDefault")) == {
        "AddressSpace": "LocalDefault", "Pool": "", "SubPool": "", "Options": None, "V6": False}
    assert ipam_remote.request_pool(PoolRequest("S", net("10.0.0.0/16"), net("10.0.1.0/24"), {"k": "v"}, True)) == {
        "AddressSpace": "S", "Pool": "10.0.0.0/16", "SubPool": "10.0.1.0/24", "Options": {"k": "v"}, "V6": True}
    assert ipam_remote.request_address(AddressRequest("p1")) == {"PoolID": "p1", "Address": "", "Options": None}
    gateway = AddressRequest("p1", ip("10.0.0.1"), {"RequestAddressType": "com.docker.network.gateway"})
    assert ipam_remote.request_address(gateway) == {
        "PoolID": "p1", "Address": "10.0.0.1", "Options": {"RequestAddressType": "com.docker.network.gateway"}}
    assert ipam_remote.release_address("p1", ip("10.0.0.1")) == {"PoolID": "p1", "Address": "10.0.0.1"}


def test_ipam_replies():
    pool = ipam_remote.pool({"PoolID": "x/10.0.0.0/16", "Pool": "10.0.0.0/16", "Data": {"a": "b"}})
    assert (pool.pool_id, pool.pool, dict(pool.meta)) == ("x/10.0.0.0/16", net("10.0.0.0/16"), {"a": "b"})
    assert ipam_remote.address({"Address": "10.0.0.7/16"}) == iface("10.0.0.7/16")
    with pytest.raises(errors.NoAvailableAddress, match="No address returned"):
        ipam_remote.address({"Address": ""})
    with pytest.raises(BadReply, match="invalid CIDR address: 10.0.0.7"):
        ipam_remote.address({"Address": "10.0.0.7"})
    with pytest.raises(BadReply, match="PoolID is empty"):
        ipam_remote.pool({"Pool": "10.0.0.0/16"})
    assert ipam_remote.capabilities({"RequiresMACAddress": True}).requires_mac_address
    assert ipam_remote.capabilities({}).restore_by_replay is False
    assert ipam_remote.address_spaces({"LocalDefaultAddressSpace": "L", "GlobalDefaultAddressSpace": "G"}) == \
        ("L", "G")


# -- the drivers over HTTP --------------------------------------------------------------

@pytest.fixture
def plugin():
    directory = f"/tmp/cnmw-{os.getpid()}-{time.monotonic_ns() % 10**8}"
    os.makedirs(directory)
    fake = FakePlugin({"Plugin.Activate": lambda body: {"Implements": ["NetworkDriver", "IpamDriver"]}})
    server = serve(os.path.join(directory, "fake.sock"), fake)
    yield fake, Registry((directory,), timeout=2, retry_window=0.5)
    server.shutdown()
    server.server_close()
    os.unlink(os.path.join(directory, "fake.sock"))
    os.rmdir(directory)


def test_remote_driver_registration_and_calls(plugin):
    fake, registry = plugin
    fake.routes.update({
        "NetworkDriver.GetCapabilities": lambda body: {"Scope": "local"},
        "NetworkDriver.CreateNetwork": lambda body: {},
        "NetworkDriver.CreateEndpoint": lambda body: {"Interface": {"MacAddress": "02:42:0a:01:00:02"}},
        "NetworkDriver.Join": lambda body: {"InterfaceName": {"SrcName": "tap0", "DstPrefix": "eth"},
                                            "Gateway": "10.1.0.1"},
    })
    driver = remote.connect(registry, "fake")
    assert isinstance(driver, ExternalConnectivity) and isinstance(driver, NodeDiscovery)
    assert driver.capabilities().restore_by_replay is False
    driver.create_network(network_config())
    assert fake.last("NetworkDriver.CreateNetwork").body["NetworkID"] == "n1"
    info = driver.create_endpoint(EndpointConfig("n1", "e1", iface("10.1.0.2/24")))
    assert info.mac == "02:42:0a:01:00:02"
    join = driver.join("n1", "e1", SandboxInfo("s", "/run/x"))
    assert join.src_name == "tap0" and join.gateway_v4 == ip("10.1.0.1")
    # Optional calls a plugin does not implement (404) are not errors, as in Docker.
    driver.program_external_connectivity("n1", "e1", ())
    driver.revoke_external_connectivity("n1", "e1")
    with pytest.raises(errors.PluginError, match='remote plugin "fake": NetworkDriver.Leave: 404 page not found'):
        driver.leave("n1", "e1")


def test_a_reply_the_daemon_cannot_take_is_undone_by_the_driver(plugin):
    fake, registry = plugin
    fake.routes.update({
        "NetworkDriver.GetCapabilities": lambda body: {"Scope": "local"},
        "NetworkDriver.CreateEndpoint": lambda body: {"Interface": {"Address": "10.9.9.9/24"}},
        "NetworkDriver.DeleteEndpoint": lambda body: {},
        "NetworkDriver.Join": lambda body: {"InterfaceName": {"SrcName": "tap0"}, "Gateway": "nope"},
        "NetworkDriver.Leave": lambda body: {"Err": "cannot leave"},
    })
    driver = remote.connect(registry, "fake")
    with pytest.raises(errors.PluginError) as err:
        driver.create_endpoint(EndpointConfig("n1", "e1", iface("10.1.0.2/24")))
    assert err.value.message.startswith('remote plugin "fake": NetworkDriver.CreateEndpoint: driver modified')
    assert err.value.message.endswith("; rolled back")
    assert fake.last("NetworkDriver.DeleteEndpoint").body == {"NetworkID": "n1", "EndpointID": "e1"}
    with pytest.raises(errors.PluginError, match='unable to parse Gateway "nope"; failed to roll back: .*cannot leave'):
        driver.join("n1", "e1", SandboxInfo("s", "/run/x"))


def test_bad_capabilities_are_not_registered(plugin):
    fake, registry = plugin
    fake.routes["NetworkDriver.GetCapabilities"] = lambda body: {"Scope": "cluster"}
    with pytest.raises(errors.PluginError, match="invalid capability"):
        remote.connect(registry, "fake")
    fake.routes["NetworkDriver.GetCapabilities"] = lambda body: {"Scope": "global"}
    assert remote.connect(registry, "fake").capabilities().scope == "global"
    assert fake.calls().count("Plugin.Activate") == 2


def test_remote_ipam_over_http(plugin):
    fake, registry = plugin
    fake.routes.update({
        "IpamDriver.GetDefaultAddressSpaces": lambda body: {"LocalDefaultAddressSpace": "L",
                                                            "GlobalDefaultAddressSpace": "G"},
        "IpamDriver.RequestPool": lambda body: {"PoolID": "L/10.5.0.0/16", "Pool": "10.5.0.0/16", "Data": {}},
        "IpamDriver.RequestAddress": lambda body: {"Address": "10.5.0.1/16"},
        "IpamDriver.ReleaseAddress": lambda body: {"Error": "not allocated"},
    })
    ipam = ipam_remote.connect(registry, "fake")
    # No GetCapabilities (404): none, as in Docker.
    assert ipam.capabilities().requires_mac_address is False
    assert ipam.default_address_spaces() == ("L", "G")
    pool = ipam.request_pool(PoolRequest("L"))
    assert pool.pool == net("10.5.0.0/16")
    assert ipam.request_address(AddressRequest(pool.pool_id)) == iface("10.5.0.1/16")
    with pytest.raises(errors.PluginError, match=r'^remote plugin "fake": IpamDriver.ReleaseAddress: not allocated$'):
        ipam.release_address(pool.pool_id, ip("10.5.0.1"))
