"""The ``ptp`` driver: one veth pair per endpoint, routed through the host, no bridge.

The layout of the CNI ``ptp`` plugin: the host side of every endpoint's
veth carries the network's gateway address as a /32, the host routes each
endpoint's address (/32) to its veth, and the sandbox reaches everything,
its own subnet included, through the gateway.  Two sandboxes of one network
talk through the host's routing table, never on a shared L2 segment.

Options (``network create -d ptp -o KEY=VALUE``):

    ptp.mtu     MTU of the veth pairs (default: the daemon's --mtu)

Written as a third party would: it imports the driver contract, the error
classes and the netlink helpers of cnmd, nothing else of it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from libnetwork.drivers.api import (
    Capabilities,
    DriverContext,
    EndpointConfig,
    EndpointInfo,
    JoinInfo,
    NetworkConfig,
    SandboxInfo,
    StaticRoute,
)
from libnetwork.errors import Forbidden, InvalidParameter, NotFound
from libnetwork.netlink import Netlink

MTU_OPTION = "ptp.mtu"
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


@dataclass(frozen=True)
class _Network:
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    mtu: int
    internal: bool


def veth_names(eid: str) -> tuple[str, str]:
    """(host side, sandbox side before the move): fixed per endpoint, so a replayed join finds them."""
    return f"ptp{eid[:8]}", f"ptc{eid[:8]}"


def mac_for(address: ipaddress.IPv4Address) -> str:
    # Locally administered and fixed by the address: the same after a restart.
    return "02:50:" + ":".join(f"{b:02x}" for b in address.packed)


def parse_mtu(options, default: int) -> int:
    unknown = sorted(k for k in options if k != MTU_OPTION)
    if unknown:
        raise InvalidParameter(f"ptp: unknown option {unknown[0]!r} (the one option is {MTU_OPTION})")
    text = options.get(MTU_OPTION)
    if text is None:
        return default
    try:
        mtu = int(text)
    except ValueError:
        mtu = 0
    if not 68 <= mtu <= 65535:
        raise InvalidParameter(f"ptp: invalid {MTU_OPTION} {text!r}: an integer from 68 to 65535")
    return mtu


class PtpDriver:
    name = "ptp"

    def __init__(self, context: DriverContext):
        self.context = context
        self.networks: dict[str, _Network] = {}
        self.endpoints: dict[str, EndpointConfig] = {}
        self._netlink: Netlink | None = None

    @property
    def netlink(self) -> Netlink:
        # Opened on first use, in the daemon's kernel worker thread, in its namespace.
        if self._netlink is None:
            self._netlink = Netlink()
        return self._netlink

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def create_network(self, config: NetworkConfig) -> None:
        if config.enable_ipv6 or config.ipv6:
            raise InvalidParameter("ptp: IPv6 is not supported")
        subnet = config.ipv4[0].subnet if len(config.ipv4) == 1 else None
        gateway = config.ipv4[0].gateway if len(config.ipv4) == 1 else None
        if not isinstance(subnet, ipaddress.IPv4Network) or not isinstance(gateway, ipaddress.IPv4Interface):
            raise Forbidden("ptp driver needs exactly one IPv4 subnet with a gateway")
        mtu = parse_mtu(config.options, self.context.mtu)
        if not config.internal:
            # Sandboxes reach each other and the world through the host's routing.
            with open(IP_FORWARD, "w") as handle:
                handle.write("1\n")
        self.networks[config.nid] = _Network(subnet, gateway.ip, mtu, config.internal)

    def delete_network(self, nid: str) -> None:
        self.networks.pop(nid, None)

    def _network(self, nid: str) -> _Network:
        try:
            return self.networks[nid]
        except KeyError:
            raise NotFound(f"ptp: network {nid} not found") from None

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo:
        self._network(config.nid)
        if config.ipv4 is None:
            raise InvalidParameter("ptp: an endpoint needs an IPv4 address")
        self.endpoints[config.eid] = config
        return EndpointInfo(mac=config.mac or mac_for(config.ipv4.ip))

    def delete_endpoint(self, nid: str, eid: str) -> None:
        self.endpoints.pop(eid, None)
        # Removing one end of a veth removes both, with the host routes through it.
        self.netlink.remove_link(veth_names(eid)[0])

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo:
        net = self._network(nid)
        try:
            endpoint = self.endpoints[eid]
        except KeyError:
            raise NotFound(f"ptp: endpoint {eid} not found") from None
        address = endpoint.ipv4
        assert address is not None  # create_endpoint took none without one
        host_side, sandbox_side = veth_names(eid)
        self.netlink.ensure_veth(host_side, sandbox_side, mtu=net.mtu,
                                 peer_mac=endpoint.mac or mac_for(address.ip))
        link = self.netlink.find_link(host_side)
        if link is None:
            raise FileNotFoundError(f"no link {host_side}")
        self.netlink.ensure_address(link.index, ipaddress.IPv4Interface(f"{net.gateway}/32"))
        self.netlink.ensure_route(ipaddress.IPv4Network(f"{address.ip}/32"), oif=link.index)
        return JoinInfo(
            src_name=sandbox_side, dst_prefix="eth", mtu=net.mtu,
            gateway_v4=None if net.internal else net.gateway,
            # The gateway on the link, then the subnet through it: this
            # replaces the on-link subnet route the address would bring.
            static_routes=(StaticRoute(ipaddress.IPv4Network(f"{net.gateway}/32")),
                           StaticRoute(net.subnet, net.gateway)),
        )

    def leave(self, nid: str, eid: str) -> None:
        # The sandbox layer removed the sandbox side, which took the host side along.
        pass
