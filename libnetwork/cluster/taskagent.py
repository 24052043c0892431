"""Each node's share of the services: it makes and removes its own tasks' sandboxes.

The managers say which tasks a node runs (``Services.assigned``, over the
cluster port for a worker); the agent makes what is missing and removes what
is no longer wanted, and reports each task's state back, as swarmkit's
agent does for its containers.  A task here is a sandbox named as Docker
names a task's container (``NAME.SLOT.TASKID``), joined to the service's
networks with a ``ServiceBinding`` on each endpoint, so its names, its
virtual IP and its backends reach every node through the endpoint stream.
When the service has a command, it runs inside the sandbox (``taskrun``)
and is started again when it exits.

The agent wakes on the orchestrator's ``tasks`` gossip event, and polls
every ``POLL_PERIOD`` seconds in case one was missed.  After a restart of
cnmd it finds its task sandboxes by name and starts their commands again
(they died with the daemon).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import CnmError
from ..ingress_mesh import SANDBOX_NAME as INGRESS_SANDBOX
from ..requests import EndpointRequest, NetworkAttachment, SandboxCreate
from ..service_binding import IngressPort, ServiceBinding
from ..taskrun import EXITED, STARTING, TaskProcess, TaskStatus
from . import servicerecords, servicespec
from .placement import ENDED_STATES
from .servicerecords import ServiceRecord, TaskRecord

if TYPE_CHECKING:
    from ..controller import Controller
    from .services import Services
    from .swarm import Swarm

log = logging.getLogger("cnmd")

POLL_PERIOD = 2.0


@dataclass
class LocalTask:
    task_id: str
    sandbox_id: str
    process: TaskProcess | None = None


class TaskAgent:
    def __init__(self, swarm: Swarm, services: Services, ctl: Controller, log_dir: str):
        self.swarm = swarm
        self.services = services
        self.ctl = ctl
        self.log_dir = log_dir
        self._local: dict[str, LocalTask] = {}
        self._wake = asyncio.Event()
        self._reports: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._unsubscribe = swarm.subscribe(servicerecords.TASKS_TOPIC, lambda _event: self._wake.set())

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="task-agent")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        self._unsubscribe()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        # The sandboxes stay (a restart finds them); their commands stop with the daemon.
        for local in self._local.values():
            if local.process is not None:
                await local.process.stop()

    async def _run(self) -> None:
        while True:
            if self.swarm.state is not None:
                try:
                    await self.reconcile()
                except (CnmError, OSError) as err:
                    log.debug("task reconciliation failed", extra={"error": str(err)})
                except Exception:  # a bug must not stop the agent for good
                    log.exception("task reconciliation failed")
            elif self._local:
                await self._leave_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_PERIOD)
            self._wake.clear()

    async def _assignment(self) -> tuple[list[TaskRecord], dict[str, ServiceRecord]]:
        if self.swarm.is_manager:
            answer = await self.services.assigned(self.swarm.node_id)
        else:
            answer = await self.swarm.call_managers("tasks.assigned", {})
        tasks = msgspec.convert(answer["tasks"], list[TaskRecord])
        services = {s.id: s for s in msgspec.convert(answer["services"], list[ServiceRecord])}
        return tasks, services

    async def reconcile(self) -> None:
        """Make this node's task sandboxes what the managers want; report what changed."""
        tasks, services = await self._assignment()
        self._adopt_existing(tasks)
        await self._remove_orphans()
        for task_id in [t for t, local in self._local.items() if local.sandbox_id not in self.ctl.sandboxes]:
            # its sandbox was removed by hand: the task is made again below
            local = self._local.pop(task_id)
            if local.process is not None:
                await local.process.stop()
        wanted = {t.id: t for t in tasks
                  if t.desired_state == servicerecords.RUNNING and t.service_id in services}
        # Stops wait for their commands (up to Docker's 10 s each): side by side, not one after another.
        await asyncio.gather(*(self._stop(t) for t in list(self._local) if t not in wanted))
        for task in tasks:
            if task.id not in wanted and task.state not in ENDED_STATES:
                await self._report(task.id, state="shutdown", message="shutdown")
        for task in wanted.values():
            if task.id not in self._local and task.state not in ENDED_STATES:
                await self._start(task, services[task.service_id])
                continue
            found = self._local.get(task.id)
            if found is None:
                continue
            if found.process is None:
                # adopted after a restart: its command died with the daemon
                self._start_process(task.id, servicespec.parse_spec(services[task.service_id].spec))
            if task.state != "running" or task.sandbox_id != found.sandbox_id:
                # a report that was lost (a restart, a manager away): said again until it lands
                await self._report_running(task.id, found)

    def _adopt_existing(self, tasks: list[TaskRecord]) -> None:
        """After a restart: the task sandboxes this node made before are found by their names."""
        by_suffix = {f".{t.slot}.{t.id}": t for t in tasks}
        for sandbox in list(self.ctl.sandboxes.values()):
            for suffix, task in by_suffix.items():
                if sandbox.name.endswith(suffix) and task.id not in self._local:
                    self._local[task.id] = LocalTask(task.id, sandbox.id)

    async def _remove_orphans(self) -> None:
        """Task sandboxes of tasks the managers no longer have (deleted while this node was down)."""
        ours = {local.sandbox_id for local in self._local.values()}
        for sandbox in list(self.ctl.sandboxes.values()):
            if sandbox.swarm_task and sandbox.id not in ours and sandbox.name != INGRESS_SANDBOX:
                with contextlib.suppress(CnmError):
                    await self.ctl.delete_sandbox(sandbox.id, force=True)
                log.info("orphaned task sandbox removed", extra={"sandbox": sandbox.name})

    async def _start(self, task: TaskRecord, service: ServiceRecord) -> None:
        intent = servicespec.parse_spec(service.spec)
        name = servicerecords.task_name(intent.name, task)
        request = SandboxCreate(
            name=name, hostname=intent.hostname or task.id[:12], swarm_task=True,
            networks=tuple(self._attachments(service, intent)), port_bindings=_host_ports(service))
        await self._report(task.id, state="preparing", message="preparing")
        try:
            sandbox = await self.ctl.create_sandbox(request)
        except CnmError as err:
            log.warning("task rejected", extra={"task": name, "error": err.message})
            await self._report(task.id, state="rejected", message="preparing", err=err.message)
            return
        local = LocalTask(task.id, sandbox.id)
        self._local[task.id] = local
        log.info("task started", extra={"task": name, "sandbox": sandbox.id[:12]})
        self._start_process(task.id, intent)
        await self._report_running(task.id, local)

    async def _report_running(self, task_id: str, local: LocalTask, **more: Any) -> None:
        await self._report(task_id, state="running", message="started", sandbox_id=local.sandbox_id,
                           pid=local.process.pid if local.process else 0,
                           networks=self._addresses(local.sandbox_id), **more)

    def _attachments(self, service: ServiceRecord, intent: servicespec.ServiceIntent) -> list[NetworkAttachment]:
        vips = {v.network_id: ipaddress.IPv4Interface(v.addr) for v in service.vips if ":" not in v.addr}
        ingress_ports = tuple(IngressPort(p.protocol, p.published, p.target) for p in service.ports
                              if p.mode == "ingress")
        attachments = []
        for index, nid in enumerate(service.networks):
            aliases = tuple(service.aliases.get(nid, ()))
            binding = ServiceBinding(
                service_id=service.id, service_name=intent.name, endpoint_mode=intent.endpoint_mode,
                vip=vips.get(nid), aliases=aliases,
                # The mesh's ingress network comes first when the service publishes through it.
                ingress_ports=ingress_ports if index == 0 and ingress_ports else ())
            attachments.append(NetworkAttachment(network=nid, endpoint=EndpointRequest(service=binding)))
        return attachments

    def _start_process(self, task_id: str, intent: servicespec.ServiceIntent) -> None:
        local = self._local[task_id]
        sandbox = self.ctl.sandboxes.get(local.sandbox_id)
        if sandbox is None or local.process is not None or not intent.argv:
            return
        os.makedirs(self.log_dir, exist_ok=True)
        local.process = TaskProcess(
            argv=intent.argv, netns_path=self.ctl.netns_path(sandbox), hostname=sandbox.hostname,
            files={f"/etc/{name}": self.ctl.sandbox_file(sandbox, name) for name in ("hosts", "resolv.conf")},
            env=intent.env, log_path=os.path.join(self.log_dir, f"{task_id}.log"),
            on_state=lambda status: self._process_changed(task_id, status))
        local.process.start()

    def _process_changed(self, task_id: str, status: TaskStatus) -> None:
        """A command that exits is started again after its delay; its exit code shows meanwhile."""
        local = self._local.get(task_id)
        if local is None or status.state == STARTING:
            return
        if status.state == EXITED:
            message = f"exited with {status.exit_code}; restarting" if not status.err else status.err
            report = self._report(task_id, state="running", message=message, sandbox_id=local.sandbox_id,
                                  pid=0, exit_code=status.exit_code or 0, err=status.err)
        else:
            report = self._report_running(task_id, local)
        task = asyncio.create_task(report, name=f"task-report-{task_id[:12]}")
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _stop(self, task_id: str, *, report: bool = True) -> None:
        local = self._local.pop(task_id)
        if local.process is not None:
            await local.process.stop()
        with contextlib.suppress(CnmError):
            await self.ctl.delete_sandbox(local.sandbox_id, force=True)
        log.info("task stopped", extra={"task": task_id, "sandbox": local.sandbox_id[:12]})
        if report:
            await self._report(task_id, state="shutdown", message="shutdown")

    async def _leave_all(self) -> None:
        """Out of the swarm: no task of it stays (``swarm leave`` removes a node's containers)."""
        await asyncio.gather(*(self._stop(task_id, report=False) for task_id in list(self._local)))

    def _addresses(self, sandbox_id: str) -> list[dict[str, Any]]:
        found = []
        for endpoint in self.ctl.sandbox_endpoints(sandbox_id):
            network = self.ctl.networks.get(endpoint.network_id)
            if network is None or network.scope != "swarm":
                continue
            found.append({"network_id": network.id,
                          "addresses": [str(a) for a in (endpoint.ipv4, endpoint.ipv6) if a is not None]})
        return found

    async def _report(self, task_id: str, **report: Any) -> None:
        body = {"id": task_id, **report}
        try:
            if self.swarm.is_manager:
                await self.services.report_task(self.swarm.node_id, body)
            else:
                await self.swarm.call_managers("tasks.report", body)
        except CnmError as err:
            log.debug("task report failed", extra={"task": task_id, "error": err.message})


def _host_ports(service: ServiceRecord) -> dict[str, list[dict[str, str]]]:
    """``--publish mode=host``: bound on the task's node only, on its gateway endpoint, as a container's -p."""
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in service.ports:
        if port.mode == "host":
            bindings.setdefault(f"{port.target}/{port.protocol}", []).append(
                {"HostIp": "", "HostPort": str(port.published) if port.published else ""})
    return bindings
