"""A manager's etcd member as a child of cnmd, and etcd's membership calls.

Written for Debian's ``etcd-server`` (etcd 3.4) and the ``aetcd`` client.
Clients are served on loopback only, in clear: the daemon on the same host
is the only client, and workers ask a manager over the cluster port
(DESIGN.md, "Control plane across hosts").  Peers speak mutual TLS with the
node certificates of the cluster CA, and ``--peer-cert-allowed-hostname
swarm-manager`` keeps a worker's certificate (DNS:swarm-worker) from
peering.  etcd also checks a peer certificate's IP SANs against the address
the connection comes from, so a node certificate must name the advertise
address its peer traffic leaves from.

As the Serf agent does, the member runs in its own session so it outlives a
crashed cnmd, and the next ``start`` adopts it through the pid file (checked
against /proc/PID/cmdline) instead of starting a second one on the same data
directory.  ``supervise`` restarts it when it dies.

Membership changes go one at a time: etcd (strict reconfiguration, on by
default) refuses to add a voter until every voter has been connected for
five seconds, and refuses any change that would leave fewer started members
than a quorum.  Those refusals are ``EtcdReconfigRefused``, to be retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aetcd
from aetcd import rpc, watcher

from libnetwork.cluster.ca import MANAGER_SERVER_NAME
from libnetwork.cluster.children import cmdline, is_alive, log_tail, read_pid, send_signal, tied_to_parent, wait_exit
from libnetwork.errors import Conflict, NotFound, Unavailable

log = logging.getLogger("cnmd")

_CLIENT_HOST = "127.0.0.1"
# etcd answers "etcdserver: no leader" at once instead of holding a request
# until its own timeout when this is in the metadata (clientv3's WithRequireLeader);
# a watch on a member that loses its leader is ended too, rather than going silent.
REQUIRE_LEADER = (("hasleader", "true"),)
# Flags etcd reads only when it creates its data directory: a running member
# started with others is still the same member.
_BOOTSTRAP_FLAGS = ("--initial-cluster=", "--initial-cluster-state=", "--initial-cluster-token=")
_RESTART_BACKOFF = (0.5, 30.0)
# A member that stayed up this long has its backoff reset.
_STABLE_AFTER = 60.0


class EtcdError(Unavailable):
    """The etcd member could not be started, reached or reconfigured."""


class EtcdReconfigRefused(EtcdError):
    """etcd refused a membership change for now: a member is not started or not connected long enough,
    a learner is already waiting, or a learner is not in sync.  Retry in a few seconds."""


class EtcdMemberNotFound(NotFound):
    # Set when an earlier attempt of the same call went unanswered (and may have removed it).
    after_unanswered = False

    def __init__(self, member_id: int):
        super().__init__(f"no etcd member {member_id:x}")
        self.member_id = member_id


class EtcdMemberExists(Conflict):
    """A member with that peer URL is already in the cluster."""

    # Set when an earlier attempt of the same call went unanswered (and may have added it).
    after_unanswered = False


@dataclass(frozen=True)
class EtcdConfig:
    name: str
    """The node ID: etcd's member name."""
    data_dir: str
    advertise_ip: str
    ca_file: str
    cert_file: str
    key_file: str
    initial_cluster: Mapping[str, str]
    """Member name -> peer URL, this member included (read only when the data dir is new)."""
    initial_state: Literal["new", "existing"] = "new"
    cluster_token: str = "cnm-etcd"
    peer_port: int = 2380
    client_port: int = 2379
    netns: str | None = None
    """Path of a network namespace to run the member in (the test hosts); None for cnmd's own."""
    etcd_binary: str = "etcd"
    die_with_parent: bool = False
    listen_ip: str | None = None
    """Where the peer port binds when not the advertise address (dockerd accepts an advertise address the host
    does not have, and listens on its listen address)."""
    """The member gets SIGTERM when cnmd dies (even by SIGKILL): a dead daemon is a manager down, as with dockerd."""
    # A LAN: a lost leader is replaced within about two seconds.
    heartbeat_ms: int = 100
    election_ms: int = 1000
    # The daemon's global state is small and changes slowly: snapshot and
    # compact often enough that the WAL and the history stay short.
    snapshot_count: int = 10_000
    compaction_retention: str = "1h"
    quota_backend_bytes: int = 512 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.initial_state not in ("new", "existing"):
            raise ValueError(f"initial_state is 'new' or 'existing', not {self.initial_state!r}")
        if self.name not in self.initial_cluster:
            raise ValueError(f"initial_cluster does not name this member ({self.name})")

    @property
    def peer_url(self) -> str:
        return peer_url(self.advertise_ip, self.peer_port)

    @property
    def client_url(self) -> str:
        return f"http://{_CLIENT_HOST}:{self.client_port}"


