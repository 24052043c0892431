"""Docker's ServiceSpec, read once at the edge into what this daemon acts on.

The spec is kept in etcd as the client gave it (defaults filled in, as
swarmkit shows it back in ``docker service inspect``); ``parse_spec`` turns it
into a ``ServiceIntent``, refusing what Docker refuses with Docker's texts.
Shapes and texts: docs/reference/services-api.md (dockerd 20.10 captures).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter

# -- texts of refusals that need the cluster's state (the service store raises them) -------------
# Each says the status dockerd answers with.

# 409 (gRPC AlreadyExists).
NAME_CONFLICT = ("rpc error: code = AlreadyExists desc = name conflicts with an existing object: "
                 "service {name} already exists")
# 404.
SERVICE_NOT_FOUND = "service {reference} not found"
TASK_NOT_FOUND = "task {reference} not found"
# 404 when ambiguous too: dockerd's lookup reports several matches as not found.
SERVICE_AMBIGUOUS = "service {reference} is ambiguous ({count} matches found)"
# 500 in dockerd (a plain error from its network lookup).
NETWORK_NOT_FOUND = "network {network} not found"
# 403 (moby daemon/cluster/services.go populateNetworkID, notAllowedError): a local-scope network
# such as a user bridge.  dockerd 20.10 took the predefined "bridge" and "host" (their tasks never
# start); cnmd refuses every local-scope network with this text.
NETWORK_LOCAL_SCOPE = ("The network {network} cannot be used with services. Only networks scoped to the swarm "
                       "can be used, such as those created with the overlay driver.")
# 400 (gRPC InvalidArgument).
INGRESS_NOT_ATTACHABLE = ("rpc error: code = InvalidArgument desc = Service cannot be explicitly attached to "
                          "the ingress network \"{network}\"")
# 400 (gRPC InvalidArgument); the other service by name and ID.
PORT_IN_USE = ("rpc error: code = InvalidArgument desc = port '{port}' is already in use by service "
               "'{service}' ({id}) as an ingress port")
# 500 in dockerd (gRPC Unknown): a stale ?version= on update.
OUT_OF_SEQUENCE = "rpc error: code = Unknown desc = update out of sequence"
# swarmkit's old errRenameNotSupported (gRPC Unimplemented, 501); dockerd 20.10 renames instead.
RENAME_UNSUPPORTED = "rpc error: code = Unimplemented desc = renaming services is not supported"
# swarmkit's port allocator when 30000-32767 is used up (gRPC ResourceExhausted in swarmkit's allocator).
NO_DYNAMIC_PORT = "rpc error: code = ResourceExhausted desc = no more dynamic ports available"
# Not Docker's: a network with no free address for the service's virtual IP.
VIP_FAILED = "could not allocate a virtual IP for the service on network {network}: {error}"

# -- texts of refusals of the spec itself (400) ---------------------------------------------------
_INVALID = "rpc error: code = InvalidArgument desc = "
NAME_INVALID = _INVALID + "name must be valid as a DNS name component"
NAME_TOO_LONG = _INVALID + "name must be 63 characters or fewer"
IMAGE_MISSING = _INVALID + "ContainerSpec: image reference must be provided"
RUNTIME_MISMATCH = "mismatched Runtime and *Spec fields"
ONE_MODE = "must specify only one service mode"
DNSRR_INGRESS = _INVALID + "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
DUPLICATE_PORTS = _INVALID + "EndpointSpec: duplicate published ports provided"
RESOLUTION_MODE = 'invalid resolution mode: "{mode}"'
# Go's encoding/json on a uint64 field: dockerd refuses a negative replica count while decoding.
_JSON_TYPE = "json: cannot unmarshal {what} into Go struct field {field} of type {type}"
# dockerd stores these unchecked (an unknown protocol as tcp, a port out of range as given);
# cnmd refuses them with the docker CLI's texts for the same mistakes in -p.
BAD_PROTOCOL = "invalid proto: {protocol}"
BAD_TARGET_PORT = "invalid containerPort: {port}"
BAD_PUBLISHED_PORT = "invalid hostPort: {port}"
BAD_PUBLISH_MODE = "invalid publish mode value ({mode}): must be either 'ingress' or 'host'"
MODE_UNSUPPORTED = "service mode {mode} is not supported by this daemon"

PROTOCOLS = ("tcp", "udp", "sctp")
PUBLISH_MODES = ("ingress", "host")
ENDPOINT_MODES = ("vip", "dnsrr")
# swarmkit's isValidDNSName (manager/controlapi/common.go).
_DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
_SECOND = 1_000_000_000

# Go's field order of the API types, so stored specs print as dockerd's do.
_SERVICE_KEYS = ("Name", "Labels", "TaskTemplate", "Mode", "UpdateConfig", "RollbackConfig", "Networks",
                 "EndpointSpec")
_TASK_KEYS = ("PluginSpec", "ContainerSpec", "NetworkAttachmentSpec", "Resources", "RestartPolicy", "Placement",
              "Networks", "LogDriver", "ForceUpdate", "Runtime")
_CONTAINER_KEYS = ("Image", "Labels", "Command", "Args", "Hostname", "Env", "Dir", "User", "Groups", "Privileges",
                   "Init", "StopSignal", "TTY", "OpenStdin", "ReadOnly", "Mounts", "StopGracePeriod", "Healthcheck",
                   "Hosts", "DNSConfig", "Secrets", "Configs", "Isolation", "Sysctls", "CapabilityAdd",
                   "CapabilityDrop", "Ulimits", "OomScoreAdj")
_PORT_KEYS = ("Name", "Protocol", "TargetPort", "PublishedPort", "PublishMode")
_UPDATE_DEFAULTS = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * _SECOND, "MaxFailureRatio": 0,
                    "Order": "stop-first"}
_RESTART_DEFAULTS = {"Condition": "any", "Delay": 5 * _SECOND, "MaxAttempts": 0}


@dataclass(frozen=True)
class NetworkTarget:
    """``TaskTemplate.Networks[]``: a network by name or ID, and the service's aliases on it."""

    target: str
    aliases: tuple[str, ...] = ()
    driver_opts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PortIntent:
    """``EndpointSpec.Ports[]``; ``published`` 0 asks the managers for one (30000-32767, as swarmkit)."""

    protocol: str
    target: int
    published: int
    mode: str = "ingress"  # or "host"
    name: str = ""


