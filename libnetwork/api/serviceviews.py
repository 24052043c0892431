"""Service and task records as Docker's API shows them, and the list filters; pure functions.

Shapes are dockerd's (docs/reference/services-api.md): Go's field order,
``omitempty`` fields left out when zero (a task's ``Slot`` for a global
service, ``NodeID`` before it is placed, ``ContainerStatus`` before its
process exists, ``Status.Err``), ``Version.Index`` the record's etcd revision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..cluster.servicerecords import RUNNING, SHUTDOWN, ServiceRecord, TaskRecord
from ..cluster.servicespec import insert_defaults
from ..errors import Internal, InvalidParameter
from . import filters as filter_query

SERVICE_FILTERS = frozenset({"id", "label", "mode", "name"})
TASK_FILTERS = frozenset({"_up-to-date", "desired-state", "id", "label", "name", "node", "service"})
# dockerd maps only these three to swarmkit states; anything else is its (500) error.
DESIRED_STATES = ("running", "shutdown", "accepted")

NetworkView = Callable[[str], "dict[str, Any] | None"]


def port_view(protocol: str, target: int, published: int, mode: str, name: str = "") -> dict[str, Any]:
    view: dict[str, Any] = {"Name": name} if name else {}
    view["Protocol"] = protocol
    if target:
        view["TargetPort"] = target
    if published:
        view["PublishedPort"] = published
    view["PublishMode"] = mode
    return view


def endpoint_view(record: ServiceRecord) -> dict[str, Any]:
    """The allocator's Endpoint: empty until the service has ports or virtual IPs (dnsrr has none)."""
    if not record.ports and not record.vips:
        return {"Spec": {}}
    view: dict[str, Any] = {"Spec": record.spec.get("EndpointSpec") or {}}
    if record.ports:
        view["Ports"] = [port_view(p.protocol, p.target, p.published, p.mode) for p in record.ports]
    if record.vips:
        view["VirtualIPs"] = [{"NetworkID": v.network_id, "Addr": v.addr} for v in record.vips]
    return view


def service_view(record: ServiceRecord, version: int, *, defaults: bool = False,
                 status: dict[str, int] | None = None) -> dict[str, Any]:
    """``GET /services/{id}``; ``defaults`` is ``?insertDefaults=true``, ``status`` the ServiceStatus of
    ``GET /services?status=true``."""
    def shown(spec: dict[str, Any]) -> dict[str, Any]:
        return insert_defaults(spec) if defaults else spec

    view: dict[str, Any] = {"ID": record.id, "Version": {"Index": version}, "CreatedAt": record.created_at,
                            "UpdatedAt": record.updated_at, "Spec": shown(record.spec)}
    if record.previous_spec is not None:
        view["PreviousSpec"] = shown(record.previous_spec)
    view["Endpoint"] = endpoint_view(record)
    if status is not None:
        view["ServiceStatus"] = status
    return view


def service_status(record: ServiceRecord, tasks: Iterable[TaskRecord]) -> dict[str, int]:
    """moby's ServiceStatus: running and completed tasks; desired is the replica count, or for a
    global service its tasks not meant to stop."""
    mine = [t for t in tasks if t.service_id == record.id]
    running = sum(1 for t in mine if t.state == "running")
    completed = sum(1 for t in mine if t.state == "complete")
    mode = record.spec.get("Mode") or {}
    if "Global" in mode:
        desired = sum(1 for t in mine if t.desired_state == RUNNING)
    else:
        desired = int(((mode.get("Replicated") or {}).get("Replicas")) or 0)
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": completed}


def task_spec(service: ServiceRecord | None) -> dict[str, Any]:
    """A task's Spec: its service's TaskTemplate, which dockerd shows without ``Runtime``."""
    if service is None:
        return {}
    template = service.spec.get("TaskTemplate") or {}
    return {k: v for k, v in template.items() if k != "Runtime"}


