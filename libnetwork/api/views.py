"""Records rendered in Docker's JSON shapes (key order as Go encodes them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import portspec, publish
from ..model import EndpointRecord, NetworkRecord, PoolRecord, SandboxRecord

if TYPE_CHECKING:
    from ..controller import Controller


def _ipam_config(pool: PoolRecord) -> dict[str, Any]:
    if pool.user_config:
        return dict(pool.user_config)
    config = {"Subnet": str(pool.subnet)}
    if pool.gateway:
        config["Gateway"] = str(pool.gateway.ip)
    return config


def network(ctl: Controller, record: NetworkRecord, detailed: bool = True) -> dict[str, Any]:
    containers = {}
    if detailed:
        for endpoint in ctl.network_endpoints(record.id):
            if not endpoint.ready:
                continue
            key = endpoint.sandbox_id if endpoint.sandbox_id in ctl.sandboxes else f"ep-{endpoint.id}"
            containers[key] = {
                "Name": endpoint.name,
                "EndpointID": endpoint.id,
                "MacAddress": endpoint.mac or "",
                "IPv4Address": str(endpoint.ipv4 or ""),
                "IPv6Address": str(endpoint.ipv6 or ""),
            }
    options = dict(record.options)
    if record.is_default_bridge:
        options = {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": str(ctl.settings.icc).lower(),
            "com.docker.network.bridge.enable_ip_masquerade": str(ctl.settings.ip_masq).lower(),
            "com.docker.network.bridge.host_binding_ipv4": ctl.settings.default_binding_ip,
            "com.docker.network.bridge.name": ctl.settings.default_bridge_name,
            "com.docker.network.driver.mtu": str(ctl.settings.mtu),
            **options,
        }
    return {
        "Name": record.name,
        "Id": record.id,
        "Created": record.created,
        "Scope": record.scope,
        "Driver": record.driver,
        "EnableIPv6": record.enable_ipv6,
        "IPAM": {
            # a swarm network's addresses are the managers' allocator's, which Docker calls default
            "Driver": "default" if record.scope == "swarm" else record.ipam_driver,
            "Options": dict(record.ipam_options) if record.ipam_options is not None else None,
            "Config": [_ipam_config(p) for p in record.ipv4_pools + record.ipv6_pools],
        },
        "Internal": record.internal,
        "Attachable": record.attachable,
        "Ingress": record.ingress,
        "ConfigFrom": {"Network": record.config_from},
        "ConfigOnly": record.config_only,
        "Containers": containers,
        "Options": options,
        "Labels": dict(record.labels),
    }


def endpoint_settings(ctl: Controller, endpoint: EndpointRecord) -> dict[str, Any]:
    sandbox = ctl.sandboxes.get(endpoint.sandbox_id)
    v4, v6 = endpoint.ipv4, endpoint.ipv6
    dns_names = []
    network = ctl.networks.get(endpoint.network_id)
    if network is not None and not network.predefined and sandbox is not None:
        dns_names = list(dict.fromkeys([endpoint.name, *endpoint.aliases, sandbox.id[:12], sandbox.hostname]))
    return {
        "IPAMConfig": dict(endpoint.ipam_config) or None,
        "Links": list(endpoint.links) or None,
        "Aliases": list(endpoint.aliases) or None,
        "MacAddress": endpoint.mac or "",
        "DriverOpts": dict(endpoint.driver_opts) or None,
        "NetworkID": endpoint.network_id,
        "EndpointID": endpoint.id,
        "Gateway": str(endpoint.gateway_v4 or ""),
        "IPAddress": str(v4.ip) if v4 else "",
        "IPPrefixLen": v4.network.prefixlen if v4 else 0,
        "IPv6Gateway": str(endpoint.gateway_v6 or ""),
        "GlobalIPv6Address": str(v6.ip) if v6 else "",
        "GlobalIPv6PrefixLen": v6.network.prefixlen if v6 else 0,
        "DNSNames": dns_names or None,
    }


def _networks_of(ctl: Controller, record: SandboxRecord) -> dict[str, Any]:
    result = {}
    for endpoint in ctl.sandbox_endpoints(record.id):
        if endpoint.ready and endpoint.network_id in ctl.networks:
            result[ctl.networks[endpoint.network_id].name] = endpoint_settings(ctl, endpoint)
    return result


def network_mode(ctl: Controller, record: SandboxRecord) -> str:
    if record.mode != "default":
        return record.network_mode
    endpoints = ctl.sandbox_endpoints(record.id)
    if endpoints and endpoints[0].network_id in ctl.networks:
        name = ctl.networks[endpoints[0].network_id].name
        return "default" if name == "bridge" else name
    return "default"


def sandbox(ctl: Controller, record: SandboxRecord) -> dict[str, Any]:
    return {
        "Id": record.id,
        "Name": record.name,
        "Hostname": record.hostname,
        "Created": record.created,
        "NetworkMode": network_mode(ctl, record),
        "SandboxKey": ctl.netns_path(record),
        "Adopted": bool(record.netns_identity),
        "ResolvConfPath": ctl.sandbox_file(record, "resolv.conf"),
        "HostsPath": ctl.sandbox_file(record, "hosts"),
        "HostnamePath": ctl.sandbox_file(record, "hostname"),
        "Networks": _networks_of(ctl, record),
        "Ports": ports(ctl, record),
    }


def _bound(ctl: Controller, record: SandboxRecord) -> list:
    return [b for e in ctl.sandbox_endpoints(record.id) for b in publish.bound(e)]


def ports(ctl: Controller, record: SandboxRecord) -> dict[str, Any]:
    """Docker's NetworkSettings.Ports: exposed ports, with the host ports actually bound."""
    return portspec.docker_ports(record.exposed_ports, record.port_bindings, _bound(ctl, record))