def peer_url(ip: str, port: int = 2380) -> str:
    return f"https://{_bracket(ip)}:{port}"


def _bracket(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def render_argv(config: EtcdConfig, *, existing: bool) -> list[str]:
    """The member's command line; ``existing``: its data dir already holds a member."""
    state = "existing" if existing or config.initial_state == "existing" else "new"
    cluster = ",".join(f"{name}={url}" for name, url in sorted(config.initial_cluster.items()))
    return [
        config.etcd_binary,
        f"--name={config.name}",
        f"--data-dir={config.data_dir}",
        f"--listen-client-urls={config.client_url}",
        f"--advertise-client-urls={config.client_url}",
        f"--listen-peer-urls={peer_url(config.listen_ip or config.advertise_ip, config.peer_port)}",
        f"--initial-advertise-peer-urls={config.peer_url}",
        f"--initial-cluster={cluster}",
        f"--initial-cluster-state={state}",
        f"--initial-cluster-token={config.cluster_token}",
        "--peer-client-cert-auth=true",
        f"--peer-trusted-ca-file={config.ca_file}",
        f"--peer-cert-file={config.cert_file}",
        f"--peer-key-file={config.key_file}",
        f"--peer-cert-allowed-hostname={MANAGER_SERVER_NAME}",
        f"--heartbeat-interval={config.heartbeat_ms}",
        f"--election-timeout={config.election_ms}",
        f"--snapshot-count={config.snapshot_count}",
        "--auto-compaction-mode=periodic",
        f"--auto-compaction-retention={config.compaction_retention}",
        f"--quota-backend-bytes={config.quota_backend_bytes}",
        "--logger=zap",
        "--log-outputs=stderr",
    ]


class EtcdClient(aetcd.Client):
    """aetcd's client on any gRPC target, every call requiring a leader.

    aetcd builds its target from host and port only, so a unix socket (the
    bridge into a test namespace) needs its own ``connect``; and it sends no
    metadata but an auth token, so without this a call to a member that lost
    quorum waits out its whole deadline instead of failing at once.
    """

    def __init__(self, target: str, timeout: float = 5.0):
        super().__init__(timeout=timeout)
        self._target = target

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        # Nothing here awaits, so no other task can see a half-made channel.
        self.channel = rpc.insecure_channel(self._target, options=self._options.items())
        self.metadata = REQUIRE_LEADER
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self._watcher = watcher.Watcher(rpc.WatchStub(self.channel), timeout=self._timeout, metadata=self.metadata)
        self._connected.set()


class EtcdMember:
    """This node's member.  Not thread-safe; use from the daemon's event loop."""

    def __init__(self, config: EtcdConfig):
        self.config = config
        self.pid_path = os.path.join(config.data_dir, "etcd.pid")
        self.log_path = os.path.join(config.data_dir, "etcd.log")
        self.bridge_path = os.path.join(config.data_dir, "client.sock")
        self._process: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._lock = asyncio.Lock()
        # Whether the member should be running: the supervisor restarts it only then.
        self._wanted = False
        self._bridge: asyncio.Server | None = None
        self.restarts = 0
        # The exit status of the last child started here that ended (an adopted one's is not ours to see).
        self.last_exit: int | None = None

    @property
    def pid(self) -> int | None:
        return self._pid if self.is_running() else None

    @property
    def has_data(self) -> bool:
        """Whether the data dir holds a member: etcd then ignores every initial-cluster flag."""
        return os.path.isdir(os.path.join(self.config.data_dir, "member"))

    async def start(self, timeout: float = 30.0) -> None:
        """Run the member (or adopt the one a previous run left on this data dir) and return once it
        answers with a leader.

        When it answers but finds no leader in time (the other members are down) it is left running,
        since it is needed for the others to form a quorum, and ``EtcdError`` is raised; when it exits
        or never answers it is stopped.
        """
        async with self._lock:
            self._wanted = True
            await self._start(timeout)

    async def _start(self, timeout: float) -> None:
        os.makedirs(self.config.data_dir, mode=0o700, exist_ok=True)
        os.chmod(self.config.data_dir, 0o700)  # etcd refuses a data dir others can read
        argv = render_argv(self.config, existing=self.has_data)
        if self.is_running():
            assert self._pid is not None
            if self._process is not None or _significant(cmdline(self._pid)) == _significant(argv):
                await self._wait_ready(timeout)
                return
            await self._stop(5.0)  # a previous run's member with other settings
        # Forking a big daemon takes a while; asyncio's own subprocesses would kill the member with the loop.
        self._process = (self._spawn(argv) if self.config.die_with_parent  # the death signal follows the forking thread
                         else await asyncio.to_thread(self._spawn, argv))
        self._pid = self._process.pid
        _write(self.pid_path, f"{self._pid}\n")
        try:
            await self._wait_ready(timeout)
        except _ServingWithoutLeader as err:
            raise EtcdError(str(err)) from None
        except EtcdError:
            await self._stop(5.0)
            raise
        # Cancelled while waiting (a supervisor being stopped, a caller's timeout): the member stays,
        # wanted as before; the next start adopts it.

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        prefix = ["nsenter", f"--net={self.config.netns}"] if self.config.netns else []
        with open(self.log_path, "ab") as log_file:
            # nsenter execs etcd (no fork for a network namespace), so the pid is etcd's.
            command = [*prefix, *argv]
            return subprocess.Popen(
                tied_to_parent(command) if self.config.die_with_parent else command,
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                cwd=self.config.data_dir, start_new_session=True)

    def is_running(self) -> bool:
        """Whether this node's member (started here or adopted) is alive."""
        if self._process is not None:
            if self._process.poll() is None:
                return True
            self.last_exit = self._process.returncode
            self._process = None
            self._pid = None
        pid = self._pid if self._pid is not None else read_pid(self.pid_path)
        if pid is not None and _is_our_member(pid, self.config):
            self._pid = pid
            return True
        self._pid = None
        return False

    async def stop(self, timeout: float = 10.0) -> None:
        """End the member: SIGTERM (a leader hands over first), then SIGKILL after ``timeout``."""
        async with self._lock:
            self._wanted = False
            await self._stop(timeout)
            if self._bridge is not None:
                with contextlib.suppress(RuntimeError):  # its loop has ended: it is closed already
                    self._bridge.close()
                self._bridge = None
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.bridge_path)

    async def _stop(self, timeout: float) -> None:
        if self.is_running():
            assert self._pid is not None
            pid = self._pid
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                send_signal(pid, sig)
                if await wait_exit(self._process, pid, wait):
                    break
            else:
                raise EtcdError(f"etcd member {pid} survived SIGKILL")
        self._process, self._pid = None, None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pid_path)

    async def supervise(self, poll: float = 0.5) -> None:
        """Restart the member whenever it dies while it is wanted (after ``start``, until ``stop``).

        Run as a task; cancel it to stop supervising.  Restarts back off from half a second to half a
        minute, and the backoff resets once the member has stayed up for a minute.
        """
        delay = _RESTART_BACKOFF[0]
        up_since = time.monotonic()
        while True:
            await asyncio.sleep(poll)
            if not self._wanted or self.is_running() or self._lock.locked():
                if time.monotonic() - up_since > _STABLE_AFTER:
                    delay = _RESTART_BACKOFF[0]
                continue
            async with self._lock:
                if not self._wanted or self.is_running():
                    continue
                self.restarts += 1
                log.warning("etcd member died, restarting", extra={
                    "member": self.config.name, "restarts": self.restarts, "backoff": delay,
                    "exit": self.last_exit if self.last_exit is not None else "unknown"})
                self.last_exit = None
                await asyncio.sleep(delay)
                try:
                    await self._start(30.0)
                except (EtcdError, OSError) as err:
                    log.warning("etcd member restart failed",
                                extra={"member": self.config.name, "error": str(err)})
                up_since = time.monotonic()
                delay = min(delay * 2, _RESTART_BACKOFF[1])

    async def client(self, timeout: float = 5.0) -> EtcdClient:
        """A connected client of this member, on loopback.  ``timeout`` bounds each call."""
        client = EtcdClient(await self._client_target(), timeout)
        await client.connect()
        return client

    async def _client_target(self) -> str:
        if self.config.netns is None:
            return f"{_CLIENT_HOST}:{self.config.client_port}"
        # The bridge serves from the loop that made it; a member outliving its loop (tests run
        # one loop per step) gets a new one.
        if self._bridge is None or self._bridge.get_loop() is not asyncio.get_running_loop():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.bridge_path)
            self._bridge = await asyncio.start_unix_server(self._forward, path=self.bridge_path)
            os.chmod(self.bridge_path, 0o600)
        return f"unix:{self.bridge_path}"

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The member's loopback is its namespace's: a socket made there by the namespace helper
        # reaches it, and no thread of ours changes namespace (gRPC cannot be handed a socket).
        from libnetwork import nshelper

        assert self.config.netns is not None
        try:
            (sock,) = await asyncio.to_thread(nshelper.open_sockets, self.config.netns,
                                              [(socket.AF_INET, socket.SOCK_STREAM, 0)])
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (_CLIENT_HOST, self.config.client_port))
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except asyncio.CancelledError:
            # The loop is ending (asyncio's server owns this task and would log the cancellation).
            writer.close()
            up_writer.close()

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = EtcdClient(await self._client_target(), timeout=1.0)
        serving = False
        try:
            while True:
                if not self.is_running():
                    raise EtcdError(f"etcd member {self.config.name} exited: {log_tail(self.log_path)}")
                try:
                    await client.connect()
                    # Without the require-leader metadata: whether it serves at all is worth knowing too.
                    status = await client.maintenancestub.Status(rpc.StatusRequest(), timeout=1.0)
                    serving = True
                    if status.leader:
                        return
                except (rpc.AioRpcError, aetcd.ClientError):
                    pass
                if time.monotonic() > deadline:
                    if serving:
                        raise _ServingWithoutLeader(f"etcd member {self.config.name} has no leader "
                                                    f"after {timeout:.0f}s")
                    raise EtcdError(f"etcd member {self.config.name} not answering after {timeout:.0f}s: "
                                    f"{log_tail(self.log_path)}")
                await asyncio.sleep(0.1)
        finally:
            await client.close()




