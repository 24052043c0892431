"""The ``macvlan`` driver: every endpoint a macvlan child of one parent link.

A child has its own MAC address on the parent's segment, so a sandbox looks
like one more host on that LAN.  ``join`` makes the child in the daemon's
namespace; the sandbox layer moves it in and sets MAC, addresses and routes.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from libnetwork.drivers.api import (
    GLOBAL_SCOPE,
    LOCAL_SCOPE,
    Capabilities,
    DriverContext,
    EndpointConfig,
    EndpointInfo,
    JoinInfo,
    NetworkConfig,
    SandboxInfo,
    SubnetData,
)
from libnetwork.errors import Forbidden, Internal, InvalidParameter, NotFound
from libnetwork.netlink import Netlink

from .config import PASSTHRU, MacvlanConfig, parse_options
from .marks import child_mark, made_by_daemon
from .parent import ensure_parent, links_made_for
from .sharing import check_sharing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MacvlanNetwork:
    config: NetworkConfig
    macvlan: MacvlanConfig
    made_parent: bool

    @property
    def internal(self) -> bool:
        return self.config.internal or self.macvlan.placeholder


@dataclass(frozen=True)
class MacvlanEndpoint:
    config: EndpointConfig
    mac: str


def child_name(eid: str) -> str:
    """Fixed per endpoint, so a repeated join finds the child it made."""
    return f"macv{eid[:7]}"


def mac_from_ipv4(address: ipaddress.IPv4Address) -> str:
    """Docker <= 27 (GenerateMACFromIP): 02:42 and the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


def _gateway(address, subnets: tuple[SubnetData, ...]):
    """The gateway of the subnet the endpoint's address is in (a network may have several)."""
    if address is None:
        return None
    return next((s.gateway.ip for s in subnets if s.gateway is not None and address.ip in s.subnet), None)