def container(ctl: Controller, record: SandboxRecord) -> dict[str, Any]:
    """Docker's container inspect shape, enough for ``docker inspect`` and the SDK."""
    networks = _networks_of(ctl, record)
    first = next(iter(networks.values()), None) if "bridge" not in networks else networks["bridge"]
    legacy = {
        "EndpointID": first["EndpointID"] if first else "",
        "Gateway": first["Gateway"] if first else "",
        "GlobalIPv6Address": first["GlobalIPv6Address"] if first else "",
        "GlobalIPv6PrefixLen": first["GlobalIPv6PrefixLen"] if first else 0,
        "IPAddress": first["IPAddress"] if first else "",
        "IPPrefixLen": first["IPPrefixLen"] if first else 0,
        "IPv6Gateway": first["IPv6Gateway"] if first else "",
        "MacAddress": first["MacAddress"] if first else "",
    }
    return {
        "Id": record.id,
        "Created": record.created,
        "Path": "",
        "Args": [],
        "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False,
                  "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                  "StartedAt": record.created, "FinishedAt": "0001-01-01T00:00:00Z"},
        "Image": "",
        "ResolvConfPath": ctl.sandbox_file(record, "resolv.conf"),
        "HostnamePath": ctl.sandbox_file(record, "hostname"),
        "HostsPath": ctl.sandbox_file(record, "hosts"),
        "Name": "/" + record.name,
        "RestartCount": 0,
        "Driver": "",
        "Platform": "linux",
        "HostConfig": {
            "NetworkMode": network_mode(ctl, record),
            "PortBindings": dict(record.port_bindings),
            "PublishAllPorts": record.publish_all,
            "Dns": list(record.dns),
            "DnsOptions": list(record.dns_options),
            "DnsSearch": list(record.dns_search),
            "ExtraHosts": list(record.extra_hosts) or None,
            # Docker keeps links as "/target:/linking-sandbox/alias".
            "Links": [f"/{t}:/{record.name}/{a or t}" for t, _, a in
                      (link.partition(":") for link in record.links)] or None,
        },
        "Config": {
            "Hostname": record.hostname,
            "Domainname": "",
            "ExposedPorts": {p: {} for p in record.exposed_ports} or None,
            "Image": "",
            "Labels": {},
        },
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": record.id,
            "SandboxKey": ctl.netns_path(record),
            "Ports": ports(ctl, record),
            **legacy,
            "Networks": networks,
        },
    }


def container_summary(ctl: Controller, record: SandboxRecord) -> dict[str, Any]:
    """GET /containers/json item."""
    return {
        "Id": record.id,
        "Names": ["/" + record.name],
        "Image": "",
        "ImageID": "",
        "Command": "",
        "Created": 0,
        "Ports": [{"IP": b.host_ip, "PrivatePort": b.container_port, "PublicPort": b.host_port, "Type": b.proto}
                  for b in _bound(ctl, record)],
        "Labels": {},
        "State": "running",
        "Status": "Up",
        "HostConfig": {"NetworkMode": network_mode(ctl, record)},
        "NetworkSettings": {"Networks": _networks_of(ctl, record)},
        "Mounts": [],
    }
