"""Overlay networks on lab hosts, looked at from outside as a user would.

The labs, the overlay benchmark and their smoke tests share these: create an
attachable overlay network on a manager with the docker CLI, a sandbox on any
host with ``cnm sandbox create``, then look at the result only through what a
user can see: packets between sandboxes (ping, a TCP exchange), the embedded
DNS at 127.0.0.11 inside a sandbox, and the static entries on ``vxlan0`` in a
host's overlay namespace (``<exec-root>/overlay/<network ID[:12]>``).

Every probe is one short process run in a namespace with nsenter; none
changes anything, so a probe can be repeated in a polling loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from libnetwork import unixhttp

if TYPE_CHECKING:
    from libnetwork.testing import Daemon

# One A query to the embedded DNS, from inside a sandbox: prints the answers as a JSON list
# ([] for NXDOMAIN or an empty answer, null for none in time).
DNS_QUERY = textwrap.dedent("""
    import json, socket, sys
    from dnslib import DNSRecord
    name, timeout = sys.argv[1], float(sys.argv[2])
    try:
        reply = DNSRecord.parse(DNSRecord.question(name, "A").send("127.0.0.11", 53, timeout=timeout))
        print(json.dumps([str(rr.rdata) for rr in reply.rr]))
    except (OSError, socket.timeout):
        print("null")
""")

# Ask the embedded DNS for a name every interval until an address is among the answers ("present")
# or not ("absent": NXDOMAIN, other addresses, or no answer in time: a name the resolver does not
# hold is forwarded to upstreams the lab hosts cannot reach, so each query waits `wait` seconds at
# most: short when awaiting "present", as unanswered queries set the resolution; longer when awaiting
# "absent", where a slow answer must not pass for none).  Prints the time.monotonic() stamp (one clock
# for every process of the machine) at which the deciding query was sent.
DNS_WATCH = textwrap.dedent("""
    import socket, sys, time
    from dnslib import DNSRecord
    name, ip, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    interval, wait, timeout = (float(arg) for arg in sys.argv[4:7])
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sent = time.monotonic()
        try:
            reply = DNSRecord.parse(DNSRecord.question(name, "A").send("127.0.0.11", 53, timeout=wait))
            present = ip in [str(rr.rdata) for rr in reply.rr]
        except (OSError, socket.timeout):
            present = False
        if present == (mode == "present"):
            print(sent, flush=True)
            sys.exit(0)
        time.sleep(interval)
    sys.exit(1)
""")

# A TCP server for one connection: answers "hello <peer address> from <its hostname arg>" and exits.
TCP_SERVER = textwrap.dedent("""
    import socket, sys
    s = socket.create_server(("0.0.0.0", int(sys.argv[1])))
    print("ready", flush=True)
    conn, peer = s.accept()
    conn.sendall(f"hello {peer[0]}, this is {sys.argv[2]}".encode())
    conn.close()
""")
TCP_CLIENT = ("import socket, sys; c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3); "
              "print(c.recv(200).decode())")


@dataclass(frozen=True)
class Sandbox:
    """A sandbox with an endpoint on an overlay network, as its host's daemon reports it."""

    node: str
    name: str
    network: str
    netns: str
    ip: str
    mac: str