@dataclass(frozen=True)
class ServiceIntent:
    name: str
    image: str
    # ContainerSpec.Command + ContainerSpec.Args: what each task runs (empty: nothing).
    argv: tuple[str, ...]
    env: tuple[str, ...]
    hostname: str
    mode: str  # "replicated" or "global"
    replicas: int
    networks: tuple[NetworkTarget, ...]
    endpoint_mode: str  # "vip" or "dnsrr"
    ports: tuple[PortIntent, ...]
    labels: dict[str, str]
    container_labels: dict[str, str] = field(default_factory=dict)


# -- reading --------------------------------------------------------------------------------------

def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(_JSON_TYPE.format(what=_json_kind(value), field=what, type=_go_type(what)))
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_type(what: str) -> str:
    return {"ServiceSpec.TaskTemplate": "swarm.TaskSpec", "ServiceSpec.Mode": "swarm.ServiceMode",
            "ServiceSpec.EndpointSpec": "swarm.EndpointSpec"}.get(what, "object")


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameter(_JSON_TYPE.format(what=_json_kind(value), field=what, type="[]string"))
    return tuple(value)


def _labels(value: Any, what: str) -> dict[str, str]:
    labels = _object(value, what)
    if not all(isinstance(v, str) for v in labels.values()):
        raise InvalidParameter(_JSON_TYPE.format(what="number", field=what, type="string"))
    return dict(labels)


def _replicas(mode: dict[str, Any]) -> int:
    replicated = _object(mode.get("Replicated"), "ServiceSpec.Mode.Replicated")
    value = replicated.get("Replicas", 1)
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameter(_JSON_TYPE.format(what=_json_kind(value),
                                                 field="ReplicatedService.Mode.Replicated.Replicas", type="uint64"))
    return value


def _mode(spec: dict[str, Any]) -> tuple[str, int]:
    mode = _object(spec.get("Mode"), "ServiceSpec.Mode")
    given = [k for k in ("Replicated", "Global", "ReplicatedJob", "GlobalJob") if mode.get(k) is not None]
    if len(given) > 1:
        raise InvalidParameter(ONE_MODE)
    if not given or given[0] == "Replicated":
        return "replicated", _replicas(mode)
    if given[0] == "Global":
        return "global", 0
    # Jobs run to completion; the task agent here keeps a task's process up, so they are refused.
    raise InvalidParameter(MODE_UNSUPPORTED.format(mode=given[0]))


