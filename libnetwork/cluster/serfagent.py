"""The node's Serf agent as a child process: its config file, its start, its end.

Written for the Debian ``serf`` package (upstream 0.9.4, though ``serf
version`` prints 0.8.2-dev).  The agent rejects unknown config keys, so a key
this version lacks fails the start loudly instead of being ignored.

Encryption goes through a keyring file, never ``encrypt_key``: the agent
refuses both at once, and only the keyring file survives a rotation
(install/use/remove-key rewrite it), so a restarted agent comes back with the
cluster's current key.  The file is seeded with the initial key when absent.

The agent runs in its own session, so it outlives a crashed cnmd; the next
``start`` finds it through the pid file (checked against
/proc/PID/cmdline) and adopts it instead of starting a second one for the
same node.  Restart-on-death is the supervisor's business, built on
``start``, ``is_running`` and ``stop``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from libnetwork.cluster.children import cmdline, is_alive, log_tail, read_pid, send_signal, tied_to_parent, wait_exit
from libnetwork.cluster.serf import SerfClient, SerfError

# Serf refuses limits above 9 KiB, but memberlist gossips a message only if it fits one UDP packet (1400 bytes in
# the LAN profile, less the encryption's overhead); a bigger event is accepted and then travels only with the
# next push-pull, half a minute later.  Measured here (encrypted, LAN): name + payload of 1335 bytes arrive in
# 0.2s, 1345 do not; 2000 took 39s.  The default keeps the agent from accepting what it cannot gossip.
DEFAULT_EVENT_LIMIT = 1280
_RPC_HOST = "127.0.0.1"
_KEY_SIZES = (16, 24, 32)  # AES-128/192/256, what memberlist's keyring takes


class SerfAgentError(SerfError):
    """The agent could not be started or stopped."""


@dataclass(frozen=True)
class SerfAgentConfig:
    node_name: str
    data_dir: str
    bind_addr: str
    rpc_auth: str
    bind_port: int = 7946
    advertise_addr: str | None = None
    advertise_port: int | None = None
    rpc_port: int = 7373
    encrypt_key: bytes | None = None
    """The cluster key the keyring starts with; None for clear-text gossip."""
    tags: Mapping[str, str] = field(default_factory=dict)
    profile: str = "lan"
    user_event_size_limit: int = DEFAULT_EVENT_LIMIT
    query_size_limit: int = DEFAULT_EVENT_LIMIT
    query_response_size_limit: int = DEFAULT_EVENT_LIMIT
    reconnect_interval: str = "10s"
    reconnect_timeout: str = "1h"
    """How long a failed member is retried before it is reaped (member-reap)."""
    tombstone_timeout: str = "1h"
    """How long a member that left is remembered."""
    compression: bool = True
    """Memberlist's LZW over each packet (only a flag can turn it off: the config key is overridden)."""
    log_level: str = "info"
    netns: str | None = None
    """Path of a network namespace to run the agent in (the test hosts); None for cnmd's own."""
    serf_binary: str = "serf"
    die_with_parent: bool = False
    """The agent gets SIGTERM when cnmd dies (even by SIGKILL), so a dead daemon is a failed member."""

    def __post_init__(self) -> None:
        if self.encrypt_key is not None and len(self.encrypt_key) not in _KEY_SIZES:
            raise ValueError(f"a serf key is 16, 24 or 32 bytes, not {len(self.encrypt_key)}")
        if not self.rpc_auth:
            raise ValueError("the serf RPC needs an auth key")


def render_config(config: SerfAgentConfig, keyring_path: str | None, snapshot_path: str) -> dict[str, object]:
    """The agent's JSON config (its key names)."""
    document: dict[str, object] = {
        "node_name": config.node_name,
        "bind": f"{_bracket(config.bind_addr)}:{config.bind_port}",
        "rpc_addr": f"{_RPC_HOST}:{config.rpc_port}",
        "rpc_auth": config.rpc_auth,
        "tags": dict(config.tags),
        "profile": config.profile,
        "user_event_size_limit": config.user_event_size_limit,
        "query_size_limit": config.query_size_limit,
        "query_response_size_limit": config.query_response_size_limit,
        "reconnect_interval": config.reconnect_interval,
        "reconnect_timeout": config.reconnect_timeout,
        "tombstone_timeout": config.tombstone_timeout,
        # A restarted agent rejoins the members it knew and does not replay old events.
        "snapshot_path": snapshot_path,
        "log_level": config.log_level,
    }
    if config.advertise_addr is not None:
        document["advertise"] = f"{_bracket(config.advertise_addr)}:{config.advertise_port or config.bind_port}"
    if keyring_path is not None:
        document["keyring_file"] = keyring_path
    return document