class _ServingWithoutLeader(EtcdError):
    pass


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


# -- membership (etcd's Cluster service) -----------------------------------------------

@dataclass(frozen=True)
class MemberInfo:
    id: int
    name: str
    """Empty until the member has started and published itself."""
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @property
    def started(self) -> bool:
        return bool(self.name)


def _member_info(member: Any) -> MemberInfo:
    return MemberInfo(id=member.ID, name=member.name, peer_urls=tuple(member.peerURLs),
                      client_urls=tuple(member.clientURLs), is_learner=member.isLearner)


# What etcd 3.4 answers (api/v3rpc/rpctypes) when a change must wait.
_RETRY_LATER = ("unhealthy cluster", "too many learner", "not enough started members",
                "can only promote a learner member which is in sync", "no leader")


def _member_error(err: rpc.AioRpcError, what: str, member_id: int | None = None) -> Exception:
    details = err.details() or ""
    code = err.code()
    if any(text in details for text in _RETRY_LATER):
        return EtcdReconfigRefused(f"{what}: {details}")
    if "member not found" in details and member_id is not None:
        return EtcdMemberNotFound(member_id)
    if "Peer URLs already exists" in details:
        return EtcdMemberExists(f"{what}: {details}")
    if code in (rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.DEADLINE_EXCEEDED):
        return _Unreachable(f"{what}: etcd unreachable: {details}")
    return EtcdError(f"{what}: {code.name}: {details}")


