"""What ``service ls``, ``service ps`` and ``service inspect --pretty`` print, from daemon JSON; no I/O.

Follows cli/command/service/formatter.go and cli/command/task/formatter.go
(docker CLI v26-28); outputs checked against dockerd 20.10 captures
(docs/reference/services-api.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from .nodeviews import pretty_print
from .tables import list_format, render, truncate_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    JSONObject = Mapping[str, Any]

SERVICE_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"
SERVICE_HEADER = {"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE",
                  "Ports": "PORTS"}
TASK_TABLE = ("table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}"
              "\t{{.Ports}}")
TASK_HEADER = {"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE", "DesiredState": "DESIRED STATE",
               "CurrentState": "CURRENT STATE", "Error": "ERROR", "Ports": "PORTS"}
MAX_ERROR = 30


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600 / 24 / 365)} years"


def parse_time(text: str) -> datetime:
    """RFC 3339 with nanoseconds, as the daemon writes it."""
    main, _, frac = text.rstrip("Z").partition(".")
    stamp = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return stamp.replace(microsecond=int((frac + "000000")[:6])) if frac else stamp


def image_name(image: str) -> str:
    """The image without its digest, as ``ls`` and ``ps`` show it."""
    return image.partition("@")[0]


def port_text(ports: Iterable[JSONObject]) -> str:
    """``*:8080->80/tcp``, one per port (a task's host-mode ports in ``ps``)."""
    return ", ".join(f"*:{p.get('PublishedPort', 0)}->{p.get('TargetPort', 0)}/{p.get('Protocol', 'tcp')}"
                     for p in ports)


class ServiceRow:
    template_fields = ("ID", "Name", "Mode", "Replicas", "Image", "Ports")

    def __init__(self, service: JSONObject) -> None:
        self.service = service

    @property
    def ID(self) -> str:
        return truncate_id(self.service.get("ID", ""))

    @property
    def Name(self) -> str:
        return str(self.service.get("Spec", {}).get("Name", ""))

    @property
    def Mode(self) -> str:
        return "global" if "Global" in (self.service.get("Spec", {}).get("Mode") or {}) else "replicated"

    @property
    def Replicas(self) -> str:
        status = self.service.get("ServiceStatus") or {}
        return f"{status.get('RunningTasks', 0)}/{status.get('DesiredTasks', 0)}"

    @property
    def Image(self) -> str:
        spec = self.service.get("Spec", {}).get("TaskTemplate", {}).get("ContainerSpec") or {}
        return image_name(str(spec.get("Image", "")))

    @property
    def Ports(self) -> str:
        # Host-mode ports belong to the tasks (``ps`` shows them), not to the service's row.
        ports = (self.service.get("Endpoint") or {}).get("Ports") or ()
        return port_text(p for p in ports if p.get("PublishMode", "ingress") == "ingress")

    def MarshalJSON(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.template_fields}


def service_list_text(services: Iterable[JSONObject], fmt: str = "", quiet: bool = False) -> str:
    rows = sorted(services, key=lambda s: str(s.get("Spec", {}).get("Name", "")))
    return render(list_format(fmt or "table", quiet, SERVICE_TABLE), [ServiceRow(s) for s in rows], SERVICE_HEADER)


class TaskRow:
    template_fields = ("ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error", "Ports")

    def __init__(self, task: JSONObject, name: str, node: str, now: datetime, trunc: bool) -> None:
        self.task, self._name, self._node, self._now, self._trunc = task, name, node, now, trunc

    @property
    def ID(self) -> str:
        return truncate_id(self.task.get("ID", "")) if self._trunc else str(self.task.get("ID", ""))

    @property
    def Name(self) -> str:
        return self._name

    @property
    def Image(self) -> str:
        image = str((self.task.get("Spec", {}).get("ContainerSpec") or {}).get("Image", ""))
        return image_name(image) if self._trunc else image

    @property
    def Node(self) -> str:
        return self._node

    @property
    def DesiredState(self) -> str:
        return pretty_print(str(self.task.get("DesiredState", "")))

    @property
    def CurrentState(self) -> str:
        status = self.task.get("Status") or {}
        since = (self._now - parse_time(status.get("Timestamp") or self.task.get("UpdatedAt", ""))).total_seconds()
        return f"{pretty_print(str(status.get('State', '')))} {human_duration(since).lower()} ago"

    @property
    def Error(self) -> str:
        err = str((self.task.get("Status") or {}).get("Err", ""))
        if self._trunc and len(err) > MAX_ERROR:
            err = err[:MAX_ERROR - 1] + "…"
        return f'"{err}"' if err else ""

    @property
    def Ports(self) -> str:
        ports = ((self.task.get("Status") or {}).get("PortStatus") or {}).get("Ports") or ()
        return port_text(ports)

    def MarshalJSON(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.template_fields}


def task_list_text(tasks: Iterable[JSONObject], service_names: Mapping[str, str], node_names: Mapping[str, str],
                   now: datetime, fmt: str = "", quiet: bool = False, trunc: bool = True) -> str:
    """Tasks by service name, slot (or node), newest first; older tasks of a slot indented ``\\_``."""
    def name_of(task: JSONObject) -> str:
        service = service_names.get(task.get("ServiceID", ""), "")
        return f"{service}.{task['Slot']}" if task.get("Slot") else f"{service}.{task.get('NodeID', '')}"

    ordered = sorted(tasks, key=lambda t: (service_names.get(t.get("ServiceID", ""), ""), t.get("Slot", 0),
                                           t.get("NodeID", "") if not t.get("Slot") else "",
                                           _negated(t.get("Status", {}).get("Timestamp") or "")))
    rows = []
    previous = None
    for task in ordered:
        name = name_of(task)
        shown = f" \\_ {name}" if name == previous and not quiet else name
        previous = name
        rows.append(TaskRow(task, shown, node_names.get(task.get("NodeID", ""), ""), now, trunc and not quiet))
    return render(list_format(fmt or "table", quiet, TASK_TABLE), rows, TASK_HEADER)


def _negated(stamp: str) -> tuple[int, ...]:
    # Newest first within a slot: sort on the negated code points of the timestamp.
    return tuple(-ord(c) for c in stamp)


def _duration(nanoseconds: int) -> str:
    """Go's time.Duration String for whole seconds and minutes (what swarmkit's defaults are)."""
    seconds = nanoseconds / 1e9
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60}m{rest}s"