def _bracket(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


class SerfAgent:
    """One node's agent.  Not thread-safe; use from the daemon's event loop."""

    def __init__(self, config: SerfAgentConfig):
        self.config = config
        directory = config.data_dir
        self.config_path = os.path.join(directory, "serf.json")
        self.keyring_path = os.path.join(directory, "keyring.json")
        self.pid_path = os.path.join(directory, "serf.pid")
        self.log_path = os.path.join(directory, "serf.log")
        self.snapshot_path = os.path.join(directory, "snapshot")
        self._process: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None

    @property
    def rpc_address(self) -> tuple[str, int]:
        return _RPC_HOST, self.config.rpc_port

    @property
    def pid(self) -> int | None:
        return self._pid if self.is_running() else None

    async def connect(self, timeout: float = 5.0) -> SerfClient:
        """A new RPC client of this agent."""
        host, port = self.rpc_address
        return await SerfClient.connect(host, port, self.config.rpc_auth, netns=self.config.netns, timeout=timeout)

    async def start(self, timeout: float = 15.0) -> None:
        """Run the agent (or adopt the one a previous run left with the same config) and
        return once its RPC answers."""
        os.makedirs(self.config.data_dir, mode=0o700, exist_ok=True)
        keyring = self._ensure_keyring()
        text = json.dumps(render_config(self.config, keyring, self.snapshot_path), indent=2, sort_keys=True)
        if self.is_running():
            assert self._pid is not None
            same = _read(self.config_path) == text and cmdline(self._pid) == self._agent_argv()
            if self._process is None and not same:
                await self.stop()  # a previous run's agent with other settings
            else:
                await self._wait_ready(timeout)
                return
        _write_private(self.config_path, text)
        # Forking a big daemon takes a while; asyncio's own subprocesses would kill the agent with the loop.
        # The parent-death signal follows the forking thread, so a child tied to cnmd is forked by the loop's.
        self._process = self._spawn() if self.config.die_with_parent else await asyncio.to_thread(self._spawn)
        self._pid = self._process.pid
        _write_private(self.pid_path, f"{self._pid}\n")
        try:
            await self._wait_ready(timeout)
        except BaseException:
            await self.stop()
            raise

    def _agent_argv(self) -> list[str]:
        flags = [] if self.config.compression else ["-disable-compression"]
        return [self.config.serf_binary, "agent", f"-config-file={self.config_path}", *flags]

    def _spawn(self) -> subprocess.Popen[bytes]:
        prefix = ["nsenter", f"--net={self.config.netns}"] if self.config.netns else []
        argv = [*prefix, *self._agent_argv()]
        with open(self.log_path, "ab") as log_file:
            # nsenter execs the agent (no fork for a network namespace), so the pid is the agent's.
            return subprocess.Popen(
                tied_to_parent(argv) if self.config.die_with_parent else argv,
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)

    def is_running(self) -> bool:
        """Whether this node's agent (started here or adopted) is alive."""
        if self._process is not None:
            if self._process.poll() is None:
                return True
            self._process = None
            self._pid = None
        pid = self._pid if self._pid is not None else read_pid(self.pid_path)
        if pid is not None and _is_our_agent(pid, self.config_path):
            self._pid = pid
            return True
        self._pid = None
        return False

    async def stop(self, timeout: float = 5.0, leave: bool = False) -> None:
        """End the agent: SIGTERM (or SIGINT when ``leave``: a graceful leave the others see as
        member-leave rather than member-failed), then SIGKILL after ``timeout``."""
        if self.is_running():
            assert self._pid is not None
            pid = self._pid
            first = signal.SIGINT if leave else signal.SIGTERM
            for sig, wait in ((first, timeout), (signal.SIGKILL, 5.0)):
                send_signal(pid, sig)
                if await wait_exit(self._process, pid, wait):
                    break
            else:
                raise SerfAgentError(f"serf agent {pid} survived SIGKILL")
        self._process, self._pid = None, None
        try:
            os.unlink(self.pid_path)
        except FileNotFoundError:
            pass

    def _ensure_keyring(self) -> str | None:
        """The keyring to encrypt with: seeded from ``encrypt_key``, or as the caller wrote it (a joiner gets the
        cluster's keys, primary first); None for clear-text gossip."""
        if self.config.encrypt_key is not None and not os.path.exists(self.keyring_path):
            _write_private(self.keyring_path, json.dumps([base64.b64encode(self.config.encrypt_key).decode()]))
        return self.keyring_path if os.path.exists(self.keyring_path) else None

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise SerfAgentError(f"serf agent for {self.config.node_name} exited: {log_tail(self.log_path)}")
            try:
                client = await self.connect(timeout=1.0)
            except SerfError as err:
                if time.monotonic() > deadline:
                    raise SerfAgentError(f"serf agent RPC not answering after {timeout:.0f}s: {err}") from None
                await asyncio.sleep(0.05)
                continue
            await client.close()
            return






def _write_private(path: str, text: str) -> None:
    # The config holds the RPC secret and the keyring the cluster key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _read(path: str) -> str | None:
    try:
        with open(path) as source:
            return source.read()
    except OSError:
        return None








def _is_our_agent(pid: int, config_path: str) -> bool:
    """The pid is a live ``serf agent`` with this config file (not a reused pid)."""
    argv = cmdline(pid) if is_alive(pid) else []
    return (len(argv) >= 3 and os.path.basename(argv[0]) == "serf" and argv[1] == "agent"
            and f"-config-file={config_path}" in argv)





