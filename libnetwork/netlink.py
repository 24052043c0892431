"""The one netlink layer: idempotent kernel steps over pyroute2.

Every ``ensure_*`` creates or verifies, every ``remove_*`` succeeds when the
object is already gone, so that the same steps serve a first run, a retry
and restart reconciliation.  A ``Netlink`` wraps one rtnetlink socket bound
to one namespace; sockets are opened once and reused.  Calls block: the
controller runs them in its kernel worker thread, never on the event loop.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import struct
from dataclasses import dataclass

from pyroute2 import IPRoute, NetlinkError, config, netns

from . import nshelper

log = logging.getLogger(__name__)

# pyroute2's own namespace helpers fork short children and stop them with
# SIGTERM (the daemon uses nshelper instead, but a third-party driver may call
# them).  A child that kept the daemon's asyncio signal handler would write
# that signal into the wakeup fd it shares with the daemon, which would then
# shut down; this makes the children take SIGTERM with the default action.
config.disable_mp_signal = True

_NETLINK_ROUTE = 0
_NETLINK_XFRM = 6
_AF_BRIDGE = 7
_NUD_NOARP, _NUD_PERMANENT = 0x40, 0x80
_NTF_SELF, _NTF_MASTER = 0x02, 0x04

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_GONE = (errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL)


class LinkKindUnsupported(OSError):
    """The running kernel has no driver for a link kind (not built in, no module)."""

    def __init__(self, kind: str):
        super().__init__(errno.EOPNOTSUPP, f"the kernel has no {kind} link support")
        self.kind = kind


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    kind: str | None
    master: int | None
    alias: str | None
    mac: str | None
    peer_index: int | None  # IFLA_LINK: for a veth, its peer (maybe in another netns)
    up: bool = False


def _link_from_msg(msg) -> Link:
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    return Link(
        index=msg["index"],
        name=msg.get_attr("IFLA_IFNAME"),
        kind=kind,
        master=msg.get_attr("IFLA_MASTER"),
        alias=msg.get_attr("IFLA_IFALIAS"),
        mac=msg.get_attr("IFLA_ADDRESS"),
        peer_index=msg.get_attr("IFLA_LINK"),
        up=bool(msg["flags"] & 1),  # IFF_UP
    )


@dataclass(frozen=True)
class Vxlan:
    """A VXLAN device's settings, as asked for or as found (``Netlink.find_vxlan``)."""

    vni: int
    port: int                                   # UDP destination port
    local: ipaddress.IPv4Address | None         # source address of the encapsulated packets
    mtu: int
    learning: bool = False                      # learn remote MACs from received packets
    proxy: bool = False                         # answer ARP / neighbour solicitations from the neighbour table


@dataclass(frozen=True)
class FdbEntry:
    """A static forwarding entry of a VXLAN device: frames to ``mac`` go to ``dst`` (a remote VTEP)."""

    mac: str
    dst: IPAddress


@dataclass(frozen=True)
class Neighbour:
    ip: IPAddress
    mac: str | None
    permanent: bool


def create_netns(path: str, sysctls: dict[str, str] | None = None) -> None:
    """Create a named network namespace bind-mounted at ``path`` (idempotent), with
    ``sysctls`` (keys under /proc/sys/net) set in it as it is born."""
    if is_netns(path):
        return
    nshelper.create_namespace(path, sysctls)


def set_netns_sysctls(path: str, sysctls: dict[str, str]) -> None:
    """Set ``sysctls`` (keys under /proc/sys/net) in the namespace at ``path``."""
    nshelper.set_sysctls(path, sysctls)


def remove_netns(path: str) -> None:
    try:
        netns.remove(path)
    except FileNotFoundError:
        pass


def is_netns(path: str) -> bool:
    """True when ``path`` is a live network namespace (an nsfs file)."""
    try:
        with open(path, "rb") as handle:
            import fcntl

            NS_GET_NSTYPE = 0xB703  # ioctl(2) on an nsfs fd
            return fcntl.ioctl(handle.fileno(), NS_GET_NSTYPE) == 0x40000000  # CLONE_NEWNET
    except OSError:
        return False


