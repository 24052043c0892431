"""The ``bridge`` driver: a Linux bridge per network, a veth pair per endpoint.

Firewall rules go through the context's firewall backend (nftables, or the
null one of ``--iptables=false``); published ports are reserved by the port
mapper and forwarded by the firewall.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from libnetwork.drivers.api import (
    Capabilities,
    DriverContext,
    EndpointConfig,
    EndpointInfo,
    JoinInfo,
    NetworkConfig,
    PortBinding,
    SandboxInfo,
)
from libnetwork.errors import Forbidden, NotFound
from libnetwork.firewall.api import Ruleset
from libnetwork.netlink import Netlink, read_sysctl

from .config import parse_options
from .portallocator import DEFAULT_RANGE, parse_port_range
from .portmapper import Mapped, PortMapper
from .steps import NETWORK_SETUP, NETWORK_TEARDOWN, BridgeNetwork, Host, mac_from_id, mac_from_ipv4, veth_names

log = logging.getLogger(__name__)


class BridgeDriver:
    name = "bridge"

    def __init__(self, context: DriverContext):
        self.context = context
        self.firewall = context.firewall
        self.networks: dict[str, BridgeNetwork] = {}
        self.endpoints: dict[str, tuple[str, EndpointConfig]] = {}
        # Per endpoint: the bridge port isolated for ICC off, the ports published.
        self.isolated: dict[str, str] = {}
        self.published: dict[str, list[Mapped]] = {}
        # network -> its bridge's interface index, so a join needs no lookup.
        self._bridge_index: dict[str, int] = {}
        self._host: Host | None = None
        self._ports: PortMapper | None = None

    @property
    def host(self) -> Host:
        # Opened on first use, inside the controller's kernel worker thread.
        if self._host is None:
            self._host = Host(Netlink(), self.firewall)
        return self._host

    @property
    def netlink(self) -> Netlink:
        return self.host.netlink

    @property
    def ports(self) -> PortMapper:
        if self._ports is None:
            try:
                ephemeral = parse_port_range(read_sysctl("net/ipv4/ip_local_port_range"))
            except OSError:
                ephemeral = DEFAULT_RANGE
            self._ports = PortMapper(ephemeral)
        return self._ports

    def capabilities(self) -> Capabilities:
        return Capabilities()

    # -- networks --------------------------------------------------------------

    def create_network(self, config: NetworkConfig) -> None:
        if len(config.ipv4) > 1 or len(config.ipv6) > 1:
            raise Forbidden("bridge driver doesn't support multiple subnets")
        ctx = self.context
        default = config.default_bridge
        bridge = parse_options(
            config.nid, config.options, default_mtu=ctx.mtu,
            default_bridge_name=ctx.default_bridge_name if default else None,
            default_icc=ctx.icc if default else True, default_masquerade=ctx.ip_masq if default else True,
            default_binding_ip=ctx.default_binding_ip,
        )
        self._check_conflicts(config, bridge.bridge_name)
        net = BridgeNetwork(config, bridge)
        # Known before the first step, so that the controller's undo
        # (delete_network) removes whatever the steps made.
        self.networks[config.nid] = net
        for step in NETWORK_SETUP:
            step(self.host, net)

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
        net = self.networks.get(nid)
        if net is None:
            return
        for step in NETWORK_TEARDOWN:
            step(self.host, net)
        del self.networks[nid]
        self._bridge_index.pop(nid, None)

    def remove_leftovers(self, network: NetworkConfig, endpoint_ids: Sequence[str]) -> list[str]:
        """``cnmd --cleanup``: the host side of the endpoints' veth pairs, then the bridge."""
        failures = []
        for eid in endpoint_ids:
            try:
                self.netlink.remove_link(veth_names(eid)[0])
            except Exception as err:  # cleanup goes on and reports every failure
                failures.append(f"{veth_names(eid)[0]}: {err}")
        try:
            default_name = self.context.default_bridge_name if network.default_bridge else None
            bridge = parse_options(network.nid, network.options, default_mtu=self.context.mtu,
                                   default_bridge_name=default_name)
            link = self.netlink.find_link(bridge.bridge_name)
            if link is not None and link.kind == "bridge":
                self.netlink.remove_link(bridge.bridge_name)
                log.info("bridge removed", extra={"bridge": bridge.bridge_name})
        except Exception as err:  # as above
            failures.append(f"{network.name}: {err}")
        return failures

    def _network(self, nid: str) -> BridgeNetwork:
        try:
            return self.networks[nid]
        except KeyError:
            raise NotFound(f"network {nid} not found") from None

    # -- endpoints -------------------------------------------------------------

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo:
        self._network(config.nid)
        mac = config.mac or (mac_from_ipv4(config.ipv4.ip) if config.ipv4 else mac_from_id(config.eid))
        self.endpoints[config.eid] = (mac, config)
        return EndpointInfo(mac=mac)

    def delete_endpoint(self, nid: str, eid: str) -> None:
        self.revoke_external_connectivity(nid, eid)
        port = self.isolated.pop(eid, None)
        if port is not None:
            self.firewall.release_port(port)
        self.endpoints.pop(eid, None)
        host_side, _ = veth_names(eid)
        self.netlink.remove_link(host_side)

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo:
        net = self._network(nid)
        mac, _ = self.endpoints[eid]
        host_side, sandbox_side = veth_names(eid)
        if not net.bridge.enable_icc and eid not in self.isolated:
            self.firewall.isolate_port(host_side)
            self.isolated[eid] = host_side
        cached = nid in self._bridge_index
        try:
            self._plug(net, host_side, sandbox_side, mac, sandbox.netns_path)
        except Exception:
            if not cached:
                raise
            # The bridge may have been made again under a new index (deleted by
            # hand, then restored): look it up once more; a real failure repeats.
            self._bridge_index.pop(nid, None)
            self._plug(net, host_side, sandbox_side, mac, sandbox.netns_path)
        gw4, gw6 = net.gateways()
        return JoinInfo(src_name=sandbox_side, dst_prefix=net.bridge.iface_prefix,
                        gateway_v4=gw4, gateway_v6=gw6, mtu=net.bridge.mtu)

    def _plug(self, net: BridgeNetwork, host_side: str, sandbox_side: str, mac: str, netns_path: str) -> None:
        nid = net.config.nid
        index = self._bridge_index.get(nid)
        if index is None:
            bridge = self.netlink.find_link(net.bridge.bridge_name)
            if bridge is None:
                raise NotFound(f"bridge {net.bridge.bridge_name} of network {nid} not found")
            index = self._bridge_index[nid] = bridge.index
        self.netlink.ensure_veth(host_side, sandbox_side, mtu=net.bridge.mtu, master=index,
                                 peer_mac=mac, peer_netns=netns_path)

    def leave(self, nid: str, eid: str) -> None:
        pass

    # -- published ports ---------------------------------------------------------

    def program_external_connectivity(self, nid: str, eid: str,
                                      bindings: tuple[PortBinding, ...]) -> tuple[PortBinding, ...]:
        if eid in self.published:
            return tuple(m.binding for m in self.published[eid])
        net = self._network(nid)
        if net.config.internal or not bindings:
            return ()  # an internal network has no way in (Docker publishes nothing there)
        _, config = self.endpoints[eid]
        v4 = config.ipv4.ip if config.ipv4 else None
        v6 = config.ipv6.ip if config.ipv6 and net.config.enable_ipv6 else None
        mapped = self.ports.map(bindings, v4, v6, net.bridge.host_binding_ipv4)
        try:
            # A sandbox reaching its own published port comes back through its
            # own bridge port (bridged, with br_netfilter, not routed).
            port = self.netlink.find_link(veth_names(eid)[0])
            if port is not None:
                self.netlink.set_hairpin(port.index)
            self.firewall.add_ports(tuple(m.rule for m in mapped))
        except BaseException:
            self.ports.unmap(mapped)
            raise
        self.published[eid] = mapped
        return tuple(m.binding for m in mapped)

    def revoke_external_connectivity(self, nid: str, eid: str) -> None:
        mapped = self.published.get(eid)
        if not mapped:
            self.published.pop(eid, None)
            return
        self.firewall.remove_ports(tuple(m.rule for m in mapped))
        self.ports.unmap(mapped)
        del self.published[eid]

    # -- restart -----------------------------------------------------------------

    def restore_done(self) -> None:
        self.firewall.reconcile(self.desired_ruleset())

    def desired_ruleset(self) -> Ruleset:
        return Ruleset(
            networks=tuple(net.firewall_rules() for net in self.networks.values()),
            isolated_ports=tuple(self.isolated.values()),
            ports=tuple(m.rule for mapped in self.published.values() for m in mapped),
        )
