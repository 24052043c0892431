"""Services and their tasks, as the managers keep them in etcd.

A service record holds Docker's ServiceSpec as stored (``servicespec``) and
what the managers assigned it: a virtual IP on each of its networks and its
published ports.  A task record is one replica: the node it is placed on,
the state the managers want of it (``desired_state``) and the state its node
reports (``state``), as swarmkit's task model.  ``Version.Index`` in Docker's
API is the etcd ``mod_revision`` of the record's key, as for nodes.
"""

from __future__ import annotations

import msgspec

SERVICE_PREFIX = "services/"
# The gossip event the orchestrator sends after placing tasks: nodes look at their assignments at once.
TASKS_TOPIC = "tasks"
TASK_PREFIX = "tasks/"

# swarmkit's task states, in order; a task only moves forward.
TASK_STATES = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running",
               "complete", "shutdown", "failed", "rejected", "remove", "orphaned")
# Desired states the orchestrator sets.
RUNNING = "running"
SHUTDOWN = "shutdown"
REMOVE = "remove"


def service_key(service_id: str) -> str:
    return f"{SERVICE_PREFIX}{service_id}"


def task_key(task_id: str) -> str:
    return f"{TASK_PREFIX}{task_id}"


class VirtualIP(msgspec.Struct, kw_only=True):
    network_id: str
    addr: str  # "10.0.1.5/24", as Docker's Endpoint.VirtualIPs[].Addr


class AssignedPort(msgspec.Struct, kw_only=True):
    """Docker's Endpoint.Ports[] entry, with the published port the managers chose."""

    protocol: str
    target: int
    published: int
    mode: str = "ingress"


class ServiceRecord(msgspec.Struct, kw_only=True):
    id: str
    created_at: str
    updated_at: str
    spec: dict
    previous_spec: dict | None = None
    # Grows when what a task runs changes (not on a scale): tasks of an older one are replaced.
    spec_version: int = 1
    # The network IDs the spec's targets resolved to, in the spec's order (ingress first when it publishes).
    networks: list[str] = msgspec.field(default_factory=list)
    # The service's aliases on each of those networks (TaskTemplate.Networks[].Aliases), by network ID.
    aliases: dict[str, list[str]] = msgspec.field(default_factory=dict)
    vips: list[VirtualIP] = msgspec.field(default_factory=list)
    ports: list[AssignedPort] = msgspec.field(default_factory=list)


class TaskNetwork(msgspec.Struct, kw_only=True):
    network_id: str
    addresses: list[str] = msgspec.field(default_factory=list)


class TaskRecord(msgspec.Struct, kw_only=True):
    id: str
    service_id: str
    slot: int
    node_id: str
    created_at: str
    updated_at: str
    desired_state: str = RUNNING
    state: str = "assigned"
    message: str = "assigned"
    err: str = ""
    # What the node made of it: the sandbox, the command's process, its addresses.
    sandbox_id: str = ""
    pid: int = 0
    exit_code: int = 0
    spec_version: int = 1
    networks: list[TaskNetwork] = msgspec.field(default_factory=list)


def encode(record: msgspec.Struct) -> bytes:
    return msgspec.json.encode(record)


def decode_service(data: bytes) -> ServiceRecord:
    return msgspec.json.decode(data, type=ServiceRecord)


def decode_task(data: bytes) -> TaskRecord:
    return msgspec.json.decode(data, type=TaskRecord)


def task_name(service_name: str, task: TaskRecord) -> str:
    """Docker's container name of a task: ``NAME.SLOT.TASKID``."""
    return f"{service_name}.{task.slot}.{task.id}"