class _Unreachable(EtcdError):
    """No answer: the change may or may not have been made (a proposal sent to a leader that just died
    is lost, and so is an answer)."""


async def _cluster_call(client: aetcd.Client, method: str, request: Any, what: str, *,
                        timeout: float, retry_for: float, member_id: int | None = None) -> tuple[Any, bool]:
    """One Cluster RPC through aetcd's stub (aetcd has no learners, and its member list leaks raw gRPC
    errors), retried for ``retry_for`` seconds while etcd refuses it for now or does not answer.

    Answers the response and whether an earlier attempt went unanswered, in which case a "member not
    found" or "peer URL exists" may be that attempt's own doing.
    """
    await client.connect()
    deadline = time.monotonic() + retry_for
    unanswered = False
    while True:
        try:
            call = getattr(client.clusterstub, method)
            return await call(request, timeout=timeout, metadata=REQUIRE_LEADER), unanswered
        except rpc.AioRpcError as err:
            error = _member_error(err, what, member_id)
        if not isinstance(error, (EtcdReconfigRefused, _Unreachable)) or time.monotonic() + 1.0 > deadline:
            if isinstance(error, (EtcdMemberNotFound, EtcdMemberExists)):
                error.after_unanswered = unanswered
            raise error
        unanswered = unanswered or isinstance(error, _Unreachable)
        await asyncio.sleep(1.0)