def validate_name(name: str) -> None:
    """swarmkit's validateAnnotations (an empty name was given a random one by ``fill_defaults``)."""
    if not _DNS_NAME.match(name):
        raise InvalidParameter(NAME_INVALID)
    if len(name) > 63:
        raise InvalidParameter(NAME_TOO_LONG)


def _port_number(value: Any, text: str, low: int) -> int:
    if value is None:
        value = 0
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise InvalidParameter(text.format(port=value))
    return value


def _ports(endpoint: dict[str, Any]) -> tuple[PortIntent, ...]:
    ports = []
    for raw in endpoint.get("Ports") or ():
        port = _object(raw, "EndpointSpec.Ports")
        protocol = port.get("Protocol") or "tcp"
        if protocol not in PROTOCOLS:
            raise InvalidParameter(BAD_PROTOCOL.format(protocol=protocol))
        mode = port.get("PublishMode") or "ingress"
        if mode not in PUBLISH_MODES:
            raise InvalidParameter(BAD_PUBLISH_MODE.format(mode=mode))
        ports.append(PortIntent(protocol=protocol, target=_port_number(port.get("TargetPort"), BAD_TARGET_PORT, 1),
                                published=_port_number(port.get("PublishedPort"), BAD_PUBLISHED_PORT, 0),
                                mode=mode, name=str(port.get("Name") or "")))
    return tuple(ports)


def _check_endpoint(endpoint_mode: str, ports: Iterable[PortIntent]) -> None:
    """swarmkit's validateEndpointSpec, in its order."""
    seen: set[tuple[int, str]] = set()
    for port in ports:
        if endpoint_mode == "dnsrr" and port.mode == "ingress":
            raise InvalidParameter(DNSRR_INGRESS)
        if port.published == 0:
            continue
        if (port.published, port.protocol) in seen:
            raise InvalidParameter(DUPLICATE_PORTS)
        seen.add((port.published, port.protocol))


def _networks(spec: dict[str, Any], template: dict[str, Any]) -> tuple[NetworkTarget, ...]:
    # TaskTemplate.Networks wins; ServiceSpec.Networks is the deprecated place dockerd still reads.
    raw = template.get("Networks") or spec.get("Networks") or ()
    targets = []
    for item in raw:
        entry = _object(item, "NetworkAttachmentConfig")
        target = entry.get("Target")
        if not isinstance(target, str) or not target:
            raise InvalidParameter(NETWORK_NOT_FOUND.format(network=target or ""))
        targets.append(NetworkTarget(target=target, aliases=_strings(entry.get("Aliases"), "Aliases"),
                                     driver_opts=_labels(entry.get("DriverOpts"), "DriverOpts")))
    return tuple(targets)


def parse_spec(spec: dict[str, Any]) -> ServiceIntent:
    """The intent of a ServiceSpec; ``InvalidParameter`` with Docker's text for what Docker refuses."""
    template = _object(spec.get("TaskTemplate"), "ServiceSpec.TaskTemplate")
    runtime = template.get("Runtime") or "container"
    if runtime != "container" or template.get("ContainerSpec") is None:
        raise InvalidParameter(RUNTIME_MISMATCH)
    container = _object(template.get("ContainerSpec"), "TaskSpec.ContainerSpec")
    mode, replicas = _mode(spec)
    endpoint = _object(spec.get("EndpointSpec"), "ServiceSpec.EndpointSpec")
    endpoint_mode = endpoint.get("Mode") or "vip"
    if endpoint_mode not in ENDPOINT_MODES:
        raise InvalidParameter(RESOLUTION_MODE.format(mode=endpoint_mode))
    ports = _ports(endpoint)
    name = spec.get("Name")
    if not isinstance(name, str):
        raise InvalidParameter(NAME_INVALID)
    validate_name(name)
    image = container.get("Image")
    if not isinstance(image, str) or not image:
        raise InvalidParameter(IMAGE_MISSING)
    _check_endpoint(endpoint_mode, ports)
    hostname = container.get("Hostname") or ""
    if not isinstance(hostname, str):
        raise InvalidParameter(_JSON_TYPE.format(what=_json_kind(hostname), field="ContainerSpec.Hostname",
                                                 type="string"))
    return ServiceIntent(
        name=name, image=image,
        argv=_strings(container.get("Command"), "ContainerSpec.Command")
        + _strings(container.get("Args"), "ContainerSpec.Args"),
        env=_strings(container.get("Env"), "ContainerSpec.Env"), hostname=hostname,
        mode=mode, replicas=replicas, networks=_networks(spec, template), endpoint_mode=endpoint_mode,
        ports=ports, labels=_labels(spec.get("Labels"), "ServiceSpec.Labels"),
        container_labels=_labels(container.get("Labels"), "ContainerSpec.Labels"))


