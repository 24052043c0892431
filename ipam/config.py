"""Parsing and validation of Docker's IPAM request block and static addresses.

Done once, at the API edge: the JSON ``IPAM`` object of ``POST
/networks/create`` becomes frozen dataclasses, and an endpoint's
``IPAMConfig`` becomes typed addresses.  Errors carry Docker's exact texts
(moby:v26.1.5:api/types/network/ipam.go ``ValidateIPAM``, endpoint.go
``Validate``/``IsInRange``, daemon/container_operations.go
``validateEndpointSettings``) because clients and scripts match on them.

Docker parses with Go's ``netip``, which is stricter than Python's
``ipaddress`` (no netmask form, no bare address as a prefix, no leading zero
in the prefix length, no zone in a prefix); ``_parse_prefix`` mirrors it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from libnetwork import errors
from libnetwork.ipam.api import IPAddress, IPInterface, IPNetwork

DEFAULT_DRIVER = "default"

_UNSUPPORTED_IP_ON_PREDEFINED = "user specified IP address is supported on user defined networks only"
_UNSUPPORTED_ALIAS_ON_PREDEFINED = "network-scoped alias is supported only for containers in user defined networks"
_NO_USER_SUBNET = (
    "user specified IP address is supported only when connecting to networks with user configured subnets"
)


@dataclass(frozen=True)
class SubnetSpec:
    """One ``IPAM.Config`` entry, typed.

    ``validated`` is False for an IPv6 entry of a network without IPv6:
    Docker skips validating those (moby issue #47202) and ignores them at
    allocation, yet keeps them in the network's configuration; fields that
    did not parse are then None (or left out of ``aux``).
    """

    subnet: IPNetwork
    ip_range: IPNetwork | None = None
    gateway: IPAddress | None = None
    aux: Mapping[str, IPAddress] = field(default_factory=dict, hash=False)
    validated: bool = True

    @property
    def version(self) -> int:
        return self.subnet.version

    def contains(self, address: IPAddress) -> bool:
        """Docker's IpamConf.Contains: the subnet, not the ip-range, bounds a static address."""
        return address.version == self.subnet.version and address in self.subnet

    def to_docker(self) -> dict[str, Any]:
        """The inspect form (``IPAMConfig`` with omitempty fields)."""
        out: dict[str, Any] = {"Subnet": str(self.subnet)}
        if self.ip_range is not None:
            out["IPRange"] = str(self.ip_range)
        if self.gateway is not None:
            out["Gateway"] = str(self.gateway)
        if self.aux:
            out["AuxiliaryAddresses"] = {name: str(ip) for name, ip in self.aux.items()}
        return out


@dataclass(frozen=True)
class IpamSpec:
    """The whole ``IPAM`` block: driver, its options, subnets by family."""

    driver: str = DEFAULT_DRIVER
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    v4: tuple[SubnetSpec, ...] = ()
    v6: tuple[SubnetSpec, ...] = ()


@dataclass(frozen=True)
class StaticAddresses:
    """The addresses an endpoint asked for (``EndpointSettings.IPAMConfig``)."""

    ipv4: ipaddress.IPv4Address | None = None
    ipv6: ipaddress.IPv6Address | None = None
    link_local: tuple[IPAddress, ...] = ()


# -- Go-compatible parsing -----------------------------------------------------


def _parse_addr(text: str) -> IPAddress | None:
    """netip.ParseAddr without zones (a zoned address is never inside a subnet)."""
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _parse_prefix(text: str) -> IPInterface | None:
    """netip.ParsePrefix: ``addr/bits`` with host bits kept, else None."""
    addr_text, slash, bits = text.rpartition("/")
    if not slash or not bits.isascii() or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        return None
    address = _parse_addr(addr_text)
    if address is None or int(bits) > address.max_prefixlen:
        return None
    return ipaddress.ip_interface((address, int(bits)))


def _go_addr(address: IPAddress) -> str:
    """Go's rendering of an address (IPv4-mapped IPv6 keeps its dotted tail)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _go_prefix(prefix: IPInterface) -> str:
    return f"{_go_addr(prefix.ip)}/{prefix.network.prefixlen}"


def _go_net(network: IPNetwork) -> str:
    return f"{_go_addr(network.network_address)}/{network.prefixlen}"


def _join(errs: Sequence[str]) -> str:
    """Docker's internal/multierror.Join formatting."""
    if len(errs) == 1:
        return errs[0].strip()
    return "* " + "\n* ".join(e.replace("\n", "\n\t") for e in errs)


def _family(version: int) -> str:
    return f"IPv{version}"


# -- JSON shape ----------------------------------------------------------------


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object"


def _type_error(value: object, struct: str, path: str, go_type: str) -> errors.InvalidParameter:
    return errors.InvalidParameter(
        f"invalid JSON: json: cannot unmarshal {_json_kind(value)} into Go struct field "
        f"{struct}.{path} of type {go_type}"
    )


def _string(value: object, struct: str, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _type_error(value, struct, path, "string")
    return value


def _string_map(value: object, struct: str, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _type_error(value, struct, path, "map[string]string")
    for item in value.values():
        _string(item, struct, path)
    return {str(k): (v or "") for k, v in value.items()}


# -- IPAM block ----------------------------------------------------------------


def parse_ipam(ipam: Mapping[str, Any] | None, enable_ipv6: bool) -> IpamSpec:
    """Validate a network's ``IPAM`` block as Docker does; return it typed.

    Raises InvalidParameter ``invalid network config:\\n<errors>`` with every
    problem found, in Docker's order and wording.
    """
    if ipam is None:
        return IpamSpec()
    if not isinstance(ipam, Mapping):
        raise _type_error(ipam, "NetworkCreateRequest", "IPAM", "network.IPAM")
    driver = _string(ipam.get("Driver"), "IPAM", "IPAM.Driver") or DEFAULT_DRIVER
    options = _string_map(ipam.get("Options"), "IPAM", "IPAM.Options")
    configs = ipam.get("Config")
    if configs is None:
        configs = []
    if not isinstance(configs, (list, tuple)):
        raise _type_error(configs, "IPAM", "IPAM.Config", "[]network.IPAMConfig")

    errs: list[str] = []
    v4: list[SubnetSpec] = []
    v6: list[SubnetSpec] = []
    for cfg in configs:
        if not isinstance(cfg, Mapping):
            raise _type_error(cfg, "IPAM", "IPAM.Config", "network.IPAMConfig")
        spec = _parse_config(cfg, enable_ipv6, errs)
        if spec is not None:
            (v4 if spec.version == 4 else v6).append(spec)
    if errs:
        raise errors.InvalidParameter("invalid network config:\n" + _join(errs))
    return IpamSpec(driver, MappingProxyType(options), tuple(v4), tuple(v6))


def _parse_config(cfg: Mapping[str, Any], enable_ipv6: bool, errs: list[str]) -> SubnetSpec | None:
    subnet_text = _string(cfg.get("Subnet"), "IPAMConfig", "IPAM.Config.Subnet")
    range_text = _string(cfg.get("IPRange"), "IPAMConfig", "IPAM.Config.IPRange")
    gateway_text = _string(cfg.get("Gateway"), "IPAMConfig", "IPAM.Config.Gateway")
    aux_texts = _string_map(cfg.get("AuxiliaryAddresses"), "IPAMConfig", "IPAM.Config.AuxiliaryAddresses")

    subnet = _parse_prefix(subnet_text)
    if subnet is None:
        errs.append(f"invalid subnet {subnet_text}: invalid CIDR block notation")
        return None
    if subnet.version == 6 and not enable_ipv6:
        return _lenient_config(subnet, range_text, gateway_text, aux_texts)

    before = len(errs)
    if subnet.ip != subnet.network.network_address:
        errs.append(f"invalid subnet {_go_prefix(subnet)}: it should be {_go_net(subnet.network)}")
    ip_range = _check_range(range_text, subnet, errs)
    gateway = _check_address(gateway_text, subnet, f"invalid gateway {gateway_text}", errs)
    aux: dict[str, IPAddress] = {}
    for name, text in aux_texts.items():
        address = _check_address(text, subnet, f"invalid auxiliary address {name}", errs)
        if address is not None:
            aux[name] = address
    if len(errs) > before:
        return None
    return SubnetSpec(subnet.network, ip_range, gateway, MappingProxyType(aux))


def _check_range(text: str, subnet: IPInterface, errs: list[str]) -> IPNetwork | None:
    if not text:
        return None
    prefix = _parse_prefix(text)
    if prefix is None:
        errs.append(f"invalid ip-range {text}: invalid CIDR block notation")
        return None
    if prefix.version != subnet.version:
        errs.append(f"invalid ip-range {text}: parent subnet is an {_family(subnet.version)} block")
        return None
    before = len(errs)
    if prefix.network.prefixlen < subnet.network.prefixlen:
        errs.append(f"invalid ip-range {text}: CIDR block is bigger than its parent subnet {_go_prefix(subnet)}")
    if prefix.ip != prefix.network.network_address:
        errs.append(f"invalid ip-range {_go_prefix(prefix)}: it should be {_go_net(prefix.network)}")
    if not subnet.network.overlaps(prefix.network):
        errs.append(f"invalid ip-range {text}: parent subnet {_go_prefix(subnet)} doesn't contain ip-range")
    return prefix.network if len(errs) == before else None


def _check_address(text: str, subnet: IPInterface, what: str, errs: list[str]) -> IPAddress | None:
    if not text:
        return None
    address = _parse_addr(text)
    if address is None:
        base, _pct, zone = text.partition("%")
        if zone and isinstance(_parse_addr(base), ipaddress.IPv6Address):
            # Go accepts a zoned IPv6 address, then finds it in no subnet.
            if subnet.version != 6:
                errs.append(f"{what}: parent subnet is an {_family(subnet.version)} block")
            else:
                errs.append(f"{what}: parent subnet {_go_prefix(subnet)} doesn't contain this address")
            return None
        errs.append(f"{what}: invalid address")
        return None
    if address.version != subnet.version:
        errs.append(f"{what}: parent subnet is an {_family(subnet.version)} block")
        return None
    if address not in subnet.network:
        errs.append(f"{what}: parent subnet {_go_prefix(subnet)} doesn't contain this address")
        return None
    return address


def _lenient_config(subnet: IPInterface, range_text: str, gateway_text: str, aux: Mapping[str, str]) -> SubnetSpec:
    """An IPv6 entry of a network without IPv6: kept, not validated."""
    prefix = _parse_prefix(range_text) if range_text else None
    ip_range = prefix.network if prefix is not None and prefix.version == 6 else None
    gateway = _parse_addr(gateway_text) if gateway_text else None
    if gateway is not None and gateway.version != 6:
        gateway = None
    addresses = {name: a for name, text in aux.items() if (a := _parse_addr(text)) is not None and a.version == 6}
    return SubnetSpec(subnet.network, ip_range, gateway, MappingProxyType(addresses), validated=False)


# -- endpoint static addresses -------------------------------------------------


def _parse_ip(text: str) -> IPAddress | None:
    """Go's net.ParseIP, normalising IPv4-mapped IPv6 to IPv4 as To4() does."""
    address = _parse_addr(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def validate_endpoint_ipam(
    ipam_config: Mapping[str, Any] | None,
    v4_subnets: Sequence[SubnetSpec] | None,
    v6_subnets: Sequence[SubnetSpec] | None,
    *,
    user_defined: bool = True,
    aliases: Sequence[str] = (),
) -> StaticAddresses:
    """Check an endpoint's ``IPAMConfig`` against its network; return the addresses.

    ``v4_subnets``/``v6_subnets`` are the network's *user-configured*
    subnets (empty when the IPAM driver chose the pool); None skips the
    range check, as Docker does while the network is not known yet.
    ``user_defined`` is False for the predefined bridge/host/none networks.
    Raises InvalidParameter ``invalid endpoint settings:\\n<errors>``; the
    caller prefixes ``invalid config for network <name>: `` on container
    create, as Docker does.
    """
    cfg = ipam_config or {}
    ipv4_text = _string(cfg.get("IPv4Address"), "EndpointIPAMConfig", "IPv4Address")
    ipv6_text = _string(cfg.get("IPv6Address"), "EndpointIPAMConfig", "IPv6Address")
    link_local_texts = cfg.get("LinkLocalIPs") or []
    if not isinstance(link_local_texts, (list, tuple)):
        raise _type_error(link_local_texts, "EndpointIPAMConfig", "LinkLocalIPs", "[]string")
    link_local_texts = [_string(t, "EndpointIPAMConfig", "LinkLocalIPs") for t in link_local_texts]

    errs: list[str] = []
    if not user_defined:
        if ipv4_text or ipv6_text:
            errs.append(_UNSUPPORTED_IP_ON_PREDEFINED)
        if aliases:
            errs.append(_UNSUPPORTED_ALIAS_ON_PREDEFINED)

    ipv4 = _parse_ip(ipv4_text) if ipv4_text else None
    if ipv4_text and (ipv4 is None or ipv4.version != 4 or ipv4.is_unspecified):
        errs.append(f"invalid IPv4 address: {ipv4_text}")
        ipv4 = None
    ipv6 = _parse_ip(ipv6_text) if ipv6_text else None
    if ipv6_text and (ipv6 is None or ipv6.version != 6 or ipv6.is_unspecified):
        errs.append(f"invalid IPv6 address: {ipv6_text}")
        ipv6 = None
    link_local: list[IPAddress] = []
    for text in link_local_texts:
        address = _parse_ip(text)
        if address is None or address.is_unspecified:
            errs.append(f"invalid link-local IP address: {text}")
        else:
            link_local.append(address)

    if v4_subnets is not None and v6_subnets is not None:
        for text, subnets in ((ipv4_text, v4_subnets), (ipv6_text, v6_subnets)):
            problem = _range_problem(text, subnets)
            if problem:
                errs.append(problem)

    if errs:
        raise errors.InvalidParameter("invalid endpoint settings:\n" + _join(errs))
    return StaticAddresses(ipv4, ipv6, tuple(link_local))  # type: ignore[arg-type]


def _range_problem(text: str, subnets: Sequence[SubnetSpec]) -> str | None:
    """Docker's validateEndpointIPAddress."""
    if not text:
        return None
    if not subnets:
        return _NO_USER_SUBNET
    address = _parse_ip(text)
    if address is not None and any(s.contains(address) for s in subnets):
        return None
    return f"no configured subnet or ip-range contain the IP address {text}"