class Netlink:
    """Idempotent link, address and route steps in one namespace."""

    def __init__(self, netns_path: str | None = None):
        self.netns_path = netns_path
        if netns_path:
            [sock] = nshelper.open_sockets(netns_path, [(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_ROUTE)])
            self._ipr = IPRoute(fileno=sock.detach())
        else:
            self._ipr = IPRoute()

    def close(self) -> None:
        self._ipr.close()

    # -- links -------------------------------------------------------------

    def links(self) -> list[Link]:
        return [_link_from_msg(m) for m in self._ipr.link("dump")]

    def find_link(self, name: str) -> Link | None:
        try:
            return _link_from_msg(self._ipr.link("get", ifname=name)[0])
        except NetlinkError as err:
            if err.code in _GONE:
                return None
            raise

    def find_link_by_index(self, index: int) -> Link | None:
        try:
            return _link_from_msg(self._ipr.link("get", index=index)[0])
        except NetlinkError as err:
            if err.code in _GONE:
                return None
            raise

    def find_link_by_alias(self, alias: str) -> Link | None:
        for link in self.links():
            if link.alias == alias:
                return link
        return None

    def ensure_bridge(self, name: str, mtu: int | None = None, mac: str | None = None) -> Link:
        """A bridge, up; a new one gets ``mac`` (random when none), an existing one keeps its own."""
        link = self.find_link(name)
        if link is None:
            try:
                # A bridge without an address of its own takes the lowest MAC of
                # its ports and changes it as ports come and go; sandboxes keep
                # the old one in their neighbour tables (REACHABLE for up to 45 s,
                # nothing tells them), and the bridge drops what they send to it
                # as not for this host. An address set at creation is kept (the
                # kernel's NET_ADDR_SET), as Docker's setupDevice does.
                self._ipr.link("add", ifname=name, kind="bridge", address=mac or random_mac())
            except NetlinkError as err:
                if err.code != errno.EEXIST:
                    raise
            link = self._created(name)
            log.debug("bridge created", extra={"bridge": name})
        elif link.kind != "bridge":
            raise FileExistsError(f"{name} exists and is not a bridge")
        changes: dict[str, str | int] = {"state": "up"}
        if mtu:
            changes["mtu"] = mtu
        self._ipr.link("set", index=link.index, **changes)
        return link

    def ensure_veth(self, name: str, peer: str, mtu: int | None = None, master: int | None = None,
                    peer_mac: str | None = None, peer_netns: str | None = None) -> None:
        """A veth pair with ``name`` here (up, on ``master``) and ``peer`` beside it, or in ``peer_netns``.

        One request makes it all: the peer born inside its namespace, with its
        MAC and MTU and still down, needs no move and no down-for-rename
        later, each of which waits for an RCU grace period in the kernel.
        Nothing is looked up after a successful create (callers that want the
        link ask ``find_link``): a link request costs half a millisecond here.
        """
        peer_spec: dict = {"ifname": peer}
        if peer_mac:
            peer_spec["address"] = peer_mac
        if mtu:
            peer_spec["mtu"] = mtu
        if peer_netns:
            peer_spec["net_ns_fd"] = peer_netns
        spec: dict = {"ifname": name, "kind": "veth", "peer": peer_spec, "state": "up"}
        if mtu:
            spec["mtu"] = mtu
        if master is not None:
            spec["master"] = master
        try:
            self._ipr.link("add", **spec)
            return
        except NetlinkError as err:
            if err.code != errno.EEXIST:
                raise
        link = self.find_link(name)
        if link is None or link.kind != "veth":
            raise FileExistsError(f"{name} or {peer} exists and is not this veth pair")
        changes: dict = {"state": "up"}
        if master is not None:
            changes["master"] = master
        self._ipr.link("set", index=link.index, **changes)

    def ensure_macvlan(self, name: str, parent_index: int, mode: str) -> Link:
        """A macvlan child of ``parent_index``, left down: the sandbox layer moves it and raises it."""
        link = self._ensure_kind(name, "macvlan", link=parent_index, macvlan_mode=mode)
        if link.peer_index != parent_index:
            raise FileExistsError(f"{name} exists on another parent link")
        return link

    def ensure_vlan(self, name: str, parent_index: int, vlan_id: int) -> Link:
        """An 802.1q sub-interface of ``parent_index``, up."""
        link = self._ensure_kind(name, "vlan", link=parent_index, vlan_id=vlan_id)
        if link.peer_index != parent_index:
            raise FileExistsError(f"{name} exists on another parent link")
        self.set_up(link.index)
        return link

    def ensure_dummy(self, name: str) -> Link:
        link = self._ensure_kind(name, "dummy")
        self.set_up(link.index)
        return link

    def add_vxlan(self, name: str, vxlan: Vxlan, netns_path: str | None = None,
                  master: int | None = None) -> None:
        """A VXLAN device, up, made from this socket's namespace and born in ``netns_path``.

        The device's UDP socket stays in the namespace that made it (the
        kernel's ``vxlan->net``), so a device born in another namespace
        carries that namespace's traffic over this one's underlay: what an
        overlay namespace needs.  ``master`` is an index in ``netns_path``.
        Raises ``FileExistsError`` when the name is taken there, or another
        device of this namespace has the VNI on the port (one VNI per port per
        namespace), ``LinkKindUnsupported`` without VXLAN in the kernel.
        """
        spec: dict = {"ifname": name, "kind": "vxlan", "vxlan_id": vxlan.vni, "vxlan_port": vxlan.port,
                      "vxlan_learning": int(vxlan.learning), "vxlan_proxy": int(vxlan.proxy),
                      "mtu": vxlan.mtu, "state": "up"}
        if vxlan.local is not None:
            spec["vxlan_local"] = str(vxlan.local)
        if netns_path is not None:
            spec["net_ns_fd"] = netns_path
        if master is not None:
            spec["master"] = master
        try:
            self._ipr.link("add", **spec)
        except NetlinkError as err:
            if err.code == errno.EOPNOTSUPP:
                raise LinkKindUnsupported("vxlan") from None
            if err.code == errno.EEXIST:
                raise FileExistsError(errno.EEXIST, f"{name} exists, or another VXLAN device has VNI "
                                                    f"{vxlan.vni} on UDP port {vxlan.port}") from None
            raise OSError(err.code, os.strerror(err.code)) from None

    def find_vxlan(self, name: str) -> tuple[Link, Vxlan | None] | None:
        """The link named ``name`` and, when it is a VXLAN device, its settings; None when there is none."""
        try:
            msg = self._ipr.link("get", ifname=name)[0]
        except NetlinkError as err:
            if err.code in _GONE:
                return None
            raise
        link = _link_from_msg(msg)
        if link.kind != "vxlan":
            return link, None
        data = msg.get_attr("IFLA_LINKINFO").get_attr("IFLA_INFO_DATA")
        local = data.get_attr("IFLA_VXLAN_LOCAL")
        return link, Vxlan(
            vni=data.get_attr("IFLA_VXLAN_ID"), port=data.get_attr("IFLA_VXLAN_PORT"),
            local=ipaddress.IPv4Address(local) if local else None, mtu=msg.get_attr("IFLA_MTU"),
            learning=bool(data.get_attr("IFLA_VXLAN_LEARNING")), proxy=bool(data.get_attr("IFLA_VXLAN_PROXY")))

    def set_alias(self, index: int, alias: str) -> None:
        self._ipr.link("set", index=index, ifalias=alias)

    def _ensure_kind(self, name: str, kind: str, **spec) -> Link:
        link = self.find_link(name)
        if link is None:
            try:
                self._ipr.link("add", ifname=name, kind=kind, **spec)
            except NetlinkError as err:
                if err.code == errno.EOPNOTSUPP:
                    # rtnetlink's answer when no driver, built in or module, provides the kind.
                    raise LinkKindUnsupported(kind) from None
                if err.code != errno.EEXIST:
                    raise OSError(err.code, os.strerror(err.code)) from None
            link = self._created(name)
        elif link.kind != kind:
            raise FileExistsError(f"{name} exists and is not a {kind} link")
        return link

    def remove_link(self, name: str) -> None:
        try:
            self._ipr.link("del", ifname=name)
        except NetlinkError as err:
            if err.code not in _GONE:
                raise

    def remove_link_by_index(self, index: int) -> bool:
        """Remove the link with ``index``; False when there is none."""
        try:
            self._ipr.link("del", index=index)
            return True
        except NetlinkError as err:
            if err.code not in _GONE:
                raise
            return False

    def move_to_netns(self, name: str, netns_path: str) -> None:
        index = self._index(name)
        self._ipr.link("set", index=index, net_ns_fd=netns_path)

    def configure_link(self, index: int, *, name: str | None = None, mac: str | None = None,
                       mtu: int | None = None, alias: str | None = None, up: bool = True,
                       is_up: bool = True) -> None:
        changes: dict = {}
        if name:
            changes["ifname"] = name
        if mac:
            changes["address"] = mac
        if mtu:
            changes["mtu"] = mtu
        if alias is not None:
            changes["ifalias"] = alias
        if changes and is_up:
            # Renaming needs the link down; the next set does it all at once.
            self._ipr.link("set", index=index, state="down")
        if changes and up:
            # The kernel renames before it raises the link: one request.
            changes["state"] = "up"
        if changes:
            self._ipr.link("set", index=index, **changes)
        elif up:
            self._ipr.link("set", index=index, state="up")

    def set_up(self, index: int) -> None:
        self._ipr.link("set", index=index, state="up")

    def set_hairpin(self, index: int) -> None:
        """Let the bridge send a frame back out of the port it came from.

        With br_netfilter, a sandbox reaching its own published port is DNATed
        at the bridge and bridged back to itself rather than routed.
        """
        self._ipr.brport("set", index=index, mode=1)

    def _created(self, name: str) -> Link:
        link = self.find_link(name)
        if link is None:
            raise FileNotFoundError(f"no link {name}")
        return link

    def _index(self, name: str) -> int:
        link = self.find_link(name)
        if link is None:
            raise FileNotFoundError(f"no link {name}")
        return link.index

    # -- addresses -----------------------------------------------------------

    def addresses(self, index: int) -> list[IPInterface]:
        found = []
        for msg in self._ipr.addr("dump", index=index):
            addr = msg.get_attr("IFA_ADDRESS")
            if addr:
                found.append(ipaddress.ip_interface(f"{addr}/{msg['prefixlen']}"))
        return found

    def ensure_address(self, index: int, address: IPInterface) -> None:
        try:
            kwargs = {}
            if address.version == 6:
                # No duplicate address detection: the addresses come from IPAM,
                # and DAD would leave them "tentative" (unusable) for a second.
                kwargs["flags"] = 0x02  # IFA_F_NODAD
            self._ipr.addr("add", index=index, address=str(address.ip),
                           prefixlen=address.network.prefixlen, **kwargs)
        except NetlinkError as err:
            if err.code != errno.EEXIST:
                raise

    def remove_address(self, index: int, address: IPInterface) -> None:
        try:
            self._ipr.addr("del", index=index, address=str(address.ip),
                           prefixlen=address.network.prefixlen)
        except NetlinkError as err:
            if err.code not in _GONE:
                raise

    # -- forwarding and neighbour entries --------------------------------------
    # Static entries, as an overlay programs them for remote endpoints: each
    # is replaced (never created exclusively), so programming one again is a
    # no-op, and removed without complaint when it is already gone.

    def replace_fdb(self, index: int, mac: str, dst: IPAddress) -> None:
        """``bridge fdb replace MAC dev LINK dst DST self permanent`` on a VXLAN device."""
        self._ipr.fdb("replace", ifindex=index, lladdr=mac, dst=str(dst),
                      state=_NUD_NOARP | _NUD_PERMANENT, flags=_NTF_SELF)

    def pin_to_port(self, port: str, mac: str) -> None:
        """``bridge fdb replace MAC dev PORT master static``: the bridge sends ``mac`` to ``port`` and never
        learns it elsewhere, whatever it learnt before."""
        link = self.find_link(port)
        if link is None:
            raise FileNotFoundError(f"no link {port} to pin {mac} to")
        self._ipr.fdb("replace", ifindex=link.index, lladdr=mac, state=_NUD_NOARP, flags=_NTF_MASTER)

    def remove_fdb(self, index: int, mac: str, dst: IPAddress) -> None:
        """Remove the entry for ``mac`` only where it points at ``dst``: a MAC that moved stays."""
        try:
            self._ipr.fdb("del", ifindex=index, lladdr=mac, dst=str(dst),
                          state=_NUD_NOARP | _NUD_PERMANENT, flags=_NTF_SELF)
        except NetlinkError as err:
            if err.code not in _GONE:
                raise

    def fdb_entries(self, index: int) -> list[FdbEntry]:
        """The remote entries (those with a destination) of the VXLAN device ``index``."""
        found = []
        for msg in self._ipr.fdb("dump"):
            dst = msg.get_attr("NDA_DST")
            if msg["ifindex"] == index and dst and msg["flags"] & _NTF_SELF:
                found.append(FdbEntry(mac=msg.get_attr("NDA_LLADDR"), dst=ipaddress.ip_address(dst)))
        return found

    def replace_neighbour(self, index: int, ip: IPAddress, mac: str) -> None:
        """``ip neigh replace IP lladdr MAC dev LINK nud permanent``."""
        self._ipr.neigh("replace", ifindex=index, dst=str(ip), lladdr=mac, state=_NUD_PERMANENT,
                        family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET)

    def remove_neighbour(self, index: int, ip: IPAddress, mac: str | None = None) -> None:
        """Remove the entry for ``ip``; with ``mac``, only while it still names that MAC."""
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        if mac is not None:
            current = next((n for n in self.neighbours(index, family) if n.ip == ip), None)
            if current is None or (current.mac or "").lower() != mac.lower():
                return
        try:
            self._ipr.neigh("del", ifindex=index, dst=str(ip), family=family)
        except NetlinkError as err:
            if err.code not in _GONE:
                raise

    def neighbours(self, index: int, family: int | None = None) -> list[Neighbour]:
        """The neighbour entries of link ``index`` (both families unless ``family`` says)."""
        found = []
        for fam in (family,) if family else (socket.AF_INET, socket.AF_INET6):
            for msg in self._ipr.neigh("dump", family=fam):
                dst = msg.get_attr("NDA_DST")
                if msg["ifindex"] == index and dst:
                    found.append(Neighbour(ip=ipaddress.ip_address(dst), mac=msg.get_attr("NDA_LLADDR"),
                                           permanent=bool(msg["state"] & _NUD_PERMANENT)))
        return found

    # -- routes ---------------------------------------------------------------

    def ensure_route(self, destination: IPNetwork | str, *, gateway: IPAddress | None = None,
                     oif: int | None = None, family: int | None = None) -> None:
        spec: dict = {"dst": str(destination)}
        if gateway is not None:
            spec["gateway"] = str(gateway)
            family = family or (10 if gateway.version == 6 else 2)
        if oif is not None:
            spec["oif"] = oif
            if gateway is None:
                # On-link, as ip(8) and Docker add it: a later route may use
                # an address behind it as its gateway only with scope link.
                spec["scope"] = 253  # RT_SCOPE_LINK
        if family:
            spec["family"] = family
        try:
            self._ipr.route("replace", **spec)
        except NetlinkError as err:
            if err.code != errno.EEXIST:
                raise

    def has_default_route(self, family: int) -> bool:
        for msg in self._ipr.route("dump", family=family):
            if msg["dst_len"] == 0 and msg.get_attr("RTA_TABLE") == 254 and \
                    (msg.get_attr("RTA_GATEWAY") or msg.get_attr("RTA_MULTIPATH")):
                return True
        return False

    def remove_route(self, destination: IPNetwork | str, *, family: int | None = None) -> None:
        spec: dict = {"dst": str(destination)}
        if family:
            spec["family"] = family
        try:
            self._ipr.route("del", **spec)
        except NetlinkError as err:
            if err.code not in _GONE:
                raise

    def routes(self, family: int) -> list[IPNetwork]:
        found = []
        for msg in self._ipr.route("dump", family=family):
            dst = msg.get_attr("RTA_DST")
            if dst:
                found.append(ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False))
        return found


