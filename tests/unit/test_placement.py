"""placement.plan: swarmkit's rules case by case, then a model test of random clusters against invariants."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from libnetwork.cluster import placement
from libnetwork.cluster.placement import NodeState, Plan, ServiceState, TaskState
from libnetwork.errors import InvalidParameter


class Store:
    """The task store as the orchestrator keeps it: plans applied, nodes reporting back."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskState] = {}
        self.clock = 0

    def add(self, service_id: str, slot: int, node_id: str, **fields) -> TaskState:
        self.clock += 1
        task = TaskState(id=f"t{self.clock:05d}", service_id=service_id, slot=slot, node_id=node_id,
                         created_at=f"{self.clock:010d}", **fields)
        self.tasks[task.id] = task
        return task

    def apply(self, plan: Plan) -> None:
        for create in plan.create:
            self.add(create.service_id, create.slot, create.node_id or "", spec_version=create.spec_version,
                     state="assigned" if create.node_id else "pending")
        for assign in plan.assign:
            self.tasks[assign.task_id] = replace(self.tasks[assign.task_id], node_id=assign.node_id,
                                                 state="assigned")
        for shutdown in plan.shutdown:
            self.tasks[shutdown.task_id] = replace(self.tasks[shutdown.task_id], desired_state="shutdown")
        for task_id in plan.delete:
            del self.tasks[task_id]

    def report(self, nodes: list[NodeState]) -> None:
        """Each Ready node's agent: runs what it is given, stops what it is told to."""
        ready = {n.id for n in nodes if n.ready}
        for task in list(self.tasks.values()):
            if task.node_id not in ready or task.state in placement.ENDED_STATES:
                continue
            state = "running" if task.desired_state == "running" else "shutdown"
            self.tasks[task.id] = replace(task, state=state)

    def live(self, service_id: str) -> list[TaskState]:
        return [t for t in self.tasks.values() if t.service_id == service_id and t.desired_state == "running"]

    def plan(self, services: list[ServiceState], nodes: list[NodeState]) -> Plan:
        return placement.plan(services, list(self.tasks.values()), nodes)


def converge(store: Store, services: list[ServiceState], nodes: list[NodeState]) -> Plan:
    plan = store.plan(services, nodes)
    store.apply(plan)
    assert store.plan(services, nodes).empty, "a second plan must be empty"
    return plan


def nodes_of(*specs: str) -> list[NodeState]:
    """"a" Ready active, "b:down", "c:drain", "d:pause"."""
    found = []
    for spec in specs:
        name, _, how = spec.partition(":")
        found.append(NodeState(name, ready=how != "down", availability=how if how in ("drain", "pause") else "active"))
    return found


def spread(store: Store, service_id: str) -> dict[str, int]:
    return dict(Counter(t.node_id for t in store.live(service_id)))


# -- the rules ------------------------------------------------------------------------------

def test_replicated_slots_are_spread_over_ready_nodes() -> None:
    store = Store()
    plan = converge(store, [ServiceState("s", replicas=5)], nodes_of("a", "b", "c"))
    assert sorted(c.slot for c in plan.create) == [1, 2, 3, 4, 5]
    assert spread(store, "s") == {"a": 2, "b": 2, "c": 1}


def test_spread_prefers_nodes_with_fewer_tasks_of_all_services() -> None:
    store = Store()
    nodes = nodes_of("a", "b", "c")
    converge(store, [ServiceState("s1", replicas=2)], nodes)
    converge(store, [ServiceState("s1", replicas=2), ServiceState("s2", replicas=1)], nodes)
    assert spread(store, "s2") == {"c": 1}


