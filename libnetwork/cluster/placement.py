"""swarmkit's orchestrator and scheduler reduced to one pure function: what to change in the task store.

``plan`` reads the services, their tasks and the nodes, and answers the tasks
to create (each with its node, or none: pending), the pending tasks that now
get a node, the tasks whose desired state becomes shutdown (with why) and
the tasks to delete from the store.  No I/O and no clock: the caller applies
the plan, one compare-and-swap per record, and a plan computed again from the
result is empty until something outside changes (a node, a service, a task's
reported state).  That is what makes a manager that loses the lead mid-way
harmless: the next leader's plan finishes the job.

The rules are swarmkit's, where this model has a counterpart:

- A replicated service has slots 1..replicas, one desired-running task each;
  scaling down shuts down the highest slots (swarmkit picks the tasks of the
  busiest nodes instead; slots 1..N keep ``NAME.SLOT`` names dense here).
- A global service has one task per eligible node, slot 0, the node being
  its identity.
- A node is eligible for new tasks when it is Ready and ``active``; a
  ``pause``d node keeps its tasks, a ``drain``ed or not-Ready node (or one
  no longer in the cluster) loses them, and their slots are placed again.
- A task whose node reports it ended (failed, rejected, complete...) while
  it is wanted running is replaced in its slot, as swarmkit's restart
  supervisor does (without its restart delay: the node's ``taskrun`` restarts
  a command in place, so a task only ends here when its node gave up on it).
- A task of an older spec version than its service's is replaced (an update,
  all at once: no parallelism, delay or monitor).
- Spread: the eligible node with the fewest desired-running tasks of this
  service, then the fewest tasks in all, then the lowest node ID.  Nothing is
  moved to rebalance (a node that comes back stays empty until tasks are
  placed again), as swarmkit.
- No eligible node: the slot's task is created pending, with swarmkit's
  ``no suitable node (...)`` text, and gets a node by ``assign`` once one is.
- History: a slot keeps its newest ``HISTORY_LIMIT`` tasks that are no longer
  wanted (swarmkit's TaskHistoryRetentionLimit); older ones are deleted once
  nothing runs them (their node reported them ended, the node is down, or
  they were never placed).  A removed service's tasks are shut down, and
  deleted on the same condition; those that nothing can run any more are
  deleted at once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import InvalidParameter

HISTORY_LIMIT = 5  # swarmkit's default TaskHistoryRetentionLimit

REPLICATED = "replicated"
GLOBAL = "global"
ACTIVE = "active"
PAUSE = "pause"
DRAIN = "drain"

RUNNING = "running"  # servicerecords.RUNNING: the only desired state that wants a task run
# Reported states after which nothing runs the task any more.
ENDED_STATES = frozenset(("complete", "shutdown", "failed", "rejected", "remove", "orphaned"))
_STATE_ORDER = {name: index for index, name in enumerate(
    ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"))}

# Why a task's desired state becomes shutdown.
SCALED_DOWN = "scaled down"
NODE_DOWN = "node down"
NODE_DRAINED = "node drained"
SERVICE_REMOVED = "service removed"
TASK_ENDED = "task ended"
UPDATED = "service updated"
DUPLICATE = "duplicate task"

NO_SUITABLE_NODE = "no suitable node"


@dataclass(frozen=True)
class ServiceState:
    id: str
    mode: str = REPLICATED
    replicas: int = 1  # ignored in global mode
    version: int = 0  # the spec's generation; tasks of an older one are replaced


@dataclass(frozen=True)
class TaskState:
    id: str
    service_id: str
    slot: int
    node_id: str  # "" while pending
    desired_state: str = RUNNING
    state: str = "assigned"
    spec_version: int = 0
    created_at: str = ""  # RFC 3339 as records.now_text writes it: orders a slot's history


@dataclass(frozen=True)
class NodeState:
    id: str
    ready: bool = True
    availability: str = ACTIVE


@dataclass(frozen=True)
class Create:
    """A new task; ``node_id`` None: pending, no node suitable (``err`` says why, in swarmkit's words)."""

    service_id: str
    slot: int
    node_id: str | None
    spec_version: int = 0
    err: str = ""


@dataclass(frozen=True)
class Assign:
    """A pending task gets a node (its state becomes assigned)."""

    task_id: str
    node_id: str


@dataclass(frozen=True)
class Shutdown:
    task_id: str
    reason: str


@dataclass(frozen=True)
class Plan:
    create: tuple[Create, ...] = ()
    assign: tuple[Assign, ...] = ()
    shutdown: tuple[Shutdown, ...] = ()
    delete: tuple[str, ...] = ()  # task IDs

    @property
    def empty(self) -> bool:
        return not (self.create or self.assign or self.shutdown or self.delete)


@dataclass
class _Draft:
    """The plan as it is built, with the load it adds, so each choice sees the ones before it."""

    nodes: dict[str, NodeState]
    load: Counter[str] = field(default_factory=Counter)  # desired-running tasks per node, all services
    create: list[Create] = field(default_factory=list)
    assign: list[Assign] = field(default_factory=list)
    shutdown: dict[str, str] = field(default_factory=dict)  # task ID -> reason
    delete: list[str] = field(default_factory=list)

    def eligible(self) -> list[str]:
        return sorted(n.id for n in self.nodes.values() if n.ready and n.availability == ACTIVE)

    def runs_here(self, node_id: str) -> bool:
        """Whether a task may stay on this node (a paused node keeps its tasks)."""
        node = self.nodes.get(node_id)
        return node is not None and node.ready and node.availability in (ACTIVE, PAUSE)

    def why_not(self, node_id: str) -> str:
        node = self.nodes.get(node_id)
        return NODE_DRAINED if node is not None and node.ready and node.availability == DRAIN else NODE_DOWN

    def choose(self, service_load: Counter[str]) -> str | None:
        candidates = self.eligible()
        if not candidates:
            return None
        return min(candidates, key=lambda nid: (service_load[nid], self.load[nid], nid))

    def no_node_text(self) -> str:
        # swarmkit's ReadyFilter.Explain, the only filter this model has.
        count = len(self.nodes)
        if count == 0:
            return NO_SUITABLE_NODE
        noun = "1 node" if count == 1 else f"{count} nodes"
        return f"{NO_SUITABLE_NODE} ({noun} not available for new tasks)"

    def stop(self, task: TaskState, reason: str) -> None:
        self.shutdown[task.id] = reason
        if task.node_id:
            self.load[task.node_id] -= 1

    def nothing_runs(self, task: TaskState) -> bool:
        """A task no node runs any more: it may leave the store."""
        return task.state in ENDED_STATES or not task.node_id or task.node_id not in self.nodes \
            or not self.nodes[task.node_id].ready


def plan(services: Iterable[ServiceState], tasks: Iterable[TaskState], nodes: Iterable[NodeState]) -> Plan:
    """What to change so that the tasks are what the services want on the nodes there are; see the module text."""
    by_service: dict[str, list[TaskState]] = defaultdict(list)
    for task in tasks:
        by_service[task.service_id].append(task)
    draft = _Draft(nodes={n.id: n for n in nodes})
    for service_tasks in by_service.values():
        for task in service_tasks:
            if task.desired_state == RUNNING and task.node_id:
                draft.load[task.node_id] += 1
    known = {s.id: s for s in services}
    for service in known.values():
        if service.mode not in (REPLICATED, GLOBAL):
            raise InvalidParameter(f"unknown service mode {service.mode!r} for service {service.id}")
    for service_id in sorted(by_service.keys() - known.keys()):
        _removed(draft, by_service[service_id])
    # Every task that goes is known before any is placed, so "fewest tasks in all" counts what stays.
    kept = {sid: _keep(draft, known[sid], by_service.get(sid, [])) for sid in sorted(known)}
    for service_id in sorted(known):
        service = known[service_id]
        if service.mode == REPLICATED:
            _place_replicated(draft, service, kept[service_id])
        else:
            _place_global(draft, service, kept[service_id])
        for group in _groups(service, by_service.get(service_id, [])).values():
            _prune(draft, group)
    return Plan(create=tuple(draft.create), assign=tuple(draft.assign),
                shutdown=tuple(Shutdown(tid, reason) for tid, reason in draft.shutdown.items()),
                delete=tuple(draft.delete))


def _removed(draft: _Draft, tasks: list[TaskState]) -> None:
    for task in sorted(tasks, key=lambda t: t.id):
        if draft.nothing_runs(task):
            draft.delete.append(task.id)
        elif task.desired_state == RUNNING:
            draft.stop(task, SERVICE_REMOVED)


def _groups(service: ServiceState, tasks: list[TaskState]) -> dict[int | str, list[TaskState]]:
    """A service's tasks by identity: the slot (replicated) or the node (global)."""
    groups: dict[int | str, list[TaskState]] = defaultdict(list)
    for task in tasks:
        groups[task.slot if service.mode == REPLICATED else task.node_id].append(task)
    return groups


def _wanted(draft: _Draft, service: ServiceState, key: int | str) -> bool:
    if service.mode == REPLICATED:
        return isinstance(key, int) and 1 <= key <= service.replicas
    return isinstance(key, str) and draft.runs_here(key)


def _retire(draft: _Draft, service: ServiceState, task: TaskState, wanted: bool) -> str | None:
    """Why a desired-running task must stop (None: it stays); ``wanted``: whether its slot or node still is."""
    if not wanted and service.mode == REPLICATED:
        return SCALED_DOWN
    if not wanted or (task.node_id and not draft.runs_here(task.node_id)):
        return draft.why_not(task.node_id)
    if task.state in ENDED_STATES:
        return TASK_ENDED
    if task.spec_version < service.version:
        return UPDATED
    return None


def _keep(draft: _Draft, service: ServiceState, tasks: list[TaskState]) -> dict[int | str, TaskState]:
    """The desired-running task that stays for each slot (or node); the others are shut down."""
    kept: dict[int | str, TaskState] = {}
    groups = _groups(service, tasks)
    for key in sorted(groups, key=str):
        survivors = []
        for task in groups[key]:
            if task.desired_state != RUNNING:
                continue
            reason = _retire(draft, service, task, _wanted(draft, service, key))
            if reason is None:
                survivors.append(task)
            else:
                draft.stop(task, reason)
        if survivors:
            # Several for one slot come of a race of two leaders: the most advanced stays.
            survivors.sort(key=lambda t: (_STATE_ORDER.get(t.state, 0), t.created_at, t.id), reverse=True)
            for extra in survivors[1:]:
                draft.stop(extra, DUPLICATE)
            kept[key] = survivors[0]
    return kept


def _place_replicated(draft: _Draft, service: ServiceState, kept: dict[int | str, TaskState]) -> None:
    service_load = Counter(t.node_id for t in kept.values() if t.node_id)
    for slot in range(1, service.replicas + 1):
        task = kept.get(slot)
        if task is not None and task.node_id:
            continue
        node_id = draft.choose(service_load)
        if node_id is not None:
            service_load[node_id] += 1
            draft.load[node_id] += 1
        if task is None:
            draft.create.append(Create(service.id, slot, node_id, service.version,
                                       "" if node_id is not None else draft.no_node_text()))
        elif node_id is not None:
            draft.assign.append(Assign(task.id, node_id))


def _place_global(draft: _Draft, service: ServiceState, kept: dict[int | str, TaskState]) -> None:
    for node_id in draft.eligible():
        if node_id not in kept:
            draft.create.append(Create(service.id, 0, node_id, service.version))
            draft.load[node_id] += 1


def _prune(draft: _Draft, tasks: list[TaskState]) -> None:
    """One slot's (or global node's) history: the newest HISTORY_LIMIT stay, older ones go once nothing runs them.

    The tasks this plan shuts down count already, so the plan after it finds nothing more to delete.
    """
    history = [t for t in tasks if t.desired_state != RUNNING or t.id in draft.shutdown]
    history.sort(key=lambda t: (t.created_at, t.id), reverse=True)
    for task in history[HISTORY_LIMIT:]:
        if draft.nothing_runs(task):
            draft.delete.append(task.id)
