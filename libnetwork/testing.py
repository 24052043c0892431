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
from dataclasses import dataclass, field

import pytest

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
    """A running cnmd in its own host namespace."""

    name: str
    root: str
    netns_path: str
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen | None = None
    log_path: str = ""
    env: dict[str, str] = field(default_factory=dict)

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

    def start(self, *extra: str, wait: float = 20) -> None:
        self.log_path = os.path.join(self.root, "cnmd.log")
        log = open(self.log_path, "a")
        os.makedirs(self.plugin_dir, exist_ok=True)
        argv = ["nsenter", f"--net={self.netns_path}", "cnmd", "--data-root", self.data_root,
                "--exec-root", self.exec_root, "--plugin-dir", self.plugin_dir, "--log-level", "debug",
                *self.extra_args, *extra]
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
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

    def docker(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": os.path.join(self.root, "docker-config")}
        result = subprocess.run(["docker", *argv], capture_output=True, text=True, env=env, timeout=timeout)
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

    def cleanup(self) -> None:
        """Remove every kernel object this daemon made: its namespaces and their mounts."""
        self.stop()
        netns_dir = os.path.join(self.exec_root, "netns")
        if os.path.isdir(netns_dir):
            for entry in os.listdir(netns_dir):
                path = os.path.join(netns_dir, entry)
                subprocess.run(["umount", "-l", path], check=False, stderr=subprocess.DEVNULL)
            subprocess.run(["umount", "-l", netns_dir], check=False, stderr=subprocess.DEVNULL)
        delete_netns(self.name)
        shutil.rmtree(self.root, ignore_errors=True)


def new_daemon(*extra_args: str) -> Daemon:
    require_root()
    name = f"cnmt-{uuid.uuid4().hex[:8]}"
    root = tempfile.mkdtemp(prefix=f"{name}-")
    daemon = Daemon(name=name, root=root, netns_path=add_netns(name), extra_args=extra_args)
    # Loopback up in the fake host, as on a real one.
    run_in(daemon.netns_path, "ip", "link", "set", "lo", "up")
    return daemon


@contextlib.contextmanager
def running_daemon(*extra_args: str):
    """A started daemon in a throwaway host namespace, removed with all it made on exit."""
    daemon = new_daemon(*extra_args)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


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
