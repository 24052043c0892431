"""Docker's Go types for the objects ``inspect --format`` sees.

``docker network inspect -f`` first runs the template on the response
decoded into Go structs (network.Inspect), and only when that fails on the
raw JSON map.  Typed values print differently (``{{.IPAM.Config}}`` is
``[{10.0.0.0/24  10.0.0.1 map[]}]``, not ``[map[Gateway:... Subnet:...]]``),
accept Go field names (``.ID``), and give zero values for absent fields.
This module turns the JSON into those typed values.
"""

from __future__ import annotations

from ..gotemplate import GoStruct, GoTime, TypedMap

# A Go type: "string", "bool", "int", "time", a struct name, ("slice", T), ("map", T)
# or ("ptr", T) (nil when absent, as *swarm.ManagerStatus on a worker).
GoType = str | tuple[str, str]

# (go_name, json_key, type, omitempty) of each field, in Go's order.
STRUCTS: dict[str, list[tuple[str, str, GoType, bool]]] = {
    "network.Inspect": [
        ("Name", "Name", "string", False),
        ("ID", "Id", "string", False),
        ("Created", "Created", "time", False),
        ("Scope", "Scope", "string", False),
        ("Driver", "Driver", "string", False),
        ("EnableIPv4", "EnableIPv4", "bool", False),
        ("EnableIPv6", "EnableIPv6", "bool", False),
        ("IPAM", "IPAM", "network.IPAM", False),
        ("Internal", "Internal", "bool", False),
        ("Attachable", "Attachable", "bool", False),
        ("Ingress", "Ingress", "bool", False),
        ("ConfigFrom", "ConfigFrom", "network.ConfigReference", False),
        ("ConfigOnly", "ConfigOnly", "bool", False),
        ("Containers", "Containers", ("map", "network.EndpointResource"), False),
        ("Options", "Options", ("map", "string"), False),
        ("Labels", "Labels", ("map", "string"), False),
        ("Peers", "Peers", ("slice", "network.PeerInfo"), True),
        ("Services", "Services", ("map", "network.ServiceInfo"), True),
    ],
    "network.IPAM": [
        ("Driver", "Driver", "string", False),
        ("Options", "Options", ("map", "string"), False),
        ("Config", "Config", ("slice", "network.IPAMConfig"), False),
    ],
    "network.IPAMConfig": [
        ("Subnet", "Subnet", "string", True),
        ("IPRange", "IPRange", "string", True),
        ("Gateway", "Gateway", "string", True),
        ("AuxAddress", "AuxiliaryAddresses", ("map", "string"), True),
    ],
    "network.ConfigReference": [
        ("Network", "Network", "string", False),
    ],
    "network.EndpointResource": [
        ("Name", "Name", "string", False),
        ("EndpointID", "EndpointID", "string", False),
        ("MacAddress", "MacAddress", "string", False),
        ("IPv4Address", "IPv4Address", "string", False),
        ("IPv6Address", "IPv6Address", "string", False),
    ],
    "network.PeerInfo": [
        ("Name", "Name", "string", False),
        ("IP", "IP", "string", False),
    ],
    "network.ServiceInfo": [
        ("VIP", "VIP", "string", False),
        ("Ports", "Ports", ("slice", "string"), False),
        ("LocalLBIndex", "LocalLBIndex", "int", False),
        ("Tasks", "Tasks", ("slice", "network.Task"), False),
    ],
    # api/types/swarm (node.go, common.go); Meta's fields are flattened in place.
    "swarm.Node": [
        ("ID", "ID", "string", False),
        ("Version", "Version", "swarm.Version", False),
        ("CreatedAt", "CreatedAt", "time", False),
        ("UpdatedAt", "UpdatedAt", "time", False),
        ("Spec", "Spec", "swarm.NodeSpec", False),
        ("Description", "Description", "swarm.NodeDescription", False),
        ("Status", "Status", "swarm.NodeStatus", False),
        ("ManagerStatus", "ManagerStatus", ("ptr", "swarm.ManagerStatus"), True),
    ],
    "swarm.Version": [
        ("Index", "Index", "int", True),
    ],
    "swarm.NodeSpec": [
        ("Name", "Name", "string", True),
        ("Labels", "Labels", ("map", "string"), False),
        ("Role", "Role", "string", True),
        ("Availability", "Availability", "string", True),
    ],
    "swarm.NodeDescription": [
        ("Hostname", "Hostname", "string", True),
        ("Platform", "Platform", "swarm.Platform", False),
        ("Resources", "Resources", "swarm.Resources", False),
        ("Engine", "Engine", "swarm.EngineDescription", False),
        ("TLSInfo", "TLSInfo", "swarm.TLSInfo", False),
    ],
    "swarm.Platform": [
        ("Architecture", "Architecture", "string", True),
        ("OS", "OS", "string", True),
    ],
    "swarm.Resources": [
        ("NanoCPUs", "NanoCPUs", "int", True),
        ("MemoryBytes", "MemoryBytes", "int", True),
    ],
    "swarm.EngineDescription": [
        ("EngineVersion", "EngineVersion", "string", True),
        ("Labels", "Labels", ("map", "string"), True),
        ("Plugins", "Plugins", ("slice", "swarm.PluginDescription"), True),
    ],
    "swarm.PluginDescription": [
        ("Type", "Type", "string", True),
        ("Name", "Name", "string", True),
    ],
    # CertIssuerSubject and CertIssuerPublicKey are []byte in Go (base64 in JSON); kept as that text.
    "swarm.TLSInfo": [
        ("TrustRoot", "TrustRoot", "string", True),
        ("CertIssuerSubject", "CertIssuerSubject", "string", True),
        ("CertIssuerPublicKey", "CertIssuerPublicKey", "string", True),
    ],
    "swarm.NodeStatus": [
        ("State", "State", "string", True),
        ("Message", "Message", "string", True),
        ("Addr", "Addr", "string", True),
    ],
    "swarm.ManagerStatus": [
        ("Leader", "Leader", "bool", True),
        ("Reachability", "Reachability", "string", True),
        ("Addr", "Addr", "string", True),
    ],
    "network.Task": [
        ("Name", "Name", "string", False),
        ("EndpointID", "EndpointID", "string", False),
        ("EndpointIP", "EndpointIP", "string", False),
        ("Info", "Info", ("map", "string"), False),
    ],
}

