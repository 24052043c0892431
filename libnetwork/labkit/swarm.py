"""Watch a swarm of lab hosts through Docker's own node routes, the way a
user's ``docker node ls`` sees it.

The labs and benchmarks time what a user waits for (a joining node becoming
``Ready``, a dead one going ``Down``), so they read the manager's
``GET /nodes`` rather than any internal state, and poll it fast: a 20 ms
poll puts the measurement error well under the figures compared (Docker's
kill -> Down is 10-15 s).  Only daemon sockets are taken, so this works for
any daemon that serves the routes, a reference dockerd too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from libnetwork import unixhttp

if TYPE_CHECKING:
    from libnetwork.testing import ClusterHosts, Daemon

CLUSTER_PORT = 2377
POLL_INTERVAL = 0.02


class DockerStep(Protocol):
    def __call__(self, node: str, daemon: Daemon, *argv: str) -> str: ...


class SwarmWaitTimeout(TimeoutError):
    """A node did not reach the awaited state in time; carries the last view of it."""

    def __init__(self, message: str, last: dict[str, Any] | None):
        super().__init__(message)
        self.last = last


def list_nodes(socket: str, timeout: float = 5) -> list[dict[str, Any]]:
    """The manager's ``GET /nodes``; raises RuntimeError with dockerd's message on a refusal."""
    response, body = unixhttp.request(socket, "GET", "/nodes", timeout=timeout)
    if response.status != 200:
        raise RuntimeError(f"GET /nodes: {response.status} {body.decode(errors='replace').strip()}")
    nodes: list[dict[str, Any]] = json.loads(body)
    return nodes


def find_node(nodes: list[dict[str, Any]], *, node_id: str | None = None,
              hostname: str | None = None) -> dict[str, Any] | None:
    """The node with that ID, else the newest with that hostname (a re-joined host gets a new ID)."""
    if node_id is not None:
        for node in nodes:
            if node.get("ID") == node_id:
                return node
    if hostname is not None:
        named = [n for n in nodes if n.get("Description", {}).get("Hostname") == hostname]
        if named:
            return max(named, key=lambda n: n.get("CreatedAt", ""))
    return None


def state_of(node: dict[str, Any] | None) -> str:
    """``Status.State`` (ready, down, unknown, disconnected), "absent" for no node."""
    if node is None:
        return "absent"
    return str(node.get("Status", {}).get("State", "unknown"))


def reachability_of(node: dict[str, Any] | None) -> str:
    """``ManagerStatus.Reachability`` (reachable, unreachable, unknown), "" for a worker or no node."""
    if node is None:
        return ""
    return str((node.get("ManagerStatus") or {}).get("Reachability", ""))


def wait_node(socket: str, test: Callable[[dict[str, Any]], bool], what: str, *, node_id: str | None = None,
              hostname: str | None = None, since: float | None = None, timeout: float = 60,
              interval: float = POLL_INTERVAL) -> tuple[float, dict[str, Any]]:
    """Poll the manager until test(node) holds; (seconds since `since`, the node).

    ``since`` is a time.monotonic() stamp (the kill, the join's start); now by
    default.  A refused or failed poll (a manager busy electing, a socket
    not there yet) is retried until the timeout, as a user would retry.
    """
    start = time.monotonic() if since is None else since
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while True:
        try:
            last = find_node(list_nodes(socket), node_id=node_id, hostname=hostname)
        except (OSError, RuntimeError, ValueError):
            pass
        else:
            if last is not None and test(last):
                return time.monotonic() - start, last
        if time.monotonic() >= deadline:
            who = node_id or hostname
            raise SwarmWaitTimeout(f"{who} not {what} after {timeout:.0f}s (last: {state_of(last)})", last)
        time.sleep(interval)


def wait_node_state(socket: str, state: str, **kwargs: Any) -> tuple[float, dict[str, Any]]:
    """wait_node until ``Status.State`` is state (ready, down, ...)."""
    return wait_node(socket, lambda node: state_of(node) == state, state, **kwargs)


def wait_node_reachability(socket: str, reachability: str, **kwargs: Any) -> tuple[float, dict[str, Any]]:
    """wait_node until a manager's ``ManagerStatus.Reachability`` is reachability."""
    return wait_node(socket, lambda node: reachability_of(node) == reachability, reachability, **kwargs)


def manager_count(n: int) -> int:
    """How many of n hosts the labs make managers: three when there are three, for an etcd quorum that
    survives one loss; one below that, since two managers lose quorum with either."""
    return 3 if n >= 3 else 1


def roles(n: int, managers: int) -> list[str]:
    """Role per host, node1 first: node1 inits (a manager), then managers-1 more, the rest workers."""
    if not 1 <= managers <= n:
        raise ValueError(f"managers must be 1..{n}")
    return ["manager"] * managers + ["worker"] * (n - managers)


def form_swarm(hosts: ClusterHosts, managers: int, run: DockerStep | None = None) -> list[str]:
    """``swarm init`` on node1, the others ``swarm join`` by role (roles()), with the docker CLI.

    ``run(node, daemon, *argv)`` runs one docker command and answers its stdout;
    the labs pass one that prints as it goes, the default is quiet.  Answers the
    roles, node1 first.
    """
    step = run or quiet_docker
    plan = roles(len(hosts.names), managers)
    manager = f"{hosts.ip('node1')}:{CLUSTER_PORT}"
    node1 = hosts["node1"]
    step("node1", node1, "swarm", "init", "--advertise-addr", hosts.ip("node1"))
    wanted = set(plan[1:])
    tokens = {role: step("node1", node1, "swarm", "join-token", "-q", role) for role in sorted(wanted)}
    for name, role in zip(hosts.names[1:], plan[1:], strict=True):
        step(name, hosts[name], "swarm", "join", "--token", tokens[role], "--advertise-addr", hosts.ip(name), manager)
    return plan


def quiet_docker(node: str, daemon: Daemon, *argv: str) -> str:
    """One docker command against a host's daemon; its stdout, RuntimeError with its stderr on a failure."""
    result = daemon.docker(*argv, check=False, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"[{node}] docker {' '.join(argv[:2])}: {result.stderr.strip()}")
    return str(result.stdout).strip()
