"""Pytest fixtures for tests that need a real kernel: a daemon in a throwaway host.

Shipped in the package so that driver and plugin authors can test against a
real daemon the same way this project does::

    # conftest.py
    pytest_plugins = ["libnetwork.testing"]

    def test_my_driver(cnmd):
        cnmd.cnm("network", "create", "-d", "mine", "n1")

``cnmd`` starts the daemon inside a fresh network namespace that stands for
the host, with its own data and exec roots, and afterwards removes the
namespace and every sandbox namespace the daemon made, so nothing touches the
machine's own interfaces, routes or firewall.

Several hosts, for cluster tests: :func:`cluster_hosts` builds the routed
underlay of :mod:`libnetwork.labkit.underlay` and starts one daemon on each
node, with the node's name as its hostname (what ``docker node ls`` shows)::

    with cluster_hosts(3) as hosts:
        node1, node2, node3 = hosts.daemons
        node1.docker("swarm", "init", "--advertise-addr", hosts.ip("node1"))

or the ``cluster3`` fixture, the same three hosts shared by a module.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from libnetwork.labkit.reaper import end_processes, pids_in_netns, pids_naming
from libnetwork.labkit.underlay import Underlay

NETNS_DIR = "/run/netns"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")


def add_netns(name: str) -> str:
    subprocess.run(["ip", "netns", "add", name], check=True)
    return os.path.join(NETNS_DIR, name)


def delete_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "delete", name], check=False, stderr=subprocess.DEVNULL)


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def wire_hosts(prefix: str, count: int, subnet: str = "10.213.0") -> tuple[str, list[tuple[str, str, str]]]:
    """A bridge namespace ``<prefix>-br`` and ``count`` "hosts" ``<prefix>-n<i>``, each with eth0 on the
    bridge at ``<subnet>.<i>``/24: a LAN of machines for cluster tests.  Answers the bridge's name and
    (name, netns path, ip) of each host; ``unwire_hosts`` removes them, even half made."""
    bridge = f"{prefix}-br"
    add_netns(bridge)
    _sh("ip", "-n", bridge, "link", "add", "br0", "type", "bridge")
    _sh("ip", "-n", bridge, "link", "set", "br0", "up")
    hosts = []
    for index in range(1, count + 1):
        name = f"n{index}"
        path = add_netns(f"{prefix}-{name}")
        ip = f"{subnet}.{index}"
        _sh("ip", "-n", bridge, "link", "add", f"v{index}", "type", "veth", "peer", "name", "eth0",
            "netns", f"{prefix}-{name}")
        _sh("ip", "-n", bridge, "link", "set", f"v{index}", "master", "br0", "up")
        _sh("ip", "-n", f"{prefix}-{name}", "addr", "add", f"{ip}/24", "dev", "eth0")
        _sh("ip", "-n", f"{prefix}-{name}", "link", "set", "eth0", "up")
        _sh("ip", "-n", f"{prefix}-{name}", "link", "set", "lo", "up")
        hosts.append((name, path, ip))
    return bridge, hosts


def unwire_hosts(prefix: str, count: int) -> None:
    for index in range(1, count + 1):
        delete_netns(f"{prefix}-n{index}")
    delete_netns(f"{prefix}-br")


def run_in(netns_path: str, *argv: str, check: bool = True, timeout: float = 30,
           **kwargs) -> subprocess.CompletedProcess:
    """Run a command in a namespace (nsenter, which keeps /sys as it is)."""
    return subprocess.run(["nsenter", f"--net={netns_path}", *argv], check=check, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


@dataclass
class Daemon:
    """A running cnmd in its own host namespace.

    ``hostname``: start cnmd in a UTS namespace of its own with that hostname
    (a swarm node's name is its host's); None keeps the machine's.
    ``owns_netns``: cleanup deletes the host namespace; False when someone else
    made it (an underlay node), who deletes it.
    """

    name: str
    root: str
    netns_path: str
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen | None = None
    log_path: str = ""
    env: dict[str, str] = field(default_factory=dict)
    hostname: str | None = None
    owns_netns: bool = True

    @property
    def data_root(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def exec_root(self) -> str:
        return os.path.join(self.root, "exec")

    @property
    def socket(self) -> str:
        return os.path.join(self.exec_root, "cnm.sock")

    @property
    def plugin_dir(self) -> str:
        """The daemon's only plugin directory: tests never see the machine's /run/docker/plugins."""
        return os.path.join(self.root, "plugins")

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        """cnmd's own pid (nsenter, unshare and sh all exec, none forks), None when not running."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    def start(self, *extra: str, wait: float = 20) -> None:
        self.spawn(*extra)
        self.wait_ready(wait)

    def spawn(self, *extra: str) -> None:
        """Start cnmd without waiting for it, so several hosts boot side by side."""
        self.log_path = os.path.join(self.root, "cnmd.log")
        os.makedirs(self.plugin_dir, exist_ok=True)
        argv = ["nsenter", f"--net={self.netns_path}"]
        if self.hostname is not None:
            # sh sets the hostname inside the new UTS namespace, then execs: the pid stays cnmd's.
            argv += ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', self.hostname]
        argv += ["cnmd", "--data-root", self.data_root, "--exec-root", self.exec_root,
                 "--plugin-dir", self.plugin_dir, "--log-level", "debug", *self.extra_args, *extra]
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                            env={**os.environ, **self.env} if self.env else None)

    def wait_ready(self, wait: float = 20) -> None:
        """Until the API answers; raises with the log when cnmd exits or stays silent."""
        assert self.process is not None, "spawn() first"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cnmd exited with {self.process.returncode}:\n{self.log()}")
            if os.path.exists(self.socket) and self.cnm("version", check=False).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"cnmd did not answer within {wait}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        try:
            with open(self.log_path) as handle:
                return handle.read()
        except OSError:
            return ""

    def cnm(self, *argv: str, check: bool = True, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(["cnm", "-H", self.host, *argv], capture_output=True, text=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"cnm {' '.join(argv)} failed ({result.returncode}): {result.stderr}")
        return result

    def docker_env(self) -> dict[str, str]:
        """The environment that points the docker CLI at this daemon (for a CLI run in the background)."""
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": os.path.join(self.root, "docker-config")}

    def docker(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(["docker", *argv], capture_output=True, text=True, env=self.docker_env(),
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(argv)} failed ({result.returncode}): {result.stderr}")
        return result

    def inspect(self, kind: str, name: str) -> dict:
        return json.loads(self.cnm(kind, "inspect", name).stdout)[0]

    def sandbox_netns(self, name: str) -> str:
        return self.inspect("sandbox", name)["SandboxKey"]

    def run_in_sandbox(self, name: str, *argv: str, check: bool = True,
                       timeout: float = 30) -> subprocess.CompletedProcess:
        return run_in(self.sandbox_netns(name), *argv, check=check, timeout=timeout)

    def run_on_host(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return run_in(self.netns_path, *argv, check=check, timeout=timeout)

    def leftover_pids(self) -> list[int]:
        """Processes still running for this host: in its namespace, or naming its root (cnmd's children)."""
        found = set(pids_naming(self.root))
        if self.owns_netns:
            found.update(pids_in_netns(self.netns_path))
        return sorted(found)

    def end_leftovers(self) -> list[int]:
        """End the children a stopped or killed cnmd left behind (Serf, etcd); the pids that needed SIGKILL."""
        return end_processes(self.leftover_pids())

    def cleanup(self) -> None:
        """Remove every kernel object and process this daemon made: its namespaces, mounts and children."""
        self.stop()
        self.end_leftovers()
        # Sandboxes' namespaces, and the overlay driver's one per network.
        for netns_dir in (os.path.join(self.exec_root, "netns"), os.path.join(self.exec_root, "overlay")):
            if os.path.isdir(netns_dir):
                for entry in os.listdir(netns_dir):
                    path = os.path.join(netns_dir, entry)
                    subprocess.run(["umount", "-l", path], check=False, stderr=subprocess.DEVNULL)
                subprocess.run(["umount", "-l", netns_dir], check=False, stderr=subprocess.DEVNULL)
        if self.owns_netns:
            delete_netns(self.name)
        keep = os.environ.get("CNM_TEST_LOGS")
        if keep and os.path.exists(self.log_path):
            # A failure in CI is chased from the daemons' logs, which otherwise go with the root.
            os.makedirs(keep, exist_ok=True)
            shutil.copy(self.log_path, os.path.join(keep, f"{self.name}-{self.hostname or 'host'}.log"))
        shutil.rmtree(self.root, ignore_errors=True)


def new_daemon(*extra_args: str, netns: str | None = None, hostname: str | None = None) -> Daemon:
    """A daemon, not yet started, in a fresh host namespace, or in the existing one named netns.

    A namespace given by name stays its creator's to delete (the underlay's);
    a fresh one is the daemon's and goes with its cleanup.
    """
    require_root()
    if netns is None:
        name = f"cnmt-{uuid.uuid4().hex[:8]}"
        netns_path, owns = add_netns(name), True
        # Loopback up in the fake host, as on a real one.
        run_in(netns_path, "ip", "link", "set", "lo", "up")
    else:
        name, netns_path, owns = netns, os.path.join(NETNS_DIR, netns), False
    root = tempfile.mkdtemp(prefix=f"{name}-")
    return Daemon(name=name, root=root, netns_path=netns_path, extra_args=extra_args, hostname=hostname,
                  owns_netns=owns)


@contextlib.contextmanager
def running_daemon(*extra_args: str):
    """A started daemon in a throwaway host namespace, removed with all it made on exit."""
    daemon = new_daemon(*extra_args)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


@dataclass
class ClusterHosts:
    """The hosts of :func:`cluster_hosts`: the underlay and one daemon per node, in node order."""

    underlay: Underlay
    daemons: list[Daemon]

    def __getitem__(self, name: str) -> Daemon:
        """The daemon of a node, by its name ("node2")."""
        return self.daemons[self.underlay.hosts.index(self.underlay.host(name))]

    def ip(self, name: str) -> str:
        """The node's underlay address, the one to advertise and join."""
        return self.underlay.ip(name)

    @property
    def names(self) -> list[str]:
        return [host.name for host in self.underlay.hosts]


@contextlib.contextmanager
def cluster_hosts(n: int = 3, *extra_args: str, prefix: str | None = None, wait: float = 60,
                  verbose: bool = False) -> Iterator[ClusterHosts]:
    """n hosts on a routed underlay, each running a cnmd with hostname node1..nodeN.

    The daemons boot side by side.  On exit, also after a failure half way,
    everything goes: the daemons, whatever they left running (a killed
    cnmd's Serf and etcd children, found by namespace and by data root), their
    sandbox namespaces, then the underlay's namespaces.  The prefix is random
    by default so concurrent runs never share a namespace name.
    """
    require_root()
    underlay = Underlay(n, prefix or f"cl{uuid.uuid4().hex[:6]}-")
    daemons: list[Daemon] = []
    try:
        underlay.up(verbose=verbose)
        for host in underlay.hosts:
            daemons.append(new_daemon(*extra_args, netns=host.netns, hostname=host.name))
        for daemon in daemons:
            daemon.spawn()
        for daemon in daemons:
            daemon.wait_ready(wait)
        yield ClusterHosts(underlay, daemons)
    finally:
        for daemon in daemons:
            daemon.cleanup()
        for host in underlay.hosts:
            # The namespace is the underlay's, so ending what still runs in it is too.
            end_processes(pids_in_netns(host.netns_path))
        underlay.down(verbose=verbose)


@pytest.fixture(scope="module")
def cluster3():
    """Three hosts node1..node3 with a daemon each, shared by the tests of one module."""
    with cluster_hosts(3) as hosts:
        yield hosts


@pytest.fixture(scope="module")
def cnmd():
    """A daemon shared by the tests of one module, in its own throwaway host namespace."""
    with running_daemon() as daemon:
        yield daemon


@pytest.fixture
def fresh_cnmd():
    """A daemon for one test (restart and crash tests stop and start it)."""
    with running_daemon() as daemon:
        yield daemon


@pytest.fixture
def namespace():
    """Factory of extra throwaway namespaces ("outside" hosts, adopted sandboxes)."""
    made = []

    def make(prefix: str = "cnmx") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        made.append(name)
        return add_netns(name)

    yield make
    for name in made:
        delete_netns(name)


# -- etcd members for tests ---------------------------------------------------------------

def write_node_tls(root_ca, directory: str, node_id: str, ip: str, role=None) -> tuple[str, str, str]:
    """PEM files (ca, cert, key) for a node of ``root_ca`` (a ``cluster.ca.RootCA`` that can sign), as a
    swarm node holds them; the IP SAN is ``ip``, which etcd matches against a peer's source address."""
    from pathlib import Path

    from libnetwork.cluster.ca import make_node_key_request, write_pem
    from libnetwork.cluster.ids import Role

    os.makedirs(directory, exist_ok=True)
    request = make_node_key_request()
    cert = root_ca.issue_node_certificate(request.csr_pem, node_id, role or Role.MANAGER, "testcluster",
                                          advertise_ip=ip)
    paths = tuple(os.path.join(directory, name) for name in ("ca.pem", "node.pem", "node-key.pem"))
    write_pem(Path(paths[0]), root_ca.cert_pem, private=False)
    write_pem(Path(paths[1]), cert, private=False)
    write_pem(Path(paths[2]), request.key_pem, private=True)
    return paths[0], paths[1], paths[2]


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def local_etcd(directory: str):
    """One etcd member on this namespace's loopback (free ports, peers on 127.0.0.1 too), for tests of
    what runs on etcd rather than of etcd's membership; killed on the way out, whatever happened."""
    import asyncio

    from libnetwork.cluster.ca import RootCA
    from libnetwork.cluster.etcd import EtcdConfig, EtcdMember, peer_url

    if shutil.which("etcd") is None:
        pytest.skip("needs the etcd binary (Debian's etcd-server)")
    ca_file, cert_file, key_file = write_node_tls(RootCA.create(), os.path.join(directory, "tls"), "etcd1",
                                                  "127.0.0.1")
    peer_port = free_tcp_port()
    config = EtcdConfig(name="etcd1", data_dir=os.path.join(directory, "etcd"), advertise_ip="127.0.0.1",
                        ca_file=ca_file, cert_file=cert_file, key_file=key_file,
                        initial_cluster={"etcd1": peer_url("127.0.0.1", peer_port)},
                        peer_port=peer_port, client_port=free_tcp_port())
    member = EtcdMember(config)
    try:
        asyncio.run(member.start())
        yield member
    finally:
        asyncio.run(member.stop(timeout=2))
