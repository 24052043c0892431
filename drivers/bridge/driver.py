"""The ``bridge`` driver: a Linux bridge per network, a veth pair per endpoint."""

from __future__ import annotations

import logging

from libnetwork.drivers.api import (
    Capabilities, DriverContext, EndpointConfig, EndpointInfo, JoinInfo, NetworkConfig, SandboxInfo,
)
from libnetwork.errors import Forbidden, NotFound
from libnetwork.netlink import Netlink

from .config import parse_options
from .steps import NETWORK_SETUP, BridgeNetwork, mac_from_id, mac_from_ipv4, veth_names

log = logging.getLogger(__name__)


class BridgeDriver:
    name = "bridge"

    def __init__(self, context: DriverContext):
        self.context = context
        self.networks: dict[str, BridgeNetwork] = {}
        self.endpoints: dict[str, tuple[str, EndpointConfig]] = {}
        self._netlink: Netlink | None = None

    @property
    def netlink(self) -> Netlink:
        # Opened on first use, inside the controller's kernel worker thread.
        if self._netlink is None:
            self._netlink = Netlink()
        return self._netlink

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def create_network(self, config: NetworkConfig) -> None:
        if len(config.ipv4) > 1 or len(config.ipv6) > 1:
            raise Forbidden("bridge driver doesn't support multiple subnets")
        bridge = parse_options(
            config.nid, config.options, default_mtu=self.context.mtu,
            default_bridge_name=self.context.default_bridge_name if config.default_bridge else None,
        )
        self._check_conflicts(config, bridge.bridge_name)
        net = BridgeNetwork(config, bridge)
        for step in NETWORK_SETUP:
            step(self.netlink, net)
        self.networks[config.nid] = net

    def _check_conflicts(self, config: NetworkConfig, bridge_name: str) -> None:
        for other in self.networks.values():
            if other.config.nid == config.nid:
                continue
            reason = None
            if other.bridge.bridge_name == bridge_name:
                reason = "networks have same bridge name"
            elif any(a.subnet.overlaps(b.subnet) for a in config.ipv4 for b in other.config.ipv4):
                reason = "networks have overlapping IPv4"
            elif config.enable_ipv6 and other.config.enable_ipv6 and any(
                    a.subnet.overlaps(b.subnet) for a in config.ipv6 for b in other.config.ipv6):
                reason = "networks have overlapping IPv6"
            if reason:
                raise Forbidden(
                    f"cannot create network {config.nid} ({bridge_name}): conflicts with network "
                    f"{other.config.nid} ({other.bridge.bridge_name}): {reason}")

    def delete_network(self, nid: str) -> None:
        net = self.networks.pop(nid, None)
        if net is not None:
            self.netlink.remove_link(net.bridge.bridge_name)

    def _network(self, nid: str) -> BridgeNetwork:
        try:
            return self.networks[nid]
        except KeyError:
            raise NotFound(f"network {nid} not found") from None

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo:
        self._network(config.nid)
        mac = config.mac or (mac_from_ipv4(config.ipv4.ip) if config.ipv4 else mac_from_id(config.eid))
        self.endpoints[config.eid] = (mac, config)
        return EndpointInfo(mac=mac)

    def delete_endpoint(self, nid: str, eid: str) -> None:
        self.endpoints.pop(eid, None)
        host_side, _ = veth_names(eid)
        self.netlink.remove_link(host_side)

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo:
        net = self._network(nid)
        mac, _ = self.endpoints[eid]
        host_side, sandbox_side = veth_names(eid)
        bridge = self.netlink.find_link(net.bridge.bridge_name)
        self.netlink.ensure_veth(host_side, sandbox_side, mtu=net.bridge.mtu,
                                 master=bridge.index, peer_mac=mac)
        gw4 = next((s.gateway.ip for s in net.config.ipv4 if s.gateway), None)
        gw6 = next((s.gateway.ip for s in net.config.ipv6 if s.gateway), None) if net.config.enable_ipv6 else None
        if net.config.internal:
            gw4 = gw6 = None
        return JoinInfo(src_name=sandbox_side, dst_prefix=net.bridge.iface_prefix,
                        gateway_v4=gw4, gateway_v6=gw6, mtu=net.bridge.mtu)

    def leave(self, nid: str, eid: str) -> None:
        pass