def test_scale_down_shuts_down_the_highest_slots() -> None:
    store = Store()
    nodes = nodes_of("a", "b")
    converge(store, [ServiceState("s", replicas=4)], nodes)
    plan = converge(store, [ServiceState("s", replicas=2)], nodes)
    stopped = {store.tasks[s.task_id].slot for s in plan.shutdown}
    assert stopped == {3, 4}
    assert {s.reason for s in plan.shutdown} == {placement.SCALED_DOWN}
    assert sorted(t.slot for t in store.live("s")) == [1, 2]


def test_a_down_node_loses_its_tasks_to_the_others() -> None:
    store = Store()
    converge(store, [ServiceState("s", replicas=3)], nodes_of("a", "b", "c"))
    on_c = [t for t in store.live("s") if t.node_id == "c"]
    plan = converge(store, [ServiceState("s", replicas=3)], nodes_of("a", "b", "c:down"))
    assert [(s.task_id, s.reason) for s in plan.shutdown] == [(on_c[0].id, placement.NODE_DOWN)]
    assert [(c.slot, c.node_id) for c in plan.create] == [(on_c[0].slot, "a")]
    # it keeps no task when it comes back: nothing is moved to rebalance
    converge(store, [ServiceState("s", replicas=3)], nodes_of("a", "b", "c"))
    assert spread(store, "s") == {"a": 2, "b": 1}


def test_drain_moves_tasks_and_pause_keeps_them() -> None:
    store = Store()
    services = [ServiceState("s", replicas=2)]
    converge(store, services, nodes_of("a", "b"))
    plan = converge(store, services, nodes_of("a", "b:pause"))
    assert plan.empty
    plan = converge(store, services, nodes_of("a", "b:drain"))
    assert [s.reason for s in plan.shutdown] == [placement.NODE_DRAINED]
    assert spread(store, "s") == {"a": 2}


def test_no_eligible_node_leaves_the_slot_pending_until_one_is() -> None:
    store = Store()
    services = [ServiceState("s", replicas=2)]
    plan = converge(store, services, nodes_of("a:down", "b:drain"))
    assert [(c.slot, c.node_id, c.err) for c in plan.create] == [
        (1, None, "no suitable node (2 nodes not available for new tasks)"),
        (2, None, "no suitable node (2 nodes not available for new tasks)")]
    assert placement.plan(services, [], []).create[0].err == "no suitable node"
    pending = {t.id for t in store.live("s")}
    plan = converge(store, services, nodes_of("a", "b:drain"))
    assert not plan.create and {a.task_id for a in plan.assign} == pending
    assert spread(store, "s") == {"a": 2}


def test_global_has_one_task_per_eligible_node() -> None:
    store = Store()
    services = [ServiceState("g", mode="global")]
    plan = converge(store, services, nodes_of("a", "b", "c:down", "d:pause"))
    assert sorted((c.slot, c.node_id) for c in plan.create) == [(0, "a"), (0, "b")]
    plan = converge(store, services, nodes_of("a", "b:drain", "c", "d"))
    assert [s.reason for s in plan.shutdown] == [placement.NODE_DRAINED]
    assert sorted(c.node_id or "" for c in plan.create) == ["c", "d"]
    assert spread(store, "g") == {"a": 1, "c": 1, "d": 1}


def test_an_ended_task_is_replaced_in_its_slot() -> None:
    store = Store()
    services = [ServiceState("s", replicas=2)]
    converge(store, services, nodes_of("a", "b"))
    failed = store.live("s")[0]
    store.tasks[failed.id] = replace(failed, state="rejected")
    plan = converge(store, services, nodes_of("a", "b"))
    assert [(s.task_id, s.reason) for s in plan.shutdown] == [(failed.id, placement.TASK_ENDED)]
    assert [c.slot for c in plan.create] == [failed.slot]


def test_an_update_replaces_tasks_of_the_older_spec() -> None:
    store = Store()
    converge(store, [ServiceState("s", replicas=2, version=1)], nodes_of("a", "b"))
    plan = converge(store, [ServiceState("s", replicas=2, version=2)], nodes_of("a", "b"))
    assert {s.reason for s in plan.shutdown} == {placement.UPDATED} and len(plan.shutdown) == 2
    assert {c.spec_version for c in plan.create} == {2}


