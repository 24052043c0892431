"""Docker's request JSON turned into the controller's typed requests, once, at the edge.

Fields the daemon does not know are ignored: the docker CLI negotiates down
to API 1.45 and still sends newer fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidParameter
from ..ipam import config as ipam_config
from ..requests import EndpointRequest, NetworkAttachment, NetworkCreate, SandboxCreate, SubnetRequest


def _object(value: Any, field: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid JSON: field {field} must be an object")
    return value


def _strings(value: Any, field: str) -> dict[str, str]:
    value = _object(value, field)
    if not all(isinstance(v, str) for v in value.values()):
        raise InvalidParameter(f"invalid JSON: field {field} must map strings to strings")
    return dict(value)


def _list(value: Any, field: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidParameter(f"invalid JSON: field {field} must be an array")
    return value


def _bool(value: Any, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParameter(f"invalid JSON: field {field} must be a boolean")
    return value


def _str(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(f"invalid JSON: field {field} must be a string")
    return value


def network_create(body: Mapping[str, Any]) -> NetworkCreate:
    ipam = _object(body.get("IPAM"), "IPAM")
    enable_ipv6 = _bool(body.get("EnableIPv6"), "EnableIPv6")
    spec = ipam_config.parse_ipam(ipam, enable_ipv6)
    config_from = _object(body.get("ConfigFrom"), "ConfigFrom")
    return NetworkCreate(
        name=_str(body.get("Name"), "Name"),
        driver=_str(body.get("Driver"), "Driver") or "bridge",
        options=_strings(body.get("Options"), "Options"),
        labels=_strings(body.get("Labels"), "Labels"),
        ipam_driver=spec.driver,
        # Echoed as given: null when the request had none, as dockerd does.
        ipam_options=dict(spec.options) if ipam.get("Options") is not None else None,
        # Docker keeps, but never allocates from, IPv6 subnets of a network without IPv6.
        subnets=tuple(SubnetRequest(
            subnet=s.subnet, ip_range=s.ip_range, gateway=s.gateway,
            aux_addresses=dict(s.aux), user_config=s.to_docker(),
        ) for s in spec.v4 + spec.v6 if s.validated and (s.version == 4 or enable_ipv6)),
        enable_ipv6=enable_ipv6,
        internal=_bool(body.get("Internal"), "Internal"),
        attachable=_bool(body.get("Attachable"), "Attachable"),
        ingress=_bool(body.get("Ingress"), "Ingress"),
        scope=_str(body.get("Scope"), "Scope"),
        config_only=_bool(body.get("ConfigOnly"), "ConfigOnly"),
        config_from=_str(config_from.get("Network"), "ConfigFrom.Network"),
    )


def endpoint_request(settings: Any) -> EndpointRequest:
    settings = _object(settings, "EndpointConfig")
    ipam = _object(settings.get("IPAMConfig"), "EndpointConfig.IPAMConfig")
    aliases = [_str(a, "Aliases") for a in _list(settings.get("Aliases"), "Aliases")]
    links = [_str(a, "Links") for a in _list(settings.get("Links"), "Links")]
    return EndpointRequest(
        aliases=tuple(a for a in aliases if a),
        links=tuple(links),
        mac_address=_str(settings.get("MacAddress"), "MacAddress") or None,
        driver_opts=_strings(settings.get("DriverOpts"), "DriverOpts"),
        ipam_config={k: v for k, v in ipam.items() if v},
    )


def connect(body: Mapping[str, Any]) -> tuple[str, EndpointRequest]:
    container = _str(body.get("Container"), "Container").strip()
    if not container:
        raise InvalidParameter("no container specified")
    return container, endpoint_request(body.get("EndpointConfig"))


def disconnect(body: Mapping[str, Any]) -> tuple[str, bool]:
    container = _str(body.get("Container"), "Container").strip()
    if not container:
        raise InvalidParameter("no container specified")
    return container, _bool(body.get("Force"), "Force")


def sandbox_create(body: Mapping[str, Any]) -> SandboxCreate:
    networks = []
    for item in _list(body.get("Networks"), "Networks"):
        item = _object(item, "Networks[]")
        name = _str(item.get("Network"), "Networks[].Network")
        if not name:
            raise InvalidParameter("network name must not be empty")
        networks.append(NetworkAttachment(name, endpoint_request(item.get("EndpointConfig"))))
    bindings = _object(body.get("PortBindings"), "PortBindings")
    return SandboxCreate(
        name=_str(body.get("Name"), "Name"),
        hostname=_str(body.get("Hostname"), "Hostname"),
        netns_path=_str(body.get("NetnsPath"), "NetnsPath"),
        networks=tuple(networks),
        # Checked here: a binding that is not strings would make the record unreadable at the next start.
        port_bindings={k: [_strings(b, "PortBindings") for b in _list(v, "PortBindings")] for k, v in bindings.items()},
        exposed_ports=tuple(_object(body.get("ExposedPorts"), "ExposedPorts")),
        publish_all=_bool(body.get("PublishAllPorts"), "PublishAllPorts"),
        dns=tuple(_str(s, "Dns") for s in _list(body.get("Dns"), "Dns")),
        dns_search=tuple(_str(s, "DnsSearch") for s in _list(body.get("DnsSearch"), "DnsSearch")),
        dns_options=tuple(_str(s, "DnsOptions") for s in _list(body.get("DnsOptions"), "DnsOptions")),
        extra_hosts=tuple(_str(s, "ExtraHosts") for s in _list(body.get("ExtraHosts"), "ExtraHosts")),
        links=tuple(_str(s, "Links") for s in _list(body.get("Links"), "Links")),
    )