_ZERO: dict[str, object] = {"string": "", "bool": False, "int": 0, "time": "0001-01-01T00:00:00Z"}

# An API 1.45 daemon does not report EnableIPv4 (added in 1.48), but every
# network it has is IPv4-enabled; Go would show the zero value, false.
_ABSENT = {("network.Inspect", "EnableIPv4"): True}


class DecodeError(ValueError):
    """The JSON does not fit the Go type (Go's decoder would refuse it too)."""


def typed(value: object, kind: GoType) -> object:
    """Convert decoded JSON ``value`` into the typed value of Go type ``kind``."""
    if isinstance(kind, tuple):
        container, elem = kind
        if container == "ptr":
            return None if value is None else typed(value, elem)
        if container == "slice":
            if value is None:
                return []
            if not isinstance(value, list):
                raise DecodeError(f"expected array for {kind}")
            return [typed(v, elem) for v in value]
        if value is None:
            return TypedMap(zero=zero_value(elem), is_nil=True)
        if not isinstance(value, dict):
            raise DecodeError(f"expected object for {kind}")
        return TypedMap(((k, typed(v, elem)) for k, v in value.items()), zero=zero_value(elem))
    if kind in STRUCTS:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise DecodeError(f"expected object for {kind}")
        fields = STRUCTS[kind]
        values: dict[str, object] = {}
        for go, key, ftype, _ in fields:
            raw = value.get(key)
            if key not in value and (kind, go) in _ABSENT:
                raw = _ABSENT[(kind, go)]
            values[go] = typed(raw, ftype)
        return GoStruct(kind, [(go, key, omit) for go, key, _, omit in fields], values)
    if value is None:
        value = _ZERO[kind]
    if kind == "time":
        if not isinstance(value, str):
            raise DecodeError("expected time string")
        return GoTime(value)
    if kind == "string" and not isinstance(value, str):
        raise DecodeError("expected string")
    if kind == "bool" and not isinstance(value, bool):
        raise DecodeError("expected bool")
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise DecodeError("expected int")
    return value


def zero_value(kind: GoType) -> object:
    if isinstance(kind, tuple):
        if kind[0] == "ptr":
            return None
        return [] if kind[0] == "slice" else TypedMap(is_nil=True)
    if kind in STRUCTS:
        return typed({}, kind)
    return typed(None, kind)