class MacvlanDriver:
    name = "macvlan"

    def __init__(self, context: DriverContext):
        self.context = context
        self.networks: dict[str, MacvlanNetwork] = {}
        self.endpoints: dict[str, MacvlanEndpoint] = {}
        self._netlink: Netlink | None = None

    @property
    def netlink(self) -> Netlink:
        # Opened on first use, inside the controller's kernel worker thread.
        if self._netlink is None:
            self._netlink = Netlink()
        return self._netlink

    def capabilities(self) -> Capabilities:
        # Addresses are this host's business; the segment itself reaches other hosts.
        return Capabilities(scope=LOCAL_SCOPE, connectivity_scope=GLOBAL_SCOPE)

    # -- networks --------------------------------------------------------------

    def create_network(self, config: NetworkConfig) -> None:
        if not config.ipv4:
            raise InvalidParameter("ipv4 pool is empty")
        macvlan = parse_options(config.nid, config.options)
        check_sharing(config, macvlan, self.networks.values())
        made = ensure_parent(self.netlink, config.nid, macvlan)
        self.networks[config.nid] = MacvlanNetwork(config, macvlan, made)
        log.debug("macvlan network ready", extra={"network": config.nid[:12], "parent": macvlan.parent,
                                                  "mode": macvlan.mode, "parent_made": made})

    def restore_done(self) -> None:
        """After a start, links this driver made that no record asks for (a crash, a lost data root) go."""
        wanted = {n.macvlan.parent for n in self.networks.values()} | {child_name(eid) for eid in self.endpoints}
        for link in self.netlink.links():
            if made_by_daemon(link) and link.name not in wanted:
                log.info("removing a link no network asks for", extra={"link": link.name, "mark": link.alias})
                self.netlink.remove_link(link.name)

    def delete_network(self, nid: str) -> None:
        net = self.networks.pop(nid, None)
        if net is None:
            # Rolled back before create_network finished (or was replayed): the mark says what it made.
            made = links_made_for(self.netlink, nid)
        else:
            made = [net.macvlan.parent] if net.made_parent else []
        still_used = {other.macvlan.parent for other in self.networks.values()}
        for name in made:
            if name not in still_used:
                self.netlink.remove_link(name)

    def _network(self, nid: str) -> MacvlanNetwork:
        try:
            return self.networks[nid]
        except KeyError:
            raise NotFound(f"network {nid} not found") from None

    # -- endpoints ---------------------------------------------------------------

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo:
        net = self._network(config.nid)
        if config.ipv4 is None:
            raise InvalidParameter("create endpoint was not passed an IP address")
        if net.macvlan.mode == PASSTHRU:
            self._check_passthru_free(net, config.eid)
        mac = config.mac or self._default_mac(net, config.ipv4)
        self.endpoints[config.eid] = MacvlanEndpoint(config, mac)
        return EndpointInfo(mac=mac)

    def _check_passthru_free(self, net: MacvlanNetwork, eid: str) -> None:
        # The kernel allows one passthru child per parent; say so instead of its EINVAL.
        holder = next((e for e in self.endpoints.values()
                       if e.config.nid == net.config.nid and e.config.eid != eid), None)
        if holder is not None:
            raise Forbidden(f"macvlan network {net.config.nid} is in mode passthru: parent interface "
                            f"{net.macvlan.parent} already serves endpoint {holder.config.eid}")

    def _default_mac(self, net: MacvlanNetwork, ipv4: ipaddress.IPv4Interface) -> str:
        if net.macvlan.mode == PASSTHRU:
            # A passthru child owns its parent's address, and setting another
            # one rewrites the parent's: keep the parent as the user left it.
            parent = self.netlink.find_link(net.macvlan.parent)
            if parent is not None and parent.mac:
                return parent.mac
        return mac_from_ipv4(ipv4.ip)

    def delete_endpoint(self, nid: str, eid: str) -> None:
        self.endpoints.pop(eid, None)
        # Only a child that never reached the sandbox is still here; the
        # sandbox layer removes the others with the sandbox's interface.
        self.netlink.remove_link(child_name(eid))

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo:
        net = self._network(nid)
        try:
            endpoint = self.endpoints[eid]
        except KeyError:
            raise NotFound(f"could not find endpoint with id {eid}") from None
        name = child_name(eid)
        if self.netlink.find_link(name) is not None or not self._in_sandbox(sandbox, eid):
            self._ensure_child(net, eid)
        gw4 = gw6 = None
        if not net.internal:
            gw4 = _gateway(endpoint.config.ipv4, net.config.ipv4)
            if net.config.enable_ipv6:
                gw6 = _gateway(endpoint.config.ipv6, net.config.ipv6)
        return JoinInfo(src_name=name, dst_prefix="eth", gateway_v4=gw4, gateway_v6=gw6)

    @staticmethod
    def _in_sandbox(sandbox: SandboxInfo, eid: str) -> bool:
        """A restart joins again, and the child made before lives in the sandbox by then.

        The sandbox layer names its interfaces with the endpoint ID (their
        alias); a second child would stay behind in the daemon's namespace,
        and a passthru parent would refuse it.
        """
        inside = Netlink(sandbox.netns_path)
        try:
            return inside.find_link_by_alias(eid) is not None
        finally:
            inside.close()

    def _ensure_child(self, net: MacvlanNetwork, eid: str) -> None:
        name = child_name(eid)
        parent = self.netlink.find_link(net.macvlan.parent)
        if parent is None:
            raise Internal(f"the requested parent interface {net.macvlan.parent} was not found on the Docker host")
        try:
            child = self.netlink.ensure_macvlan(name, parent.index, net.macvlan.mode)
        except OSError as err:
            raise Internal(f"failed to create the macvlan port: {err.strerror or err}") from None
        # A crash before the sandbox layer moves it would leave it here.
        self.netlink.set_alias(child.index, child_mark(eid))

    def leave(self, nid: str, eid: str) -> None:
        pass
