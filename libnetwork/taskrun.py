"""A task's command, run inside its sandbox and started again whenever it exits, until it is stopped.

The command comes from the host's filesystem (this daemon has no images);
what makes it the task's is what it sees: the sandbox's network namespace,
a UTS namespace with the task's hostname, and a mount namespace where the
sandbox's generated /etc/hosts and /etc/resolv.conf are bind-mounted over
the host's (``taskexec.py`` does that in the child, then execs the command,
so the command keeps the child's pid).

Each run is its own session and process group, so stopping it, or its
command ending, takes every process it started along (those that left the
group by setsid excepted: there are no cgroups here).  The kernel sends
SIGTERM to the command if cnmd dies, even by SIGKILL
(``children.tied_to_parent``); that death signal follows the thread that
forked, so runs are forked by the event loop's thread, never a worker's.
An exit is learnt through a pidfd on the event loop, and the process is
reaped only after its group was killed: while it is a zombie its pid
cannot name someone else's group.

As Docker's restart policy ``any`` with swarmkit's default delay: a run that
ends is followed by the next after ``restart_delay``, forever; ``stop`` sends
SIGTERM, then SIGKILL after ``stop_timeout`` (Docker's default stop timeout),
and returns once nothing of it is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .cluster.children import tied_to_parent

log = logging.getLogger("cnmd")

RESTART_DELAY = 5.0  # swarmkit's default RestartPolicy.Delay
STOP_TIMEOUT = 10.0  # Docker's default stop timeout
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's, for a container
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "taskexec.py")

STARTING = "starting"
RUNNING = "running"
EXITED = "exited"


@dataclass(frozen=True)
class TaskStatus:
    """What the service layer reports of a task: ``exit_code`` and ``err`` belong to ``exited``, whose
    ``pid`` is the one that ended."""

    state: str  # STARTING, RUNNING or EXITED
    pid: int
    restarts: int
    exit_code: int | None = None
    err: str = ""


class _Run:
    """One launch: the process, whether it reached its command, and its end."""

    def __init__(self, process: subprocess.Popen[bytes], report_fd: int):
        self.process = process
        self.pid = process.pid
        loop = asyncio.get_running_loop()
        self.started: asyncio.Future[str] = loop.create_future()  # "" when the command runs, else why not
        self.exited: asyncio.Future[int] = loop.create_future()
        self._report_fd = report_fd
        self._report = b""
        try:
            self._pidfd = os.pidfd_open(process.pid)
        except OSError:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        loop.add_reader(report_fd, self._on_report)
        loop.add_reader(self._pidfd, self._on_exit)

    def signal_group(self, sig: signal.Signals) -> None:
        if not self.exited.done():  # after that the group is gone and its id may be reused
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def _on_report(self) -> None:
        chunk = os.read(self._report_fd, 4096)
        if chunk:
            self._report += chunk
            return
        asyncio.get_running_loop().remove_reader(self._report_fd)
        os.close(self._report_fd)
        self.started.set_result(self._report.decode(errors="replace"))

    def _on_exit(self) -> None:
        asyncio.get_running_loop().remove_reader(self._pidfd)
        os.close(self._pidfd)
        # What the command left behind goes with it, killed while the zombie still holds the group's id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        code = self.process.wait()
        self.exited.set_result(128 - code if code < 0 else code)  # killed by a signal: 128+N, as Docker


class TaskProcess:
    """``argv`` run in the sandbox whose network namespace is ``netns_path``, restarted until ``stop``.

    ``files`` maps a path inside (``/etc/hosts``) to the host file mounted
    there; ``env`` is ``K=V`` entries over Docker's defaults (PATH, HOSTNAME,
    HOME); stdout and stderr are appended to ``log_path``.  ``on_state`` is
    called (on the event loop) at every change of state.  ``start`` must be
    called from the event loop's thread.
    """

    def __init__(self, argv: Sequence[str], *, netns_path: str, log_path: str, hostname: str = "",
                 files: Mapping[str, str] | None = None, env: Sequence[str] = (),
                 restart_delay: float = RESTART_DELAY, stop_timeout: float = STOP_TIMEOUT,
                 on_state: Callable[[TaskStatus], None] | None = None):
        if not argv:
            raise ValueError("a task process needs a command")
        self.argv = tuple(argv)
        self.netns_path = netns_path
        self.log_path = log_path
        self.hostname = hostname
        self.files = dict(files or {})
        self.env = tuple(env)
        self.restart_delay = restart_delay
        self.stop_timeout = stop_timeout
        self.on_state = on_state
        self.restarts = 0
        self.exit_code: int | None = None  # of the last run that ended
        self.state = ""
        self._run: _Run | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def pid(self) -> int:
        """The running command's pid (0 between runs)."""
        return self._run.pid if self._run is not None and not self._run.exited.done() else 0

    def start(self) -> None:
        """Launch the first run now (so ``pid`` is known on return), and supervise it from the event loop."""
        if self._runner is None:
            first = self._launch()
            self._runner = asyncio.get_running_loop().create_task(self._supervise(first),
                                                                  name=f"task {self.argv[0]}")

    async def stop(self, timeout: float | None = None) -> None:
        """SIGTERM to the run's process group, SIGKILL after ``timeout`` (``stop_timeout``); returns when it is gone."""
        self._stopping.set()
        run = self._run
        if run is not None:
            run.signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(run.exited), self.stop_timeout if timeout is None else timeout)
            except TimeoutError:
                run.signal_group(signal.SIGKILL)
                await run.exited
        if self._runner is not None:
            await self._runner

    async def _supervise(self, run: _Run | None) -> None:
        while True:
            if run is not None:
                await self._follow(run)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.restart_delay)
            if self._stopping.is_set():
                return
            self.restarts += 1
            run = self._launch()

    def _launch(self) -> _Run | None:
        self._emit(STARTING)
        try:
            self._run = self._spawn()
        except OSError as err:
            self._run = None
            self.exit_code = 126
            self._emit(EXITED, err=f"start {self.argv[0]}: {err.strerror or err}")
        return self._run

    async def _follow(self, run: _Run) -> None:
        try:
            why = await run.started
            if not why:
                self._emit(RUNNING)
            self.exit_code = await run.exited
        finally:
            if not run.exited.done():  # cancelled: nothing of it may outlive the supervisor
                run.signal_group(signal.SIGKILL)
        self._emit(EXITED, err=why, pid=run.pid)

    def _spawn(self) -> _Run:
        read_fd, write_fd = os.pipe()
        spec = {"netns": self.netns_path, "hostname": self.hostname, "files": sorted(self.files.items()),
                "report_fd": write_fd}
        try:
            with open(self.log_path, "ab") as log_file:
                process = subprocess.Popen(
                    tied_to_parent([sys.executable, "-I", LAUNCHER, json.dumps(spec), *self.argv]),
                    env=self._environment(),
                    cwd="/", stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,), start_new_session=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        return _Run(process, read_fd)

    def _environment(self) -> dict[str, str]:
        env = {"PATH": DEFAULT_PATH, "HOME": "/root"}
        if self.hostname:
            env["HOSTNAME"] = self.hostname
        for entry in self.env:
            key, sep, value = entry.partition("=")
            if sep and key:
                env[key] = value
        return env

    def _emit(self, state: str, err: str = "", pid: int | None = None) -> None:
        self.state = state
        if self.on_state is None:
            return
        status = TaskStatus(state=state, pid=self.pid if pid is None else pid, restarts=self.restarts,
                            exit_code=self.exit_code if state == EXITED else None, err=err)
        try:
            self.on_state(status)
        except Exception:
            log.exception("task state callback failed", extra={"argv": list(self.argv)})