# -- IPsec ---------------------------------------------------------------------------

_XFRM_MSG_NEWSA = 0x10
_XFRMA_ALG_AEAD = 18
_XFRM_INF = 2**64 - 1
_NLMSG_ERROR = 2
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_EXCL, _NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
_NLM_F_ACK_TLVS = 0x200
_SOL_NETLINK, _NETLINK_CAP_ACK, _NETLINK_EXT_ACK = 270, 10, 11
_NLMSGERR_ATTR_MSG = 1


def probe_esp_aead(netns_path: str, algorithm: str = "rfc4106(gcm(aes))", key_bits: int = 160,
                   icv_bits: int = 128) -> None:
    """Add a transport-mode IPsec ESP state with an AEAD algorithm in the namespace at ``netns_path``.

    Whether the kernel can do ESP with that algorithm (xfrm_user, esp4 and the
    crypto modules) is only known by asking it to: pyroute2 has no XFRM
    messages, so this builds the one request itself.  Meant for a scratch
    namespace: the state stays, and goes with the namespace.  Raises
    ``OSError`` with the kernel's own words (its extended ack) when refused.
    """
    [sock] = nshelper.open_sockets(netns_path, [(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_XFRM)])
    with sock:
        sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)
        sock.setsockopt(_SOL_NETLINK, _NETLINK_EXT_ACK, 1)
        sock.bind((0, 0))
        sock.send(_xfrm_newsa_request(algorithm, key_bits, icv_bits))
        reply = sock.recv(65536)
    _check_ack(reply)


