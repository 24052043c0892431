"""Request bodies built from command-line options, exactly as docker sends them.

Pure functions with no I/O, so that the mapping from flags to JSON is tested
without a daemon.  Field order and empty values (``{}``, ``[]``, ``null``)
follow the Go encoding of the docker CLI v28 types, because the daemon is
also meant to serve the real docker CLI and must see the same shapes from
both.  Client-side validation errors keep docker's wording.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence

from .errors import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress
    from typing import Any

    from .flags import Opts



def kv_map(values: Iterable[str]) -> dict[str, str]:
    """opts.MapOpts / ConvertKVStringsToMap: split at the first ``=``; last wins."""
    out = {}
    for item in values:
        key, _, val = item.partition("=")
        out[key] = val
    return out


def filters_json(values: Iterable[str]) -> str | None:
    """filters.Args JSON as the docker CLI sends it: ``{"k":{"v":true}}``,
    keys sorted (Go map encoding); None when no filter was given."""
    args: dict[str, dict[str, bool]] = {}
    for item in values:
        if item == "":
            continue
        name, _, val = item.partition("=")
        args.setdefault(name.strip().lower(), {})[val.strip()] = True
    if not args:
        return None
    return json.dumps(args, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------- network create

def _parse_cidr(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address,
                                     ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """net.ParseCIDR: returns (ip, network) or raises ValueError(go message)."""
    import ipaddress

    addr, sep, bits = text.partition("/")
    if not sep or not bits.isdigit():
        raise ValueError("invalid CIDR address: " + text)
    try:
        ip = ipaddress.ip_address(addr)
        net = ipaddress.ip_network(f"{addr}/{bits}", strict=False)
    except ValueError:
        raise ValueError("invalid CIDR address: " + text) from None
    return ip, net


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    import ipaddress

    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _subnet_matches(subnet: str, data: str) -> bool:
    """create.go subnetMatches: is ``data`` (an IP or CIDR) inside ``subnet``?"""
    try:
        _, net = _parse_cidr(subnet)
    except ValueError as err:
        raise ClientError(f"invalid subnet: {err}") from None
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    if "/" in data:
        try:
            ip, _ = _parse_cidr(data)
        except ValueError as err:
            raise ClientError(str(err)) from None
    else:
        ip = _parse_ip(data)
    if ip is None or ip.version != net.version:
        return False
    return ip in net


def ipam_config(subnets: Sequence[str], ip_ranges: Sequence[str], gateways: Sequence[str],
                aux_addresses: Iterable[str]) -> list[dict[str, Any]]:
    """createIPAMConfig: group ranges, gateways and aux addresses by the
    subnet that contains them (not by position), one Config entry per subnet,
    in the order the subnets were given."""
    if len(subnets) < len(ip_ranges) or len(subnets) < len(gateways):
        raise ClientError("every ip-range or gateway must have a corresponding subnet")
    data: dict[str, dict[str, Any]] = {}
    for s in subnets:
        for k in data:
            if _subnet_matches(s, k) or _subnet_matches(k, s):
                raise ClientError("multiple overlapping subnet configuration is not supported")
        data[s] = {"Subnet": s, "IPRange": "", "Gateway": "", "AuxiliaryAddresses": {}}

    for r in ip_ranges:
        match = False
        for s in subnets:
            try:
                _parse_cidr(r)
            except ValueError as err:
                raise ClientError(str(err)) from None
            if not _subnet_matches(s, r):
                continue
            if data[s]["IPRange"]:
                raise ClientError(f"cannot configure multiple ranges ({r}, {data[s]['IPRange']}) "
                                  f"on the same subnet ({s})")
            data[s]["IPRange"] = r
            match = True
        if not match:
            raise ClientError(f"no matching subnet for range {r}")

    for g in gateways:
        match = False
        for s in subnets:
            if not _subnet_matches(s, g):
                continue
            if data[s]["Gateway"]:
                raise ClientError(f"cannot configure multiple gateways ({g}, {data[s]['Gateway']}) "
                                  f"for the same subnet ({s})")
            data[s]["Gateway"] = g
            match = True
        if not match:
            raise ClientError(f"no matching subnet for gateway {g}")

    for key, addr in kv_map(aux_addresses).items():
        match = False
        for s in subnets:
            if not _subnet_matches(s, addr):
                continue
            data[s]["AuxiliaryAddresses"][key] = addr
            match = True
        if not match:
            raise ClientError(f"no matching subnet for aux-address {addr}")

    # IPAMConfig fields are all omitempty.
    return [{k: v for k, v in cfg.items() if v} for cfg in data.values()]


def network_create_body(name: str, opts: Opts, changed: Collection[str] = ()) -> dict[str, Any]:
    """POST /networks/create body (network.CreateRequest, docker CLI v28).

    ``opts`` holds the parsed flags of ``network create``; ``changed`` the
    flags given explicitly (EnableIPv4/EnableIPv6 are sent only then).
    """
    body = {"Driver": opts.get("driver", "bridge"), "Scope": opts.get("scope", "")}
    if "ipv4" in changed:
        body["EnableIPv4"] = bool(opts.get("ipv4"))
    if "ipv6" in changed:
        body["EnableIPv6"] = bool(opts.get("ipv6"))
    body["IPAM"] = {
        "Driver": opts.get("ipam_driver", "default"),
        "Options": kv_map(opts.get("ipam_opt", [])),
        "Config": ipam_config(opts.get("subnet", []), opts.get("ip_range", []),
                              opts.get("gateway", []), opts.get("aux_address", [])),
    }
    body["Internal"] = bool(opts.get("internal"))
    body["Attachable"] = bool(opts.get("attachable"))
    body["Ingress"] = bool(opts.get("ingress"))
    body["ConfigOnly"] = bool(opts.get("config_only"))
    config_from = opts.get("config_from", "")
    body["ConfigFrom"] = {"Network": config_from} if config_from else None
    body["Options"] = kv_map(opts.get("opt", []))
    body["Labels"] = kv_map(opts.get("label", []))
    body["Name"] = name
    return body


# ----------------------------------------------------------- connect

def driver_opts_map(values: Iterable[str]) -> dict[str, str]:
    """connect.go convertDriverOpt: ``k=v`` pairs, whitespace trimmed."""
    out = {}
    for item in values:
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ClientError("invalid key/value pair format in driver options")
        out[key] = val.strip()
    return out


def endpoint_settings(ip: str = "", ip6: str = "", link_local_ips: Iterable[str] = (),
                      links: Iterable[str] | None = None, aliases: Iterable[str] = (),
                      driver_opts: Mapping[str, str] | None = None, gw_priority: int = 0,
                      mac_address: str = "") -> dict[str, Any]:
    """network.EndpointSettings as the docker CLI encodes it (no omitempty
    except inside IPAMConfig)."""
    ipam: dict[str, Any] = {}
    if ip:
        ipam["IPv4Address"] = ip
    if ip6:
        ipam["IPv6Address"] = ip6
    if link_local_ips:
        ipam["LinkLocalIPs"] = list(link_local_ips)
    return {
        "IPAMConfig": ipam,
        "Links": list(links) if links else None,
        "Aliases": list(aliases),
        "MacAddress": mac_address,
        "DriverOpts": dict(driver_opts or {}),
        "GwPriority": gw_priority,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def network_connect_body(container: str, opts: Opts) -> dict[str, Any]:
    """POST /networks/{id}/connect body for ``network connect``."""
    return {
        "Container": container.strip(),
        "EndpointConfig": endpoint_settings(
            ip=opts.get("ip", ""), ip6=opts.get("ip6", ""),
            link_local_ips=opts.get("link_local_ip", []),
            links=opts.get("link", []), aliases=opts.get("alias", []),
            driver_opts=driver_opts_map(opts.get("driver_opt", [])),
            gw_priority=opts.get("gw_priority", 0)),
    }


def network_disconnect_body(container: str, force: bool) -> dict[str, Any]:
    return {"Container": container, "Force": bool(force)}


# ----------------------------------------------------------- sandbox create

_NON_USER_DEFINED = ("bridge", "host", "none", "default")


def is_user_defined(network: str) -> bool:
    """container.NetworkMode.IsUserDefined."""
    return network not in _NON_USER_DEFINED and not network.startswith("container:")


def _valid_mac(text: str) -> bool:
    parts = text.strip().replace("-", ":").split(":")
    return len(parts) in (6, 8, 20) and all(
        len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts)


def sandbox_create_body(opts: Opts) -> dict[str, Any]:
    """POST /sandboxes/create body from ``sandbox create`` flags.

    As with ``docker run``, --ip/--ip6/--alias/--mac-address configure the
    first --network; with no --network they configure the default bridge.
    """
    networks = list(opts.get("network", []))
    aliases = list(opts.get("alias", [])) + list(opts.get("network_alias", []))
    ip, ip6 = opts.get("ip", ""), opts.get("ip6", "")
    mac = opts.get("mac_address", "")
    per_endpoint = bool(ip or ip6 or aliases or mac)
    if not networks and per_endpoint:
        networks = ["bridge"]
    seen = set()
    entries = []
    for i, net in enumerate(networks):
        if not net.strip():
            raise ClientError("no name set for network")
        if net in seen:
            raise ClientError(f'network "{net}" is specified multiple times')
        seen.add(net)
        first = i == 0
        net_aliases = aliases if first else []
        if net_aliases and not is_user_defined(net):
            raise ClientError("network-scoped aliases are only supported for user-defined networks")
        net_mac = mac if first else ""
        if net_mac and not _valid_mac(net_mac):
            raise ClientError(f"{net_mac} is not a valid mac address")
        ipam = {}
        if first and ip:
            ipam["IPv4Address"] = ip
        if first and ip6:
            ipam["IPv6Address"] = ip6
        entries.append({
            "Network": net,
            "EndpointConfig": {
                "IPAMConfig": ipam,
                "Aliases": net_aliases,
                "MacAddress": net_mac,
                "DriverOpts": {},
            },
        })
    from .ports import PortSpecError, parse_expose, parse_port_specs

    try:
        exposed, bindings = parse_port_specs(opts.get("publish", []))
        parse_expose(opts.get("expose", []), exposed)
    except PortSpecError as err:
        raise ClientError(str(err)) from None
    body = {
        "Name": opts.get("name", ""),
        "Hostname": opts.get("hostname", ""),
        "NetnsPath": opts.get("netns", ""),
        "Networks": entries,
        "ExposedPorts": exposed,
        "PortBindings": bindings,
        "PublishAllPorts": bool(opts.get("publish_all")),
    }
    # docker run's HostConfig names for the resolver options, sent when given.
    for key, dest in (("Dns", "dns"), ("DnsSearch", "dns_search"), ("DnsOptions", "dns_option"),
                      ("ExtraHosts", "add_host"), ("Links", "link")):
        if opts.get(dest):
            body[key] = list(opts[dest])
    return body


# ------------------------------------------------------------------- swarm

NODE_AVAILABILITIES = ("active", "pause", "drain")


def _availability(opts: Opts, changed: Collection[str]) -> str:
    """init/join --availability: sent only when given, lowercased and checked."""
    if "availability" not in changed:
        return ""
    value = opts["availability"].lower()
    if value not in NODE_AVAILABILITIES:
        raise ClientError(f'invalid availability "{opts["availability"]}", only active, pause and drain are supported')
    return value


def swarm_spec(opts: Opts, changed: Collection[str]) -> dict[str, Any]:
    """swarmOptions.ToSpec: a zero swarm.Spec with only the flags given set,
    in Go's field order and with Go's omitempty rules."""
    from .validators import parse_duration

    orchestration: dict[str, Any] = {}
    if "task_history_limit" in changed:
        orchestration["TaskHistoryRetentionLimit"] = opts["task_history_limit"]
    raft: dict[str, Any] = {}
    if "snapshot_interval" in changed and opts["snapshot_interval"]:
        raft["SnapshotInterval"] = opts["snapshot_interval"]
    if "max_snapshots" in changed:
        raft["KeepOldSnapshots"] = opts["max_snapshots"]
    raft.update({"ElectionTick": 0, "HeartbeatTick": 0})
    dispatcher: dict[str, Any] = {}
    if "dispatcher_heartbeat" in changed and parse_duration(opts["dispatcher_heartbeat"]):
        dispatcher["HeartbeatPeriod"] = parse_duration(opts["dispatcher_heartbeat"])
    ca_config: dict[str, Any] = {}
    if "cert_expiry" in changed and parse_duration(opts["cert_expiry"]):
        ca_config["NodeCertExpiry"] = parse_duration(opts["cert_expiry"])
    autolock = bool(opts["autolock"]) if "autolock" in changed else False
    return {"Labels": None, "Orchestration": orchestration, "Raft": raft, "Dispatcher": dispatcher,
            "CAConfig": ca_config, "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": autolock}}


def swarm_init_body(opts: Opts, changed: Collection[str]) -> dict[str, Any]:
    """swarm.InitRequest as ``docker swarm init`` sends it."""
    availability = _availability(opts, changed)
    return {
        "ListenAddr": opts["listen_addr"],
        "AdvertiseAddr": opts["advertise_addr"],
        "DataPathAddr": opts["data_path_addr"],
        "DataPathPort": opts["data_path_port"],
        "ForceNewCluster": opts["force_new_cluster"],
        "Spec": swarm_spec(opts, changed),
        "AutoLockManagers": opts["autolock"],
        "Availability": availability,
        "DefaultAddrPool": list(opts["default_addr_pool"]),
        "SubnetSize": opts["default_addr_pool_mask_length"],
    }


def swarm_join_body(remote: str, opts: Opts, changed: Collection[str]) -> dict[str, Any]:
    """swarm.JoinRequest as ``docker swarm join`` sends it."""
    availability = _availability(opts, changed)
    return {
        "ListenAddr": opts["listen_addr"],
        "AdvertiseAddr": opts["advertise_addr"],
        "DataPathAddr": opts["data_path_addr"],
        "RemoteAddrs": [remote],
        "JoinToken": opts["token"],
        "Availability": availability,
    }


def node_spec_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    """swarm.NodeSpec as Go re-encodes what it read: Name and Role and
    Availability omitted when empty, Labels always (sorted)."""
    out: dict[str, Any] = {}
    if spec.get("Name"):
        out["Name"] = spec["Name"]
    labels = spec.get("Labels")
    out["Labels"] = None if labels is None else dict(sorted(labels.items()))
    for key in ("Role", "Availability"):
        if spec.get(key):
            out[key] = spec[key]
    return out


def node_update_spec(spec: Mapping[str, Any], opts: Opts, changed: Collection[str]) -> dict[str, Any]:
    """mergeNodeUpdate: --role, --availability, --label-add, then --label-rm."""
    merged = dict(spec)
    if "role" in changed:
        merged["Role"] = opts["role"]
    if "availability" in changed:
        merged["Availability"] = opts["availability"]
    labels = dict(merged.get("Labels") or {})
    labels.update(kv_map(opts["label_add"]))
    for key in opts["label_rm"]:
        if key not in labels:
            raise ClientError(f"key {key} doesn't exist in node's labels")
        del labels[key]
    merged["Labels"] = labels
    return node_spec_body(merged)
