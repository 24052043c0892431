"""The swarm service: this node's part in a cluster, behind Docker's swarm and node routes.

A node is ``inactive`` (no swarm), or ``active`` as a worker or a manager.
Managers each run an etcd member (global state: the cluster record, nodes)
and sign certificates; every node runs a Serf agent (membership, failure
detection, the event stream) and serves the cluster port.  Workers never
talk to etcd: what they need they ask a manager over the cluster port.

Every change of state is built on an undo stack: init and join either finish
or leave the node ``inactive`` with no etcd member, Serf agent, certificate
or state file behind (on either side: a manager that added an etcd learner
for a joiner that then failed removes it again).  One lock serialises init,
join, leave and restore, as dockerd's cluster controller does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import os
import platform
import secrets
import shutil
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from .. import __version__
from ..errors import CnmError, Internal, InvalidParameter, NotFound, NotImplementedByDriver, Unavailable
from ..store.api import KeyNotFound, KeyValue, Listing, RevisionMismatch, StoreUnavailable
from . import addrs, port, records, tokens
from .ca import NodeIdentity, RootCA, make_node_key_request, pinned_root_ca
from .etcd import (
    EtcdConfig,
    EtcdError,
    EtcdMember,
    add_member,
    initial_cluster_after_add,
    leader_name,
    list_members,
    peer_url,
    promote_member,
    remove_member,
)
from .etcdstore import EtcdKV
from .ids import Role, new_cluster_id, new_node_id
from .localstate import NODE_CERT, NODE_KEY, ROOT_CA_CERT, ROOT_CA_KEY, LocalState, NodeState, RemoteManager
from .membership import SERF_PORT, ClusterEvent, Hub, MemberChange, Membership, new_key
from .records import ClusterRecord, NodeRecord
from .tls import client_context, server_context

log = logging.getLogger("cnmd")

ETCD_PEER_PORT = 2380
ETCD_CLIENT_PORT = 2379
ETCD_PREFIX = "/cnm/"
MIN_DATA_PATH_PORT, MAX_DATA_PATH_PORT = 1024, 49151
PROMOTE_GRACE = 60.0
RESTORE_RETRY = 5.0
SESSION_PERIOD = 5.0  # swarmkit's dispatcher heartbeat period

ALREADY_IN_SWARM = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and '
                    'join another one.')
NOT_IN_SWARM = "This node is not part of a swarm"
NO_SWARM_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect '
                    'this node to swarm and try again.')
WORKER_NOT_MANAGER = ("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster "
                      "state. Please run this command on a manager node or promote the current node to a manager.")
BAD_TOKEN = "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster"
NO_LEADER = ("rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few "
             "managers are online. Make sure more than half of the managers are online.")
OUT_OF_SEQUENCE = "rpc error: code = Unknown desc = update out of sequence"
LEAVE_MANAGER = "You are attempting to leave the swarm on a node that is participating as a manager. "
LEAVE_LAST = "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message. "
LEAVE_QUORUM = "Removing this node leaves {left} managers out of {total}. Without a Raft quorum your swarm will be " \
               "inaccessible. "
LEAVE_TAIL = ("The only way to restore a swarm that has lost consensus is to reinitialize it with "
              "`--force-new-cluster`. Use `--force` to suppress this message.")


class NoLeader(Internal):
    """etcd has no quorum: what dockerd answers when raft has no leader (500, gRPC's Unknown)."""

    def __init__(self) -> None:
        super().__init__(NO_LEADER)


class QuorumKV:
    """The global store as the swarm routes use it: a store without quorum is dockerd's "no leader"."""

    def __init__(self, kv: EtcdKV):
        self._kv = kv

    async def get(self, key: str) -> KeyValue:
        with _no_leader():
            return await self._kv.get(key)

    async def put(self, key: str, value: bytes) -> int:
        with _no_leader():
            return await self._kv.put(key, value)

    async def cas(self, key: str, value: bytes, expect_revision: int) -> int:
        with _no_leader():
            return await self._kv.cas(key, value, expect_revision)

    async def delete(self, key: str, *, expect_revision: int | None = None) -> bool:
        with _no_leader():
            return await self._kv.delete(key, expect_revision=expect_revision)

    async def list(self, prefix: str) -> Listing:
        with _no_leader():
            return await self._kv.list(prefix)


@contextlib.contextmanager
def _no_leader() -> Iterator[None]:
    try:
        yield
    except StoreUnavailable:
        raise NoLeader() from None


class Precondition(InvalidParameter):
    """swarmkit's FailedPrecondition: 400 with gRPC's prefix."""

    def __init__(self, text: str):
        super().__init__(f"rpc error: code = FailedPrecondition desc = {text}")


def _data_path_port(value: int) -> int:
    if value == 0:
        return records.DEFAULT_DATA_PATH_PORT
    if not MIN_DATA_PATH_PORT <= value <= MAX_DATA_PATH_PORT:
        raise Internal(f"Datapath port number is not in valid range ({MIN_DATA_PATH_PORT}-{MAX_DATA_PATH_PORT}) : "
                       f"{value}")
    return value


def _resources() -> tuple[int, int]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (os.cpu_count() or 1) * 1_000_000_000, memory


class Swarm:
    """This node in its swarm (or in none).  Use from cnmd's event loop."""

    def __init__(self, data_root: str, *, interfaces: Callable[[], addrs.Interfaces] = addrs.host_interfaces):
        self.local = LocalState(data_root)
        self.state: NodeState | None = None
        self.root: RootCA | None = None
        self._interfaces = interfaces
        self._node_cert = b""
        self._node_key = b""
        self._port: port.ClusterPortServer | None = None
        self.membership: Membership | None = None
        self._etcd: EtcdMember | None = None
        self._kv: EtcdKV | None = None
        self._etcd_client: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._pending_promotions: dict[str, asyncio.Task[None]] = {}
        self.hub = Hub()
        # Set when this node's place in a swarm changes (init, join, leave, a new role): followers look again.
        self.changed = asyncio.Event()
        # What else a new swarm needs (its ingress network), run at init before it answers.
        self.on_init: list[Callable[[], Awaitable[None]]] = []
        # Calls of members that other modules answer (swarm networks), by name; managers only.
        self.manager_calls: dict[str, Callable[[NodeIdentity, dict[str, Any]], Awaitable[dict[str, Any]]]] = {}

    # -- state ---------------------------------------------------------------------------

    @property
    def local_node_state(self) -> str:
        return "active" if self.state is not None else "inactive"

    @property
    def is_manager(self) -> bool:
        return self.state is not None and self.state.role is Role.MANAGER

    def require_manager(self) -> None:
        if self.state is None:
            raise Unavailable(NO_SWARM_MANAGER)
        if self.state.role is not Role.MANAGER or self._kv is None:
            raise Unavailable(WORKER_NOT_MANAGER)

    @property
    def raw_kv(self) -> EtcdKV | None:
        """The etcd store itself (its watches), while this node is a manager."""
        return self._kv

    @property
    def kv(self) -> QuorumKV:
        self.require_manager()
        assert self._kv is not None
        return QuorumKV(self._kv)

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """At daemon start: back into the swarm the disk remembers, with no token."""
        async with self._lock:
            state = self.local.load()
            if state is None:
                return
            if not await self._restore(state):
                # as dockerd: the node stays in its swarm and keeps trying
                self._tasks.append(asyncio.create_task(self._restore_later(state), name="swarm-restore"))

    async def _restore(self, state: NodeState) -> bool:
        try:
            await self._bring_up(state, peers=[f"{m.addr.rsplit(':', 1)[0]}:{SERF_PORT}"
                                               for m in state.remote_managers])
        except CnmError as err:
            log.error("swarm restore failed; trying again", extra={"error": err.message})
            await self._bring_down(keep_tasks=True)
            return False
        log.info("swarm restored", extra={"node": state.node_id, "role": state.role.value})
        return True

    async def _restore_later(self, state: NodeState) -> None:
        while True:
            await asyncio.sleep(RESTORE_RETRY)
            async with self._lock:
                if self.local.load() != state or self.state is not None:
                    return
                if await self._restore(state):
                    self.changed.set()
                    return

    async def close(self) -> None:
        """At daemon stop: our children stop with us (the others see this node fail, as with dockerd)."""
        async with self._lock:
            await self._bring_down()

    def _load_credentials(self, state: NodeState) -> None:
        ca_pem = self.local.read(ROOT_CA_CERT)
        cert, key = self.local.read(NODE_CERT), self.local.read(NODE_KEY)
        if ca_pem is None or cert is None or key is None:
            raise Internal("the swarm credentials under the data root are missing")
        key_path = self.local.path(ROOT_CA_KEY)
        self.root = RootCA(ca_pem, key_path.read_bytes() if key_path.exists() else None)
        self._node_cert, self._node_key = cert, key

    def _client_context(self) -> ssl.SSLContext:
        assert self.root is not None
        return client_context(self._node_cert, self._node_key, self.root.cert_pem)

    async def _bring_up(self, state: NodeState, *, peers: list[str], etcd_initial: dict[str, str] | None = None,
                        etcd_new: bool = False) -> None:
        """Start what a node of this role runs: cluster port, etcd (managers), Serf."""
        self._load_credentials(state)
        assert self.root is not None
        self.state = state
        host, listen_port = addrs.split_host_port(state.listen_addr, addrs.DEFAULT_PORT) or ("0.0.0.0", 2377)
        self._port = port.ClusterPortServer(self, server_context(self._node_cert, self._node_key,
                                                                 self.root.cert_pem, require_client_cert=False))
        await self._port.start(host, listen_port)
        if state.role is Role.MANAGER:
            await self._start_etcd(state, etcd_initial, etcd_new)
        self.membership = Membership(self.local.serf_dir, state.node_id, state.advertise_addr,
                                     state.serf_rpc_auth, role=state.role.value, cluster_port=listen_port,
                                     hub=self.hub)
        await self.membership.start(peers)
        self.membership.add_task(asyncio.create_task(self.membership.rotate_periodically(self._rotates_keys)))
        self._tasks.append(asyncio.create_task(self._session_loop(), name="swarm-session"))

    async def _start_etcd(self, state: NodeState, initial: dict[str, str] | None, new: bool) -> None:
        config = EtcdConfig(
            name=state.node_id, data_dir=self.local.etcd_dir, advertise_ip=state.advertise_addr,
            peer_port=ETCD_PEER_PORT, client_port=ETCD_CLIENT_PORT,
            ca_file=str(self.local.path(ROOT_CA_CERT)), cert_file=str(self.local.path(NODE_CERT)),
            key_file=str(self.local.path(NODE_KEY)),
            initial_cluster=initial or {state.node_id: f"https://{state.advertise_addr}:{ETCD_PEER_PORT}"},
            initial_state="new" if new else "existing", cluster_token=state.etcd_cluster_token or state.cluster_id,
            die_with_parent=True, listen_ip=self._listen_host(state))
        self._etcd = EtcdMember(config)
        try:
            await self._etcd.start()
        except EtcdError as err:
            # Up but without a leader (the other managers are down too): it stays up, since they need it
            # for their quorum as it needs them, and the swarm serves again once they are back.
            if not self._etcd.is_running():
                raise
            log.warning("etcd member up without a leader yet", extra={"node": state.node_id, "error": str(err)})
        self._tasks.append(asyncio.create_task(self._etcd.supervise(), name="etcd-supervisor"))
        self._etcd_client = await self._etcd.client()
        self._kv = EtcdKV(self._etcd_client, ETCD_PREFIX)

    @staticmethod
    def _listen_host(state: NodeState) -> str:
        host, _ = addrs.split_host_port(state.listen_addr, addrs.DEFAULT_PORT) or ("0.0.0.0", 0)
        return host

    async def _bring_down(self, *, leave: bool = False, keep_tasks: bool = False) -> None:
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current and not (keep_tasks and task.get_name() == "swarm-restore"):
                task.cancel()
        for task in list(self._pending_promotions.values()):
            task.cancel()
        self._pending_promotions.clear()
        for task in [t for t in self._tasks if t.cancelled() or t.done() or t.cancelling()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = [t for t in self._tasks if not t.done()]
        if self.membership is not None:
            await self.membership.close(leave=leave)
            self.membership = None
        if self._kv is not None:
            with contextlib.suppress(Exception):
                await self._kv.close()
            self._kv = None
        if self._etcd_client is not None:
            with contextlib.suppress(Exception):
                await self._etcd_client.close()
            self._etcd_client = None
        if self._etcd is not None:
            await self._etcd.stop()
            self._etcd = None
        if self._port is not None:
            await self._port.stop()
            self._port = None
        self.state = None
        self.root = None

    def _rotates_keys(self) -> bool:
        """One manager rotates the gossip key: the one with the lowest node ID among those up."""
        if not self.is_manager or self.membership is None or self.state is None:
            return False
        managers = [node for node, role in self.membership.roles_up().items() if role == Role.MANAGER.value]
        return self.state.node_id == min(managers, default=self.state.node_id)

    # -- init ----------------------------------------------------------------------------

    async def init(self, request: dict[str, Any]) -> str:
        async with self._lock:
            if self.state is not None:
                raise Unavailable(ALREADY_IN_SWARM)
            interfaces = await asyncio.to_thread(self._interfaces)
            listen_host, listen_port = addrs.parse_listen(str(request.get("ListenAddr") or ""), interfaces)
            advertise, _ = addrs.parse_advertise(str(request.get("AdvertiseAddr") or ""), interfaces, listen_host)
            data_path = addrs.parse_data_path(str(request.get("DataPathAddr") or ""), interfaces, advertise)
            data_port = _data_path_port(int(request.get("DataPathPort") or 0))
            _refuse_autolock(request.get("Spec"), bool(request.get("AutoLockManagers")))
            pools = [str(p) for p in request.get("DefaultAddrPool") or []]
            subnet_size = int(request.get("SubnetSize") or records.DEFAULT_SUBNET_SIZE)
            for pool in pools:
                _check_pool(pool, subnet_size)
            node_id, cluster_id = new_node_id(), new_cluster_id()
            root = RootCA.create()
            key_request = make_node_key_request()
            cert = root.issue_node_certificate(key_request.csr_pem, node_id, Role.MANAGER, cluster_id,
                                               advertise_ip=advertise)
            state = NodeState(node_id=node_id, cluster_id=cluster_id, role=Role.MANAGER, advertise_addr=advertise,
                              listen_addr=f"{listen_host}:{listen_port}", data_path_addr=data_path,
                              data_path_port=data_port, serf_rpc_auth=secrets.token_urlsafe(24),
                              remote_managers=(RemoteManager(node_id, f"{advertise}:{listen_port}"),),
                              etcd_cluster_token=cluster_id, listen_port=listen_port)
            try:
                self.local.wipe()
                self.local.write_credentials(ca_cert=root.cert_pem, node_cert=cert, node_key=key_request.key_pem,
                                             ca_key=root.key_pem())
                Membership(self.local.serf_dir, node_id, advertise, state.serf_rpc_auth,
                           role="manager").seed_keyring([_b64(new_key())])
                await self._bring_up(state, peers=[], etcd_new=True)
                now = records.now_text()
                join_tokens = tokens.JoinTokens.create(root.cert_pem)
                cluster = ClusterRecord(
                    id=cluster_id, created_at=now, updated_at=now,
                    spec=records.merge_spec(records.default_spec(), request.get("Spec")),
                    worker_token=str(join_tokens.worker), manager_token=str(join_tokens.manager),
                    root_ca=root.cert_pem.decode(), default_addr_pool=pools or None, subnet_size=subnet_size,
                    data_path_port=data_port)
                await self.kv.cas(records.CLUSTER_KEY, records.encode(cluster), 0)
                await self._put_node(self._own_record(state, availability=str(request.get("Availability") or
                                                                              "active")))
                for hook in self.on_init:
                    await hook()
                self.local.save(state)
            except BaseException:
                await self._bring_down()
                self.local.wipe()
                raise
            self.changed.set()
            log.info("swarm initialized", extra={"node": node_id, "cluster": cluster_id, "advertise": advertise})
            return node_id

    def _own_record(self, state: NodeState, *, availability: str = "active") -> NodeRecord:
        cpus, memory = _resources()
        now = records.now_text()
        return NodeRecord(id=state.node_id, hostname=socket.gethostname(), role=state.role.value,
                          availability=availability, addr=state.advertise_addr,
                          manager_addr=state.advertise_endpoint if state.role is Role.MANAGER else "",
                          created_at=now, updated_at=now, engine_version=__version__,
                          architecture=platform.machine(), nano_cpus=cpus, memory_bytes=memory)

    async def _put_node(self, node: NodeRecord) -> None:
        await self.kv.put(records.node_key(node.id), records.encode(node))

    # -- join (the joiner's side) ----------------------------------------------------------

    async def join(self, request: dict[str, Any]) -> None:
        async with self._lock:
            if self.state is not None:
                raise Unavailable(ALREADY_IN_SWARM)
            interfaces = await asyncio.to_thread(self._interfaces)
            listen_host, listen_port = addrs.parse_listen(str(request.get("ListenAddr") or ""), interfaces)
            remotes = [str(r) for r in request.get("RemoteAddrs") or []]
            if not remotes:
                raise InvalidParameter("at least 1 RemoteAddr is required to join")
            token = tokens.parse(str(request.get("JoinToken") or ""))
            remote = _with_port(remotes[0])
            advertise_text = str(request.get("AdvertiseAddr") or "")
            if advertise_text:
                advertise, _ = addrs.parse_advertise(advertise_text, interfaces, listen_host)
            elif listen_host and listen_host != "0.0.0.0":
                advertise = listen_host
            else:
                advertise = _source_address_towards(remote.rsplit(":", 1)[0])
            data_path = addrs.parse_data_path(str(request.get("DataPathAddr") or ""), interfaces, advertise)
            ca_pem = await port.fetch_root_ca(remote)
            root = pinned_root_ca(token, ca_pem)
            key_request = make_node_key_request()
            cpus, memory = _resources()
            answer = await port.request_join(remote, root.cert_pem, {
                "token": str(token), "csr": key_request.csr_pem.decode(), "hostname": socket.gethostname(),
                "advertise_addr": advertise, "listen_port": listen_port, "engine_version": __version__,
                "architecture": platform.machine(), "nano_cpus": cpus, "memory_bytes": memory,
                "availability": str(request.get("Availability") or "active"),
            })
            role = Role(answer["role"])
            state = NodeState(
                node_id=answer["node_id"], cluster_id=answer["cluster_id"], role=role, advertise_addr=advertise,
                listen_addr=f"{listen_host}:{listen_port}", data_path_addr=data_path,
                data_path_port=int(answer["data_path_port"]), serf_rpc_auth=secrets.token_urlsafe(24),
                remote_managers=tuple(RemoteManager(m["node_id"], m["addr"]) for m in answer["managers"]),
                etcd_cluster_token=answer["cluster_id"], listen_port=listen_port)
            try:
                self.local.wipe()
                self.local.write_credentials(
                    ca_cert=root.cert_pem, node_cert=answer["certificate"].encode(), node_key=key_request.key_pem,
                    ca_key=answer["ca_key"].encode() if answer.get("ca_key") else None)
                Membership(self.local.serf_dir, state.node_id, advertise, state.serf_rpc_auth,
                           role=role.value).seed_keyring(list(answer["gossip_keys"]))
                await self._bring_up(state, peers=list(answer["serf_peers"]),
                                     etcd_initial=answer.get("etcd_initial_cluster"))
                if role is Role.MANAGER:
                    await self._call_managers("promote", {})
                self.local.save(state)
            except BaseException:
                with contextlib.suppress(CnmError):
                    if self.root is not None:
                        await self._call_managers("abandon", {})
                await self._bring_down()
                self.local.wipe()
                raise
            self.changed.set()
            log.info("swarm joined", extra={"node": state.node_id, "role": role.value, "manager": remote})

    async def call_managers(self, call: str, body: dict[str, Any]) -> dict[str, Any]:
        """A call of this node to whichever manager answers (a worker's way to the cluster's state)."""
        return await self._call_managers(call, body)

    async def _call_managers(self, call: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.state is not None
        context = self._client_context()
        addrs_ = [m.addr for m in self.state.remote_managers if m.node_id != self.state.node_id]
        return await port.first_answer(addrs_, lambda addr: port.member_call(addr, context, call, body))


    # -- session: the managers we know, and the role the cluster wants of us ---------------------

    async def _session_loop(self) -> None:
        while True:
            await asyncio.sleep(SESSION_PERIOD)
            try:
                async with self._lock:
                    if self.state is not None:
                        await self._session_once(self.state)
            except CnmError as err:
                log.debug("swarm session failed", extra={"error": err.message})

    async def _session_once(self, state: NodeState) -> None:
        answer: dict[str, Any] | None = None
        if state.role is Role.MANAGER and self._kv is not None:
            with contextlib.suppress(CnmError):
                node, _ = await self._node(state.node_id)
                answer = {"role": node.role, "managers": await self._managers()}
        if answer is None:
            answer = await self._call_managers("session", {})
        managers = tuple(RemoteManager(m["node_id"], m["addr"]) for m in answer["managers"])
        if managers and managers != state.remote_managers:
            state = dataclasses.replace(state, remote_managers=managers)
            self.state = state
            self.local.save(state)
        desired = Role(answer["role"])
        if desired is not state.role:
            await self._change_role(state, desired)

    async def _change_role(self, state: NodeState, role: Role) -> None:
        """Promotion and demotion as the node sees them: a certificate for the new role, etcd started or stopped."""
        log.info("node changing role", extra={"node": state.node_id, "from": state.role.value, "to": role.value})
        if role is Role.WORKER and self._etcd is not None:
            for task in [t for t in self._tasks if t.get_name() == "etcd-supervisor"]:
                task.cancel()
                self._tasks.remove(task)
            if self._etcd_client is not None:
                with contextlib.suppress(Exception):
                    await self._etcd_client.close()
            self._etcd_client, self._kv = None, None
            await self._etcd.stop()
            self._etcd = None
            shutil.rmtree(self.local.etcd_dir, ignore_errors=True)
        key_request = make_node_key_request()
        answer = await self._call_managers("renew", {"csr": key_request.csr_pem.decode(), "role": role.value})
        self.local.write_credentials(ca_cert=self.root_ca().cert_pem, node_cert=answer["certificate"].encode(),
                                     node_key=key_request.key_pem,
                                     ca_key=answer["ca_key"].encode() if answer.get("ca_key") else None)
        state = dataclasses.replace(state, role=role)
        self._load_credentials(state)
        assert self.root is not None and self._port is not None
        self._port.context = server_context(self._node_cert, self._node_key, self.root.cert_pem,
                                            require_client_cert=False)
        await self._port.restart()
        if role is Role.MANAGER:
            shutil.rmtree(self.local.etcd_dir, ignore_errors=True)
            await self._start_etcd(state, answer["etcd_initial_cluster"], False)
            await self._call_managers("promote", {})
        self.state = state
        self.local.save(state)
        self.changed.set()
        if self.membership is not None:
            await self.membership.set_role(role.value)

    # -- what the overlay gets: ClusterEvents ----------------------------------------------------

    @property
    def node_id(self) -> str:
        return self.state.node_id if self.state is not None else ""

    async def publish(self, topic: str, payload: bytes) -> None:
        if self.membership is None:
            raise Unavailable(NOT_IN_SWARM)
        await self.membership.publish(topic, payload)

    def subscribe(self, topic: str, handler: Callable[[ClusterEvent], None]) -> Callable[[], None]:
        return self.hub.subscribe(topic, handler)

    def on_member(self, handler: Callable[[MemberChange], None]) -> Callable[[], None]:
        return self.hub.on_member(handler)

    def members_up(self) -> dict[str, str]:
        return self.membership.members_up() if self.membership is not None else {}

    def provide(self, topic: str, table: Callable[[], Awaitable[bytes]]) -> Callable[[], None]:
        return self.hub.provide(topic, table)

    async def full_sync(self, node_id: str, topic: str) -> bytes:
        if self.membership is None:
            raise Unavailable(NOT_IN_SWARM)
        addr = self.membership.cluster_port_of(node_id)
        if addr is None:
            raise Unavailable(f"node {node_id} is not up")
        answer = await port.member_call(addr, self._client_context(), "sync", {"topic": topic},
                                        server_name=node_id)
        return base64.b64decode(answer["table"])

    async def _serve_sync(self, topic: str) -> dict[str, Any]:
        table = self.hub.providers.get(topic)
        if table is None:
            raise NotFound(f"no table {topic} on this node")
        return {"table": base64.b64encode(await table()).decode()}

    # -- join (the manager's side, on the cluster port) --------------------------------------

    def root_ca(self) -> RootCA:
        if self.root is None:
            raise Unavailable(NO_SWARM_MANAGER)
        return self.root

    async def join_request(self, body: dict[str, Any]) -> dict[str, Any]:
        self.require_manager()
        assert self.state is not None and self.root is not None and self.membership is not None
        cluster, _ = await self._cluster()
        join_tokens = tokens.JoinTokens.from_docker({"Worker": cluster.worker_token, "Manager": cluster.manager_token})
        try:
            role = join_tokens.role_for(str(body.get("token", "")))
        except CnmError:
            raise InvalidParameter(BAD_TOKEN) from None
        node_id = new_node_id()
        advertise = str(body["advertise_addr"])
        certificate = self.root.issue_node_certificate(str(body["csr"]).encode(), node_id, role, cluster.id,
                                                       advertise_ip=advertise)
        now = records.now_text()
        listen_port = int(body.get("listen_port") or addrs.DEFAULT_PORT)
        node = NodeRecord(id=node_id, hostname=str(body.get("hostname", "")), role=role.value,
                          availability=str(body.get("availability") or "active"), addr=advertise,
                          manager_addr=f"{advertise}:{listen_port}" if role is Role.MANAGER else "",
                          created_at=now, updated_at=now, engine_version=str(body.get("engine_version", "")),
                          architecture=str(body.get("architecture", "")), nano_cpus=int(body.get("nano_cpus", 0)),
                          memory_bytes=int(body.get("memory_bytes", 0)))
        answer: dict[str, Any] = {
            "node_id": node_id, "cluster_id": cluster.id, "role": role.value, "certificate": certificate.decode(),
            "data_path_port": cluster.data_path_port, "managers": await self._managers(),
            "serf_peers": [f"{self.state.advertise_addr}:{SERF_PORT}"], "gossip_keys": self.membership.keyring(),
        }
        if role is Role.MANAGER:
            answer["ca_key"] = self.root.key_pem().decode()
            answer["etcd_initial_cluster"] = await self._add_etcd_learner(node)
            self._pending_promotions[node_id] = asyncio.create_task(self._abandon_unpromoted(node_id))
        await self._put_node(node)
        log.info("node joining", extra={"node": node_id, "role": role.value, "addr": advertise})
        return answer

    async def _renew(self, caller: NodeIdentity, body: dict[str, Any]) -> dict[str, Any]:
        """A certificate for the role the cluster now wants of the caller (promotion, demotion)."""
        assert self.root is not None
        node, revision = await self._node(caller.node_id)
        role = Role(str(body.get("role")))
        if role.value != node.role:
            raise Precondition(f"node {node.id} is not to be a {role.value}")
        answer: dict[str, Any] = {"certificate": self.root.issue_node_certificate(
            str(body["csr"]).encode(), node.id, role, caller.cluster_id, advertise_ip=node.addr).decode()}
        if role is Role.MANAGER:
            answer["ca_key"] = self.root.key_pem().decode()
            answer["etcd_initial_cluster"] = await self._add_etcd_learner(node)
            self._pending_promotions[node.id] = asyncio.create_task(self._abandon_unpromoted(node.id))
            node.manager_addr = f"{node.addr}:{addrs.DEFAULT_PORT}"
            await self.kv.cas(records.node_key(node.id), records.encode(node), revision)
        return answer

    async def _add_etcd_learner(self, node: NodeRecord) -> dict[str, str]:
        member = await add_member(self._etcd_client, peer_url(node.addr, ETCD_PEER_PORT), learner=True,
                                  retry_for=15.0)
        node.etcd_member_id = member.id
        return initial_cluster_after_add(await list_members(self._etcd_client), member, node.id)

    async def _abandon_unpromoted(self, node_id: str) -> None:
        """A manager joiner that never asked for promotion leaves no etcd learner behind."""
        await asyncio.sleep(PROMOTE_GRACE)
        self._pending_promotions.pop(node_id, None)
        await self._forget_joiner(node_id)

    async def _forget_joiner(self, node_id: str) -> None:
        try:
            node, revision = await self._node(node_id)
        except NotFound:
            return
        if node.etcd_member_id:
            with contextlib.suppress(CnmError):
                await remove_member(self._etcd_client, node.etcd_member_id)
        with contextlib.suppress(CnmError):
            await self.kv.delete(records.node_key(node_id), expect_revision=revision)
        log.info("unfinished join undone", extra={"node": node_id})

    async def member_call(self, caller: NodeIdentity, call: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.state is None:
            raise Unavailable(NOT_IN_SWARM)
        if caller.cluster_id != self.state.cluster_id:
            raise InvalidParameter("certificate is from another cluster")
        if call == "sync":
            return await self._serve_sync(str(body.get("topic", "")))
        self.require_manager()
        with contextlib.suppress(KeyNotFound):
            await self.kv.get(records.removed_key(caller.node_id))
            raise InvalidParameter("rpc error: code = PermissionDenied desc = node was removed from the swarm")
        if call == "promote":
            node, _ = await self._node(caller.node_id)
            await promote_member(self._etcd_client, node.etcd_member_id)
            pending = self._pending_promotions.pop(caller.node_id, None)
            if pending is not None:
                pending.cancel()
            return {}
        if call == "abandon":
            pending = self._pending_promotions.pop(caller.node_id, None)
            if pending is not None:
                pending.cancel()
            await self._forget_joiner(caller.node_id)
            return {}
        if call == "session":
            node, _ = await self._node(caller.node_id)
            return {"role": node.role, "managers": await self._managers()}
        if call == "renew":
            return await self._renew(caller, body)
        if call in self.manager_calls:
            return await self.manager_calls[call](caller, body)
        raise NotFound(f"no cluster call {call}")

    # -- reading the cluster ---------------------------------------------------------------

    async def _cluster(self) -> tuple[ClusterRecord, int]:
        try:
            entry = await self.kv.get(records.CLUSTER_KEY)
        except KeyNotFound:
            raise Internal("the cluster record is missing from etcd") from None
        return records.decode_cluster(entry.value), entry.mod_revision

    async def cluster(self) -> tuple[ClusterRecord, int]:
        """``GET /swarm``: the cluster record and its version."""
        return await self._cluster()

    async def _node(self, node_id: str) -> tuple[NodeRecord, int]:
        try:
            entry = await self.kv.get(records.node_key(node_id))
        except KeyNotFound:
            raise NotFound(f"node {node_id} not found") from None
        return records.decode_node(entry.value), entry.mod_revision

    async def nodes(self) -> list[tuple[NodeRecord, int]]:
        listing = await self.kv.list(records.NODE_PREFIX)
        return sorted(((records.decode_node(e.value), e.mod_revision) for e in listing.entries),
                      key=lambda pair: pair[0].id)

    async def _managers(self) -> list[dict[str, str]]:
        return [{"node_id": n.id, "addr": n.manager_addr} for n, _ in await self.nodes()
                if n.role == Role.MANAGER.value and n.manager_addr]

    async def find_node(self, reference: str) -> tuple[NodeRecord, int]:
        """dockerd's getNode: exact ID, else hostname, else unique ID prefix."""
        nodes = await self.nodes()
        for node, revision in nodes:
            if node.id == reference:
                return node, revision
        for matches in ([p for p in nodes if p[0].hostname == reference],
                        [p for p in nodes if p[0].id.startswith(reference)]):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidParameter(f"node {reference} is ambiguous ({len(matches)} matches found)")
        raise NotFound(f"node {reference} not found")

    async def status(self) -> dict[str, str]:
        """Node ID -> Serf's view (alive, failed, left, ...); this node is alive as long as it answers."""
        assert self.membership is not None and self.state is not None
        seen = await self.membership.members()
        seen[self.state.node_id] = "alive"
        return seen

    async def leader(self) -> str | None:
        """The node ID of etcd's leader, which ``node ls`` shows as the swarm's Leader."""
        if self._etcd_client is None:
            return None
        try:
            return await leader_name(self._etcd_client)
        except CnmError:
            return None

    # -- changing the cluster ------------------------------------------------------------------

    async def update(self, version: int, spec: dict[str, Any], *, rotate_worker: bool, rotate_manager: bool) -> None:
        cluster, revision = await self._cluster()
        if version != revision:
            raise Internal(OUT_OF_SEQUENCE)
        join_tokens = tokens.JoinTokens.from_docker({"Worker": cluster.worker_token, "Manager": cluster.manager_token})
        if rotate_worker:
            join_tokens = join_tokens.rotate(Role.WORKER)
        if rotate_manager:
            join_tokens = join_tokens.rotate(Role.MANAGER)
        _refuse_autolock(spec)
        cluster.spec = records.merge_spec(cluster.spec, spec)
        cluster.worker_token, cluster.manager_token = str(join_tokens.worker), str(join_tokens.manager)
        cluster.updated_at = records.now_text()
        try:
            await self.kv.cas(records.CLUSTER_KEY, records.encode(cluster), revision)
        except RevisionMismatch:
            raise Internal(OUT_OF_SEQUENCE) from None
        log.info("swarm updated", extra={"rotated_worker_token": rotate_worker,
                                         "rotated_manager_token": rotate_manager})

    async def update_node(self, reference: str, version: int, spec: dict[str, Any]) -> None:
        node, revision = await self.find_node(reference)
        role = spec.get("Role", node.role) or node.role
        availability = spec.get("Availability", node.availability) or node.availability
        if role not in ("worker", "manager"):
            raise InvalidParameter(f'invalid Role: "{role}"')
        if availability not in ("active", "pause", "drain"):
            raise InvalidParameter(f'invalid Availability: "{availability}"')
        if version != revision:
            raise Internal(OUT_OF_SEQUENCE)
        if node.role == "manager" and role == "worker":
            managers = [n for n, _ in await self.nodes() if n.role == "manager"]
            if len(managers) <= 1:
                raise Precondition("attempting to demote the last manager of the swarm")
            member = next((m for m in await list_members(self._etcd_client) if m.name == node.id), None)
            if member is not None:
                try:
                    await remove_member(self._etcd_client, member.id)
                except CnmError as err:
                    raise Precondition(f"can't remove member from the raft: {err.message}") from None
            node.manager_addr = ""
        node.role, node.availability = role, availability
        node.labels = {str(k): str(v) for k, v in (spec.get("Labels") or {}).items()}
        node.updated_at = records.now_text()
        try:
            await self.kv.cas(records.node_key(node.id), records.encode(node), revision)
        except RevisionMismatch:
            raise Internal(OUT_OF_SEQUENCE) from None
        log.info("node updated", extra={"node": node.id, "role": role, "availability": availability})

    async def remove_node(self, reference: str, *, force: bool) -> None:
        node, revision = await self.find_node(reference)
        if node.role == "manager":
            raise Precondition(f"node {node.id} is a cluster manager and is a member of the raft cluster. It must "
                               "be demoted to worker before removal")
        if not force and (await self.status()).get(node.id) == "alive":
            raise Precondition(f"node {node.id} is not down and can't be removed")
        await self.kv.put(records.removed_key(node.id), records.now_text().encode())
        await self.kv.delete(records.node_key(node.id))
        assert self.membership is not None
        await self.membership.remove_member(node.id)
        log.info("node removed", extra={"node": node.id, "force": force})

    async def rotate_gossip_key(self) -> None:
        self.require_manager()
        assert self.membership is not None
        await self.membership.rotate_key()

    # -- leave ---------------------------------------------------------------------------------

    async def leave(self, *, force: bool) -> None:
        async with self._lock:
            if self.state is None:
                raise Unavailable(NOT_IN_SWARM)
            state = self.state
            if state.role is Role.MANAGER:
                await self._leave_as_manager(force)
            await self._bring_down(leave=True)
            self.local.wipe()
            self.changed.set()
            log.info("swarm left", extra={"node": state.node_id, "force": force})

    async def _leave_as_manager(self, force: bool) -> None:
        assert self.state is not None
        try:
            members = await list_members(self._etcd_client)
        except CnmError:
            members = []
        status = await self.status() if self.membership is not None else {}
        total = max(len(members), 1)
        reachable = sum(1 for m in members if status.get(m.name) == "alive") or 1
        if not force:
            if total == 1:
                raise Unavailable(LEAVE_MANAGER + LEAVE_LAST)
            quorum = total // 2 + 1
            text = LEAVE_MANAGER
            if reachable - 1 < quorum:
                text += LEAVE_QUORUM.format(left=reachable - 1, total=total)
            raise Unavailable(text + LEAVE_TAIL)
        own = next((m for m in members if m.name == self.state.node_id), None)
        if own is not None and total > 1:
            try:
                # etcd refuses a removal until the rest have been connected a while: wait that out
                await remove_member(self._etcd_client, own.id, retry_for=15.0)
            except CnmError as err:
                log.warning("etcd member not removed on leave", extra={"node": self.state.node_id,
                                                                       "error": err.message})


def _refuse_autolock(spec: Any, flag: bool = False) -> None:
    """Locked managers need their keys sealed at rest, which this daemon does not do: say so, not pretend."""
    wanted = isinstance(spec, dict) and bool((spec.get("EncryptionConfig") or {}).get("AutoLockManagers"))
    if wanted or flag:
        raise NotImplementedByDriver("autolock is not supported by this daemon: its managers keep their keys "
                                     "under --data-root, readable by root only")


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _with_port(addr: str) -> str:
    parsed = addrs.split_host_port(addr, addrs.DEFAULT_PORT)
    if parsed is None:
        raise InvalidParameter(f"invalid remote address {addr}")
    host, number = parsed
    return f"[{host}]:{number}" if ":" in host else f"{host}:{number}"


def _source_address_towards(host: str) -> str:
    """The local address the kernel would use to reach ``host``: what a joiner advertises when not told."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
        except OSError as err:
            raise Unavailable(f"rpc error: code = Unavailable desc = connection error: desc = \"transport: Error "
                              f"while dialing dial tcp {host}: connect: {err.strerror}\"") from None
        return str(probe.getsockname()[0])


def _check_pool(pool: str, subnet_size: int) -> None:
    import ipaddress

    try:
        network = ipaddress.ip_network(pool, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid base pool {pool!r}") from None
    if subnet_size < network.prefixlen or subnet_size > network.max_prefixlen:
        raise InvalidParameter(f"invalid subnet size {subnet_size} for pool {pool}")
