"""Docker's ``NetworkDriver.*`` JSON, field by field, both ways.

Requests are built from the driver contract's dataclasses and replies are
read back into them; nothing here does I/O.  Field names, casing and value
formats are those of moby's ``libnetwork/drivers/remote/api`` and of what
its remote driver sends (v26):

* addresses in ``IPv4Data``/``IPv6Data`` (Gateway, AuxAddresses) and in the
  endpoint ``Interface`` are CIDR strings with the pool's prefix;
* ``Gateway``/``GatewayIPv6``/``NextHop`` in a Join reply are bare addresses;
* network ``Options`` carry the user's ``-o`` options under
  ``com.docker.network.generic`` beside ``com.docker.network.enable_ipv6``
  (and ``com.docker.network.internal`` when set);
* a static route has ``RouteType`` 0 (via ``NextHop``) or 1 (connected).

A reply that does not fit raises ``BadReply``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from libnetwork.drivers.api import (
    GLOBAL_SCOPE,
    LOCAL_SCOPE,
    Capabilities,
    EndpointConfig,
    EndpointInfo,
    JoinInfo,
    NetworkConfig,
    SandboxInfo,
    StaticRoute,
    SubnetData,
)
from libnetwork.v1plugins import BadReply

GENERIC = "com.docker.network.generic"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
INTERNAL = "com.docker.network.internal"
PORT_MAP = "com.docker.network.portmap"
EXPOSED_PORTS = "com.docker.network.endpoint.exposedports"

ROUTE_NEXTHOP = 0
ROUTE_CONNECTED = 1
# libnetwork types.Protocol: IP protocol numbers.
PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}
NODE_DISCOVERY = 1

_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadReply(f"{key}: expected a string, got {value!r}")
    return value


def _object(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, dict):
        raise BadReply(f"{key}: expected an object, got {value!r}")
    return value


# -- requests -------------------------------------------------------------------

def ipam_data(subnets: Iterable[SubnetData]) -> list[dict[str, Any]]:
    """driverapi.IPAMData as its MarshalJSON writes it: absent fields are left out."""
    data = []
    for s in subnets:
        entry: dict[str, Any] = {"AddressSpace": s.address_space, "Pool": str(s.subnet)}
        if s.gateway is not None:
            entry["Gateway"] = f"{s.gateway.ip}/{s.subnet.prefixlen}"
        if s.aux_addresses:
            entry["AuxAddresses"] = {k: f"{v}/{s.subnet.prefixlen}" for k, v in s.aux_addresses.items()}
        data.append(entry)
    return data


def create_network(config: NetworkConfig) -> dict[str, Any]:
    options: dict[str, Any] = {ENABLE_IPV6: config.enable_ipv6, GENERIC: dict(config.options)}
    if config.internal:
        options[INTERNAL] = True
    return {"NetworkID": config.nid, "Options": options,
            "IPv4Data": ipam_data(config.ipv4), "IPv6Data": ipam_data(config.ipv6)}


def network_id(nid: str) -> dict[str, Any]:
    return {"NetworkID": nid}


def endpoint_id(nid: str, eid: str) -> dict[str, Any]:
    return {"NetworkID": nid, "EndpointID": eid}


def create_endpoint(config: EndpointConfig) -> dict[str, Any]:
    return {
        "NetworkID": config.nid, "EndpointID": config.eid,
        "Interface": {
            "Address": str(config.ipv4) if config.ipv4 else "",
            "AddressIPv6": str(config.ipv6) if config.ipv6 else "",
            "MacAddress": config.mac or "",
        },
        "Options": dict(config.options),
    }


def join(nid: str, eid: str, sandbox: SandboxInfo) -> dict[str, Any]:
    # Docker sends the sandbox's labels as Options; a sandbox here has none
    # beyond its published ports, which go to ProgramExternalConnectivity.
    return {"NetworkID": nid, "EndpointID": eid, "SandboxKey": sandbox.netns_path, "Options": {}}


def port_options(bindings: Iterable[Any]) -> dict[str, Any]:
    """A sandbox's published ports as Docker's sandbox labels carry them (types.PortBinding)."""
    portmap, exposed = [], []
    for b in bindings:
        proto = PROTOCOLS.get(b.proto, 0)
        portmap.append({"Proto": proto, "IP": "", "Port": b.container_port, "HostIP": b.host_ip,
                        "HostPort": b.host_port, "HostPortEnd": b.host_port_end})
        port = {"Proto": proto, "Port": b.container_port}
        if port not in exposed:
            exposed.append(port)
    return {PORT_MAP: portmap, EXPOSED_PORTS: exposed}


def program_external_connectivity(nid: str, eid: str, bindings: Iterable[Any]) -> dict[str, Any]:
    return {"NetworkID": nid, "EndpointID": eid, "Options": port_options(bindings)}


def node_discovery(address: str, bind_address: str = "", self_node: bool = False) -> dict[str, Any]:
    return {"DiscoveryType": NODE_DISCOVERY,
            "DiscoveryData": {"Address": address, "BindAddress": bind_address, "Self": self_node}}


# -- replies --------------------------------------------------------------------

def capabilities(reply: Mapping[str, Any]) -> Capabilities:
    scope = _text(reply, "Scope")
    if scope not in (LOCAL_SCOPE, GLOBAL_SCOPE):
        raise BadReply(f"invalid capability: expecting 'local' or 'global', got {scope}")
    connectivity = _text(reply, "ConnectivityScope") or scope
    if connectivity not in (LOCAL_SCOPE, GLOBAL_SCOPE):
        raise BadReply(f"invalid capability: expecting 'local' or 'global', got {connectivity}")
    # A Docker plugin keeps its own state across restarts and is not told
    # about the same network twice.
    return Capabilities(scope=scope, connectivity_scope=connectivity, restore_by_replay=False,
                        own_worker=True)


def mac_address(text: str) -> str:
    if not _MAC.match(text):
        raise BadReply(f"invalid MAC address {text!r}")
    return text.replace("-", ":").lower()


def endpoint_info(reply: Mapping[str, Any], sent: EndpointConfig) -> EndpointInfo:
    """What a CreateEndpoint reply may set: only what the daemon left empty.

    The daemon's IPAM has always chosen the addresses, so an address in the
    reply is refused, as Docker refuses to overwrite one; a MAC address is
    taken when the user gave none.
    """
    iface = _object(reply, "Interface")
    if iface is None:
        return EndpointInfo(mac=sent.mac)
    for key, ours in (("Address", sent.ipv4), ("AddressIPv6", sent.ipv6)):
        theirs = _text(iface, key)
        if theirs:
            raise BadReply(f"driver modified interface address: endpoint interface {key} "
                           f"present ({ours or 'none'}); cannot be modified with ({theirs})")
    mac = _text(iface, "MacAddress")
    if not mac:
        return EndpointInfo(mac=sent.mac)
    mac = mac_address(mac)
    if sent.mac and mac != sent.mac.lower():
        raise BadReply(f"driver modified interface MAC address: endpoint interface MAC address present "
                       f"({sent.mac}); cannot be modified with ({mac})")
    return EndpointInfo(mac=mac)


_IP = TypeVar("_IP", ipaddress.IPv4Address, ipaddress.IPv6Address)


def _address(text: str, key: str, family: type[_IP]) -> _IP | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise BadReply(f'unable to parse {key} "{text}"') from None
    if not isinstance(address, family):
        version = 4 if family is ipaddress.IPv4Address else 6
        raise BadReply(f"{key}: expected an IPv{version} address, got {text}")
    return address


def static_route(raw: Any) -> StaticRoute:
    if not isinstance(raw, dict):
        raise BadReply(f"StaticRoutes: expected objects, got {raw!r}")
    destination = _text(raw, "Destination")
    try:
        network = ipaddress.ip_network(destination, strict=False)
    except ValueError:
        raise BadReply(f"StaticRoutes: invalid Destination {destination!r}") from None
    kind = raw.get("RouteType", ROUTE_NEXTHOP)
    if kind == ROUTE_CONNECTED:
        return StaticRoute(network, None)
    if kind != ROUTE_NEXTHOP:
        raise BadReply(f"StaticRoutes: RouteType must be 0 (next hop) or 1 (connected), got {kind!r}")
    next_hop = _text(raw, "NextHop")
    try:
        hop = ipaddress.ip_address(next_hop)
    except ValueError:
        raise BadReply(f"failed to parse nexthop IP {next_hop}") from None
    if hop.version != network.version:
        raise BadReply(f"StaticRoutes: NextHop {next_hop} is not of the family of {destination}")
    return StaticRoute(network, hop)


def join_info(reply: Mapping[str, Any]) -> JoinInfo:
    name = _object(reply, "InterfaceName")
    src_name = _text(name, "SrcName") if name else ""
    # An empty DstPrefix would name the interface "0" in Docker; eth is what was meant.
    prefix = (_text(name, "DstPrefix") if name else "") or "eth"
    routes = reply.get("StaticRoutes")
    routes = [] if routes is None else routes
    if not isinstance(routes, list):
        raise BadReply(f"StaticRoutes: expected a list, got {routes!r}")
    disable = reply.get("DisableGatewayService", False)
    if not isinstance(disable, bool):
        raise BadReply(f"DisableGatewayService: expected a boolean, got {disable!r}")
    # DisableGatewayService turns off Docker's docker_gwbridge fallback for
    # sandboxes without a gateway; there is no such fallback here.
    return JoinInfo(
        src_name=src_name or None, dst_prefix=prefix,
        gateway_v4=_address(_text(reply, "Gateway"), "Gateway", ipaddress.IPv4Address),
        gateway_v6=_address(_text(reply, "GatewayIPv6"), "GatewayIPv6", ipaddress.IPv6Address),
        static_routes=tuple(static_route(r) for r in routes),
    )