# -- the stored form ---------------------------------------------------------------------------------

def _ordered(data: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """``data`` with Go's field order for the keys it knows; unknown keys keep their place after them."""
    known = {k: data[k] for k in keys if k in data}
    return known | {k: v for k, v in data.items() if k not in known}


def fill_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as swarmkit stores it (what ``docker service inspect`` shows back).

    What dockerd's conversion adds and nothing else: ``Labels``, the
    container's ``Isolation``, ``ForceUpdate``, ``Runtime``, one replica when
    no mode is given, each port's protocol and publish mode, and ``vip`` for
    an EndpointSpec without a mode.  A spec without an EndpointSpec keeps
    none (dockerd does the same).  An empty name gets a random one, as
    dockerd gives.  Shapes it cannot read are left for ``parse_spec`` to refuse.
    """
    from ..names import random_name

    filled = dict(spec)
    if not filled.get("Name"):
        filled["Name"] = random_name(set())
    if not isinstance(filled.get("Labels"), dict):
        filled["Labels"] = {}
    template = filled.get("TaskTemplate")
    if isinstance(template, dict):
        template = dict(template)
        container = template.get("ContainerSpec")
        if isinstance(container, dict):
            container = dict(container)
            container.setdefault("Isolation", "default")
            template["ContainerSpec"] = _ordered(container, _CONTAINER_KEYS)
        template.setdefault("ForceUpdate", 0)
        if container is not None:
            template.setdefault("Runtime", "container")
        filled["TaskTemplate"] = _ordered(template, _TASK_KEYS)
    mode = filled.get("Mode")
    if not mode:
        filled["Mode"] = {"Replicated": {"Replicas": 1}}
    elif isinstance(mode, dict) and isinstance(mode.get("Replicated"), dict) \
            and mode["Replicated"].get("Replicas") is None:
        filled["Mode"] = {**mode, "Replicated": {**mode["Replicated"], "Replicas": 1}}
    endpoint = filled.get("EndpointSpec")
    if isinstance(endpoint, dict):
        endpoint = {"Mode": endpoint.get("Mode") or "vip", **{k: v for k, v in endpoint.items() if k != "Mode"}}
        if isinstance(endpoint.get("Ports"), list):
            endpoint["Ports"] = [_filled_port(p) for p in endpoint["Ports"]]
        filled["EndpointSpec"] = endpoint
    return _ordered(filled, _SERVICE_KEYS)


def _filled_port(port: Any) -> Any:
    if not isinstance(port, dict):
        return port
    filled = dict(port)
    filled["Protocol"] = filled.get("Protocol") or "tcp"
    filled["PublishMode"] = filled.get("PublishMode") or "ingress"
    if not filled.get("PublishedPort"):
        filled.pop("PublishedPort", None)  # omitempty: 0 means "let the managers choose"
    if not filled.get("TargetPort"):
        filled.pop("TargetPort", None)
    return _ordered(filled, _PORT_KEYS)


def insert_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """What ``GET /services/{id}?insertDefaults=true`` shows: swarmkit's defaults for what the spec left out.

    ``docker service inspect`` always asks for this form.
    """
    shown = dict(spec)
    template = dict(shown.get("TaskTemplate") or {})
    container = template.get("ContainerSpec")
    if isinstance(container, dict):
        container = dict(container)
        container.setdefault("StopGracePeriod", 10 * _SECOND)
        container.setdefault("DNSConfig", {})
        template["ContainerSpec"] = _ordered(container, _CONTAINER_KEYS)
    template.setdefault("Resources", {})
    template["RestartPolicy"] = _RESTART_DEFAULTS | dict(template.get("RestartPolicy") or {})
    template.setdefault("Placement", {})
    shown["TaskTemplate"] = _ordered(template, _TASK_KEYS)
    shown["UpdateConfig"] = _UPDATE_DEFAULTS | dict(shown.get("UpdateConfig") or {})
    shown["RollbackConfig"] = _UPDATE_DEFAULTS | dict(shown.get("RollbackConfig") or {})
    return _ordered(shown, _SERVICE_KEYS)