def test_duplicates_in_a_slot_keep_the_most_advanced() -> None:
    store = Store()
    running = store.add("s", 1, "a", state="running")
    late = store.add("s", 1, "b")
    plan = converge(store, [ServiceState("s", replicas=1)], nodes_of("a", "b"))
    assert [(s.task_id, s.reason) for s in plan.shutdown] == [(late.id, placement.DUPLICATE)]
    assert store.live("s") == [running]


def test_history_keeps_five_ended_tasks_per_slot() -> None:
    store = Store()
    services = [ServiceState("s", replicas=1)]
    nodes = nodes_of("a")
    converge(store, services, nodes)
    for _ in range(8):
        task = store.live("s")[0]
        store.tasks[task.id] = replace(task, state="failed")
        converge(store, services, nodes)
    history = sorted((t for t in store.tasks.values() if t.desired_state != "running"), key=lambda t: t.created_at)
    assert len(history) == placement.HISTORY_LIMIT
    assert len(store.live("s")) == 1


def test_history_waits_for_the_node_to_stop_a_task() -> None:
    store = Store()
    for _ in range(placement.HISTORY_LIMIT + 1):
        store.add("s", 1, "a", desired_state="shutdown", state="running")  # told to stop, not yet reported
    converge(store, [ServiceState("s", replicas=0)], nodes_of("a"))
    assert len(store.tasks) == placement.HISTORY_LIMIT + 1
    store.report(nodes_of("a"))
    plan = converge(store, [ServiceState("s", replicas=0)], nodes_of("a"))
    assert len(plan.delete) == 1 and len(store.tasks) == placement.HISTORY_LIMIT


def test_a_removed_service_is_shut_down_then_deleted() -> None:
    store = Store()
    converge(store, [ServiceState("s", replicas=3)], nodes_of("a", "b", "c"))
    store.report(nodes_of("a", "b", "c"))
    nodes = nodes_of("a", "b", "c:down")
    plan = converge(store, [], nodes)
    # nothing runs the one on the down node: it goes at once; the others once their nodes stopped them
    assert len(plan.delete) == 1 and {s.reason for s in plan.shutdown} == {placement.SERVICE_REMOVED}
    store.report(nodes)
    plan = converge(store, [], nodes)
    assert len(plan.delete) == 2 and not store.tasks


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        placement.plan([ServiceState("s", mode="replicated-job")], [], [])


# -- the model test ----------------------------------------------------------------------------

def _random_step(rng: random.Random, services: dict[str, ServiceState], nodes: dict[str, NodeState],
                 store: Store, balanced: dict[str, bool]) -> None:
    """One change from outside: a node fails, comes back, is drained or paused; a service comes, goes,
    scales or is updated; a task fails."""
    kind = rng.choice(["node", "node", "scale", "service", "update", "fail", "nothing"])
    if kind == "node":
        node = nodes[rng.choice(sorted(nodes))]
        was_eligible = node.ready and node.availability == "active"
        node = replace(node, ready=rng.random() < 0.7, availability=rng.choice(["active", "active", "pause", "drain"]))
        nodes[node.id] = node
        if node.ready and node.availability == "active" and not was_eligible:
            balanced.update(dict.fromkeys(balanced, False))  # nothing is moved onto a node that comes back
    elif kind == "scale" and services:
        sid = rng.choice(sorted(services))
        replicas = rng.randint(0, 9)
        if replicas < services[sid].replicas:
            balanced[sid] = False  # the highest slots go, wherever they are
        services[sid] = replace(services[sid], replicas=replicas)
    elif kind == "service":
        if services and rng.random() < 0.4:
            sid = rng.choice(sorted(services))
            del services[sid]
            balanced.pop(sid)
        else:
            sid = f"s{rng.randrange(1000)}"
            if sid not in services:
                services[sid] = ServiceState(sid, mode=rng.choice(["replicated", "replicated", "global"]),
                                             replicas=rng.randint(0, 9))
                balanced[sid] = not any(t.service_id == sid for t in store.tasks.values())
    elif kind == "update" and services:
        sid = rng.choice(sorted(services))
        services[sid] = replace(services[sid], version=services[sid].version + 1)
        balanced[sid] = True  # every task is placed again
    elif kind == "fail":
        running = [t for t in store.tasks.values() if t.state == "running" and t.desired_state == "running"]
        if running:
            task = rng.choice(running)
            store.tasks[task.id] = replace(task, state=rng.choice(["failed", "rejected", "complete"]))