def run_in(netns: str, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """A command in a namespace (nsenter keeps /sys as it is); never raises on a non-zero exit."""
    return subprocess.run(["nsenter", f"--net={netns}", *argv], check=False, capture_output=True, text=True,
                          timeout=timeout)


def create_network(manager: Daemon, name: str) -> str:
    """``docker network create -d overlay --attachable NAME`` on a manager; the network's ID."""
    result = manager.docker("network", "create", "-d", "overlay", "--attachable", name, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"docker network create {name}: {result.stderr.strip()}")
    return str(result.stdout).strip()


def create_sandbox(daemon: Daemon, node: str, name: str, network: str) -> Sandbox:
    """``cnm sandbox create --name NAME --network NETWORK`` on a host, then what it got on that network."""
    result = daemon.cnm("sandbox", "create", "--name", name, "--network", network, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"[{node}] cnm sandbox create {name}: {result.stderr.strip()}")
    return inspect_sandbox(daemon, node, name, network)


def inspect_sandbox(daemon: Daemon, node: str, name: str, network: str) -> Sandbox:
    """The sandbox's namespace and its address and MAC on network, by one request to the daemon's socket
    (no CLI process: the benchmark reads it right after a connect, inside the time it measures)."""
    response, body = unixhttp.request(daemon.socket, "GET", f"/containers/{name}/json", timeout=10)
    if response.status != 200:
        raise RuntimeError(f"[{node}] inspect {name}: {response.status} {body.decode(errors='replace').strip()}")
    settings = json.loads(body)["NetworkSettings"]
    endpoint = settings["Networks"][network]
    return Sandbox(node, name, network, settings["SandboxKey"], endpoint["IPAddress"], endpoint["MacAddress"])


def remove_sandbox(daemon: Daemon, name: str) -> None:
    daemon.cnm("sandbox", "rm", "-f", name, check=False)


def overlay_netns(daemon: Daemon, nid: str) -> str:
    """The host's namespace for the network (br0, vxlan0), there while the host has an endpoint on it."""
    return os.path.join(daemon.exec_root, "overlay", nid[:12])


def pings(netns: str, ip: str, wait: float = 1.0) -> bool:
    """One ping from a namespace; wait is ping's -W (fractions of a second work)."""
    return run_in(netns, "ping", "-c1", "-q", f"-W{wait:g}", ip, timeout=wait + 10).returncode == 0


def resolve(netns: str, name: str, timeout: float = 1.0) -> list[str] | None:
    """The embedded DNS's A answers for name, asked from inside a sandbox's namespace; None: no answer."""
    result = run_in(netns, sys.executable, "-c", DNS_QUERY, name, str(timeout), timeout=timeout + 10)
    if result.returncode != 0:
        raise RuntimeError(f"DNS query in {netns}: {result.stderr.strip()}")
    answers: list[str] | None = json.loads(result.stdout)
    return answers


def vxlan_fdb(netns: str) -> dict[str, str]:
    """The static FDB entries of vxlan0 in an overlay namespace: MAC -> remote VTEP ({} when there is none)."""
    result = run_in(netns, "bridge", "-j", "fdb", "show", "dev", "vxlan0")
    if result.returncode != 0 or not result.stdout.strip():
        return {}
    return {entry["mac"]: entry["dst"] for entry in json.loads(result.stdout) if "dst" in entry}


def tcp_exchange(server: Sandbox, client: Sandbox, port: int = 8080) -> tuple[str, str]:
    """A TCP conversation: a one-connection server in server's namespace, a client in client's.
    Answers (the client's command line as shown to a user, what the client received)."""
    argv = ["nsenter", f"--net={server.netns}", sys.executable, "-c", TCP_SERVER, str(port), server.name]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the TCP server in {server.name} did not start")
        result = run_in(client.netns, sys.executable, "-c", TCP_CLIENT, server.ip, str(port), timeout=10)
        received = result.stdout.strip() or f"error: {result.stderr.strip().splitlines()[-1:]}"
        return f"python3 -c '<connect to {server.ip}:{port}, print what comes>'", received
    finally:
        proc.kill()
        proc.wait()


def start_dns_watch(netns: str, name: str, ip: str, present: bool, interval: float = 0.05,
                    timeout: float = 60) -> subprocess.Popen[str]:
    """A process in a sandbox asking the embedded DNS for name until ip is (present) or is not among
    the answers; running (and asking) when this returns.  finish_dns_watch answers when it saw that."""
    mode, wait = ("present", 0.1) if present else ("absent", 0.5)
    argv = ["nsenter", f"--net={netns}", sys.executable, "-c", DNS_WATCH, name, ip, mode, str(interval), str(wait),
            str(timeout)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"the DNS watch in {netns} did not start: {err.strip()}")
    return proc


@contextlib.contextmanager
def dns_watch(netns: str, name: str, ip: str, present: bool, timeout: float = 60) -> Iterator[subprocess.Popen[str]]:
    """start_dns_watch, and the watch ended on the way out if it is still asking (an error, Ctrl-C)."""
    proc = start_dns_watch(netns, name, ip, present, timeout=timeout)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def finish_dns_watch(proc: subprocess.Popen[str], timeout: float = 90) -> float:
    """The time.monotonic() stamp of the query that showed the awaited state; TimeoutError if none did."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TimeoutError("the DNS watch did not finish") from None
    if proc.returncode != 0:
        raise TimeoutError(f"the DNS watch gave up before the awaited answer {err.strip()}")
    return float(out.strip())


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.05,
             since: float | None = None) -> float:
    """Poll check until it holds; seconds from ``since`` (a time.monotonic() stamp, default now).
    TimeoutError after timeout seconds, naming the check by its docstring."""
    start = time.monotonic() if since is None else since
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"not within {timeout:g} s: {check.__doc__ or check}")
        time.sleep(interval)
    return time.monotonic() - start