async def leader_name(client: aetcd.Client, *, timeout: float = 5.0) -> str | None:
    """The name (node ID) of the member the answering member follows, None without a leader."""
    await client.connect()
    try:
        status = await client.maintenancestub.Status(rpc.StatusRequest(), timeout=timeout, metadata=REQUIRE_LEADER)
    except rpc.AioRpcError as err:
        raise _member_error(err, "status") from None
    for member in await list_members(client, timeout=timeout):
        if member.id == status.leader:
            return member.name or None
    return None


async def list_members(client: aetcd.Client, *, timeout: float = 5.0) -> list[MemberInfo]:
    response, _ = await _cluster_call(client, "MemberList", rpc.MemberListRequest(), "list members",
                                      timeout=timeout, retry_for=0)
    return [_member_info(m) for m in response.members]


async def add_member(client: aetcd.Client, peer_url: str, *, learner: bool = False, timeout: float = 5.0,
                     retry_for: float = 0.0) -> MemberInfo:
    """Add a member by its peer URL, before it starts (with ``initial_state="existing"`` and
    ``initial_cluster_after_add``).

    A voter counts against the quorum from this call on, so start it promptly; a learner does not,
    and is made a voter with ``promote_member`` once in sync.  Refusals that pass (``EtcdReconfigRefused``)
    and unanswered attempts are retried for ``retry_for`` seconds.
    """
    request = rpc.MemberAddRequest(peerURLs=[peer_url], isLearner=learner)
    try:
        response, _ = await _cluster_call(client, "MemberAdd", request, f"add member {peer_url}",
                                          timeout=timeout, retry_for=retry_for)
    except EtcdMemberExists as err:
        if err.after_unanswered:
            for member in await list_members(client, timeout=timeout):
                if peer_url in member.peer_urls and not member.started:
                    return member
        raise
    return _member_info(response.member)


async def promote_member(client: aetcd.Client, member_id: int, *, timeout: float = 5.0,
                         retry_for: float = 30.0) -> None:
    """Make a learner a voter; waits (up to ``retry_for``) while it catches up with the leader."""
    await _cluster_call(client, "MemberPromote", rpc.MemberPromoteRequest(ID=member_id),
                        f"promote member {member_id:x}", timeout=timeout, retry_for=retry_for, member_id=member_id)


async def remove_member(client: aetcd.Client, member_id: int, *, timeout: float = 5.0,
                        retry_for: float = 0.0) -> None:
    """Remove a member, running or not: only the remaining members need a quorum.  With ``retry_for``,
    refusals and unanswered attempts (a leader that just died) are retried."""
    try:
        await _cluster_call(client, "MemberRemove", rpc.MemberRemoveRequest(ID=member_id),
                            f"remove member {member_id:x}", timeout=timeout, retry_for=retry_for,
                            member_id=member_id)
    except EtcdMemberNotFound as err:
        if not err.after_unanswered:
            raise


def initial_cluster_after_add(members: Iterable[MemberInfo], added: MemberInfo, name: str) -> dict[str, str]:
    """The ``initial_cluster`` a just-added member starts with: every member by name, the new one as ``name``.

    etcd checks it against the cluster's own list, so no member may be left out; another member that
    has not started yet has no name to list it by, hence ``EtcdReconfigRefused``.
    """
    cluster: dict[str, str] = {}
    for member in members:
        if member.id == added.id:
            continue
        if not member.started:
            raise EtcdReconfigRefused(f"member {member.id:x} ({', '.join(member.peer_urls)}) has not started yet")
        for url in member.peer_urls:
            cluster[member.name] = url
    for url in added.peer_urls:
        cluster[name] = url
    return cluster


# -- the process -------------------------------------------------------------------------

def _significant(argv: list[str]) -> list[str]:
    return [arg for arg in argv if not arg.startswith(_BOOTSTRAP_FLAGS)]


def _write(path: str, text: str) -> None:
    with open(path, "w") as out:
        out.write(text)








def _is_our_member(pid: int, config: EtcdConfig) -> bool:
    """The pid is a live etcd on this data dir (not a reused pid)."""
    argv = cmdline(pid) if is_alive(pid) else []
    return (bool(argv) and os.path.basename(argv[0]) == os.path.basename(config.etcd_binary)
            and f"--data-dir={config.data_dir}" in argv)