def _xfrm_newsa_request(algorithm: str, key_bits: int, icv_bits: int) -> bytes:
    """XFRM_MSG_NEWSA: ``ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode transport aead ALG``.

    The layout is struct xfrm_usersa_info (224 bytes on 64-bit Linux) and an
    XFRMA_ALG_AEAD attribute (struct xfrm_algo_aead and the key).
    """
    src = socket.inet_aton("192.0.2.1").ljust(16, b"\0")
    dst = socket.inet_aton("192.0.2.2").ljust(16, b"\0")
    selector = struct.pack("=16s16sHHHHHBBB3xiI", dst, src, 0, 0, 0, 0, socket.AF_INET, 0, 0, 0, 0, 0)
    xfrm_id = struct.pack("=16s4sB3x", dst, (0x100).to_bytes(4, "big"), socket.IPPROTO_ESP)
    lifetime = struct.pack("=8Q", _XFRM_INF, _XFRM_INF, _XFRM_INF, _XFRM_INF, 0, 0, 0, 0)
    current, stats = bytes(32), bytes(12)
    tail = struct.pack("=IIHBBB7x", 0, 0, socket.AF_INET, 0, 0, 0)   # seq, reqid, family, mode transport
    info = selector + xfrm_id + src + lifetime + current + stats + tail
    key = bytes(range(1, key_bits // 8 + 1))
    aead = struct.pack("=64sII", algorithm.encode(), key_bits, icv_bits) + key
    attribute = struct.pack("=HH", 4 + len(aead), _XFRMA_ALG_AEAD) + aead
    attribute += bytes(-len(attribute) % 4)
    body = info + attribute
    header = struct.pack("=IHHII", 16 + len(body), _XFRM_MSG_NEWSA,
                         _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL, 1, 0)
    return header + body


def _check_ack(reply: bytes) -> None:
    """Raise the error of a netlink acknowledgement, with the kernel's message when it sent one."""
    _, kind, flags, _, _ = struct.unpack_from("=IHHII", reply)
    if kind != _NLMSG_ERROR:
        raise OSError(errno.EPROTO, f"unexpected netlink reply type {kind}")
    (code,) = struct.unpack_from("=i", reply, 16)
    if code == 0:
        return
    message = ""
    if flags & _NLM_F_ACK_TLVS:
        offset = 16 + 4 + 16   # our header, the error, the request's header (NETLINK_CAP_ACK: no payload)
        while offset + 4 <= len(reply):
            length, attr = struct.unpack_from("=HH", reply, offset)
            if length < 4:
                break
            if attr == _NLMSGERR_ATTR_MSG:
                message = reply[offset + 4:offset + length].split(b"\0")[0].decode(errors="replace")
            offset += (length + 3) & ~3
    text = os.strerror(-code)
    raise OSError(-code, f"{message} ({text})" if message else text)


def random_mac() -> str:
    """A random unicast, locally administered MAC (Docker's netutils.GenerateRandomMAC)."""
    first, *rest = os.urandom(6)
    return ":".join(f"{b:02x}" for b in ((first & 0xFE) | 0x02, *rest))


# -- sysctls ------------------------------------------------------------------
# /proc/sys/net answers for the namespace of the process that opens it, so
# these read and write the daemon's own (host) namespace.

def read_sysctl(name: str) -> str:
    with open(f"/proc/sys/{name}") as handle:
        return handle.read().strip()


def ensure_sysctl(name: str, value: str) -> None:
    """Write only when different: a write can have side effects (forwarding resets RA settings)."""
    if read_sysctl(name) != value:
        with open(f"/proc/sys/{name}", "w") as handle:
            handle.write(value)
        log.debug("sysctl set", extra={"sysctl": name, "value": value})