def _update_config(title: str, order_label: str, config: JSONObject) -> list[str]:
    lines = [f"{title}:", f" Parallelism:\t{config.get('Parallelism', 0)}"]
    if config.get("Delay"):
        lines.append(f" Delay:\t\t{_duration(config['Delay'])}")
    lines.append(f" On failure:\t{config.get('FailureAction', '')}")
    lines.append(f" Monitoring Period: {_duration(config.get('Monitor', 0))}")
    lines.append(f" Max failure ratio: {config.get('MaxFailureRatio', 0):g}")
    lines.append(f" {order_label}{config.get('Order', '')}")
    return lines


def service_pretty_text(service: JSONObject, network_names: Mapping[str, str]) -> str:
    """``docker service inspect --pretty`` of one service (a blank line before and after, as docker)."""
    spec = service.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    lines = ["", f"ID:\t\t{service.get('ID', '')}", f"Name:\t\t{spec.get('Name', '')}"]
    if spec.get("Labels"):
        lines.append("Labels:")
        lines += [f" {k}={v}" for k, v in spec["Labels"].items()]
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        lines.append("Service Mode:\tGlobal")
    else:
        lines += ["Service Mode:\tReplicated", f" Replicas:\t{(mode.get('Replicated') or {}).get('Replicas', 0)}"]
    lines.append("Placement:")
    if spec.get("UpdateConfig"):
        lines += _update_config("UpdateConfig", "Update order:      ", spec["UpdateConfig"])
    if spec.get("RollbackConfig"):
        lines += _update_config("RollbackConfig", "Rollback order:    ", spec["RollbackConfig"])
    lines += ["ContainerSpec:", f" Image:\t\t{container.get('Image', '')}"]
    if container.get("Command"):
        lines.append(f" Command:\t{' '.join(container['Command'])} ")
    if container.get("Args"):
        lines.append(f" Args:\t\t{' '.join(container['Args'])} ")
    if container.get("Env"):
        lines.append(f" Env:\t\t{' '.join(container['Env'])} ")
    if container.get("Hostname"):
        lines.append(f" Hostname:\t{container['Hostname']}")
    if "Init" in container:
        lines.append(f" Init:\t\t{str(bool(container['Init'])).lower()}")
    lines.append("Resources:")
    networks = template.get("Networks") or spec.get("Networks") or []
    if networks:
        lines.append("Networks:" + "".join(f" {network_names.get(n.get('Target', ''), n.get('Target', ''))}"
                                           for n in networks) + " ")
    endpoint = spec.get("EndpointSpec") or {}
    lines.append(f"Endpoint Mode:\t{endpoint.get('Mode', 'vip')}")
    ports = (service.get("Endpoint") or {}).get("Ports") or []
    if ports:
        lines.append("Ports:")
        for port in ports:
            lines += [f" PublishedPort = {port.get('PublishedPort', 0)}", f"  Protocol = {port.get('Protocol', '')}",
                      f"  TargetPort = {port.get('TargetPort', 0)}", f"  PublishMode = {port.get('PublishMode', '')}"]
        lines[-1] += " "
    return "\n".join(lines) + "\n\n"