def _check(services: dict[str, ServiceState], nodes: dict[str, NodeState], store: Store,
           balanced: dict[str, bool], before: set[str]) -> None:
    eligible = {n.id for n in nodes.values() if n.ready and n.availability == "active"}
    keeps = {n.id for n in nodes.values() if n.ready and n.availability in ("active", "pause")}
    ready = {n.id for n in nodes.values() if n.ready}  # a drained node still stops what it was told to
    for task in store.tasks.values():
        if task.desired_state == "running":
            assert task.service_id in services, "a removed service's task is still wanted"
            assert task.node_id == "" or task.node_id in keeps, f"{task} on an ineligible node"
            if task.id not in before:
                assert task.node_id == "" or task.node_id in eligible, f"{task} placed on an ineligible node"
    for sid, service in services.items():
        live = store.live(sid)
        if service.mode == "replicated":
            assert sorted(t.slot for t in live) == list(range(1, service.replicas + 1))
            if eligible:
                assert all(t.node_id for t in live), "pending while a node is eligible"
                if balanced[sid]:
                    counts = Counter(t.node_id for t in live if t.node_id in eligible)
                    loads = [counts[n] for n in eligible]
                    assert max(loads) - min(loads) <= 1, f"{sid} spread {counts} over {sorted(eligible)}"
        else:
            assert Counter(t.node_id for t in live if t.node_id in eligible) == Counter(eligible)
            assert all(t.node_id in keeps for t in live)
    # history: no more than the limit of tasks per slot that nothing runs any more
    groups: dict[tuple[str, object], list[TaskState]] = {}
    for task in store.tasks.values():
        if task.desired_state != "running":
            key = task.slot if services.get(task.service_id, ServiceState("")).mode == "replicated" else task.node_id
            groups.setdefault((task.service_id, key), []).append(task)
    for (sid, _), history in groups.items():
        history.sort(key=lambda t: t.created_at, reverse=True)
        stale = history[placement.HISTORY_LIMIT:] if sid in services else history
        for task in stale:
            assert task.state not in placement.ENDED_STATES and task.node_id in ready, f"{task} should be gone"


@pytest.mark.parametrize("seed", range(0, 400, 40))
def test_random_clusters_converge_in_one_plan(seed: int) -> None:
    for run in range(seed, seed + 40):
        rng = random.Random(run)
        nodes = {f"n{i}": NodeState(f"n{i}") for i in range(rng.randint(1, 6))}
        services: dict[str, ServiceState] = {}
        balanced: dict[str, bool] = {}
        store = Store()
        for _step in range(40):
            _random_step(rng, services, nodes, store, balanced)
            before = set(store.tasks)
            plan = store.plan(list(services.values()), list(nodes.values()))
            store.apply(plan)
            again = store.plan(list(services.values()), list(nodes.values()))
            assert again.empty, f"run {run}: second plan {again}"
            try:
                _check(services, nodes, store, balanced, before)
            except AssertionError as err:
                raise AssertionError(f"run {run}, step {_step}: {err}") from None
            if rng.random() < 0.8:
                store.report(list(nodes.values()))
