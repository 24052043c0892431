"""The managers' orchestrator: tasks placed over the Ready nodes, and placed again when a node goes.

One manager acts at a time: the one whose etcd member leads (swarmkit's
orchestrator runs on its raft leader).  It reads the services, the tasks and
the nodes, asks ``placement.plan`` what to change, and writes each change as
its own compare-and-swap, so a manager that loses the lead mid-way leaves
nothing a second plan cannot finish.  Then it gossips ``tasks`` so the nodes
look at their assignments at once rather than at their next poll.

It wakes on a service change, on a member of the cluster going up or down,
and every ``PERIOD`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import msgspec

from ..errors import CnmError
from ..ids import generate_id
from ..store.api import RevisionMismatch
from . import placement, records, servicerecords, servicespec
from .servicerecords import TaskRecord

if TYPE_CHECKING:
    from .services import Services
    from .swarm import Swarm

log = logging.getLogger("cnmd")

PERIOD = 1.0


class Orchestrator:
    def __init__(self, swarm: Swarm, services: Services):
        self.swarm = swarm
        self.services = services
        self._runner: asyncio.Task[None] | None = None
        self._unsubscribe = swarm.on_member(lambda _change: services.changed.set())

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="orchestrator")

    async def close(self) -> None:
        self._unsubscribe()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.services.changed.wait(), PERIOD)
            self.services.changed.clear()
            if not self.swarm.is_manager:
                continue
            try:
                if await self.swarm.leader() == self.swarm.node_id:
                    await self.converge()
            except (CnmError, OSError) as err:
                log.debug("orchestration failed", extra={"error": str(err)})
            except Exception:  # a bug must not stop the orchestrator for good
                log.exception("orchestration failed")

    async def converge(self) -> int:
        """One round: the plan for what is in etcd now, applied; answers how many records changed."""
        services = await self.services.list_services()
        tasks = await self.services.list_tasks()
        nodes = await self.swarm.nodes()
        alive = await self.swarm.status()
        plan = placement.plan(
            services=[placement.ServiceState(id=record.id, mode=intent.mode, replicas=intent.replicas,
                                             version=record.spec_version)
                      for record, _ in services for intent in [servicespec.parse_spec(record.spec)]],
            tasks=[placement.TaskState(id=t.id, service_id=t.service_id, slot=t.slot, node_id=t.node_id,
                                       desired_state=t.desired_state, state=t.state, created_at=t.created_at,
                                       spec_version=t.spec_version)
                   for t, _ in tasks],
            nodes=[placement.NodeState(id=n.id, ready=alive.get(n.id) == "alive", availability=n.availability)
                   for n, _ in nodes])
        by_id = {t.id: (t, revision) for t, revision in tasks}
        changed = 0
        now = records.now_text()
        for create in plan.create:
            task = TaskRecord(id=generate_id()[:25], service_id=create.service_id, slot=create.slot,
                              node_id=create.node_id or "", created_at=now, updated_at=now,
                              spec_version=create.spec_version,
                              state="assigned" if create.node_id else "pending",
                              message="assigned" if create.node_id else "pending task scheduling", err=create.err)
            await self.swarm.kv.cas(servicerecords.task_key(task.id), servicerecords.encode(task), 0)
            changed += 1
        for assign in plan.assign:
            found = by_id.get(assign.task_id)
            if found is None:
                continue
            task, revision = found
            updated = msgspec.structs.replace(task, node_id=assign.node_id, state="assigned", message="assigned",
                                              err="", updated_at=now)
            with contextlib.suppress(RevisionMismatch):
                await self.swarm.kv.cas(servicerecords.task_key(task.id), servicerecords.encode(updated), revision)
                changed += 1
        for shutdown in plan.shutdown:
            found = by_id.get(shutdown.task_id)
            if found is None:
                continue
            task, revision = found
            updated = msgspec.structs.replace(task, desired_state=servicerecords.SHUTDOWN, updated_at=now)
            with contextlib.suppress(RevisionMismatch):
                await self.swarm.kv.cas(servicerecords.task_key(task.id), servicerecords.encode(updated), revision)
                changed += 1
        for task_id in plan.delete:
            found = by_id.get(task_id)
            if found is not None:
                await self.swarm.kv.delete(servicerecords.task_key(task_id), expect_revision=found[1])
                changed += 1
        if changed:
            log.info("tasks placed", extra={"new_tasks": len(plan.create), "assigned": len(plan.assign),
                                            "shut_down": len(plan.shutdown),
                                            "deleted": len(plan.delete)})
            with contextlib.suppress(CnmError):
                await self.swarm.publish(servicerecords.TASKS_TOPIC, b"")
        return changed