def task_view(task: TaskRecord, version: int, service: ServiceRecord | None,
              network_view: NetworkView) -> dict[str, Any]:
    """``GET /tasks/{id}``; ``network_view`` gives Docker's network object for NetworksAttachments."""
    view: dict[str, Any] = {"ID": task.id, "Version": {"Index": version}, "CreatedAt": task.created_at,
                            "UpdatedAt": task.updated_at, "Labels": {}, "Spec": task_spec(service),
                            "ServiceID": task.service_id}
    if task.slot:
        view["Slot"] = task.slot
    if task.node_id:
        view["NodeID"] = task.node_id
    status: dict[str, Any] = {"Timestamp": task.updated_at, "State": task.state}
    if task.message:
        status["Message"] = task.message
    if task.err:
        status["Err"] = task.err
    if task.sandbox_id or task.pid:
        status["ContainerStatus"] = {"ContainerID": task.sandbox_id, "PID": task.pid, "ExitCode": task.exit_code}
    host_ports = [p for p in (service.ports if service else ()) if p.mode == "host"]
    status["PortStatus"] = {"Ports": [port_view(p.protocol, p.target, p.published, p.mode) for p in host_ports]} \
        if host_ports and task.state == "running" else {}
    view["Status"] = status
    view["DesiredState"] = task.desired_state
    attachments = []
    for network in task.networks:
        shown = network_view(network.network_id)
        if shown is not None:
            attachments.append({"Network": shown, "Addresses": list(network.addresses)})
    if attachments:
        view["NetworksAttachments"] = attachments
    return view


def display_task_name(task: TaskRecord, service: ServiceRecord | None) -> str:
    """The name the ``name`` filter matches: ``web.1`` (replicated) or ``web.<node ID>`` (global)."""
    name = str(service.spec.get("Name", "")) if service else ""
    return f"{name}.{task.slot}" if task.slot else f"{name}.{task.node_id}"


# -- filters ---------------------------------------------------------------------------------------

def parse_filters(raw: str | None, accepted: frozenset[str]) -> dict[str, list[str]]:
    found = filter_query.parse(raw, None)
    for key in found:
        if key not in accepted:
            raise InvalidParameter(f"Invalid filter '{key}'")
    for state in found.get("desired-state", ()):
        if state not in DESIRED_STATES:
            raise Internal(f"Invalid desired-state filter: '{state}'")
    return found


def _labels_match(wanted: Iterable[str], labels: Mapping[str, str]) -> bool:
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def _any_prefix(prefixes: list[str] | None, value: str) -> bool:
    return not prefixes or any(value.startswith(p) for p in prefixes)


def service_matches(record: ServiceRecord, found: Mapping[str, list[str]]) -> bool:
    """swarmkit's service filters: ID and name prefixes, labels, and the mode (other modes match nothing)."""
    mode = "global" if "Global" in (record.spec.get("Mode") or {}) else "replicated"
    return (_any_prefix(found.get("id"), record.id)
            and _any_prefix(found.get("name"), str(record.spec.get("Name", "")))
            and _labels_match(found.get("label", ()), record.spec.get("Labels") or {})
            and (not found.get("mode") or mode in found["mode"]))


def task_matches(task: TaskRecord, service: ServiceRecord | None, found: Mapping[str, list[str]]) -> bool:
    """``service`` values are service IDs already (the route resolves names and prefixes first, as dockerd)."""
    if found.get("service") and task.service_id not in found["service"]:
        return False
    if found.get("node") and not any(task.node_id == n or (n and task.node_id.startswith(n))
                                     for n in found["node"]):
        return False
    if found.get("desired-state") and task.desired_state not in found["desired-state"]:
        return False
    if found.get("_up-to-date") and task.desired_state in (SHUTDOWN, "remove"):
        # Tasks of an older spec are the ones told to stop; the CLI's progress counts the others.
        return False
    return (_any_prefix(found.get("id"), task.id)
            and _any_prefix(found.get("name"), display_task_name(task, service))
            and _labels_match(found.get("label", ()), {}))

