"""Real packets for the load balancer tests and lab: task servers and clients run inside namespaces.

A task answers every TCP connection and UDP datagram with its own name, so a
client can count who served it; a TCP connection then echoes lines, so a
long-lived one can be checked to still reach the same task.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from collections import Counter

TASK = textwrap.dedent("""
    import socket, sys, threading
    name, port = sys.argv[1], int(sys.argv[2])
    def serve_tcp(conn):
        with conn:
            conn.sendall((name + "\\n").encode())
            for line in conn.makefile("rb"):
                conn.sendall(line)
    def tcp():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen(512)
        ready.set()
        while True:
            threading.Thread(target=serve_tcp, args=(s.accept()[0],), daemon=True).start()
    def udp():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        while True:
            data, peer = s.recvfrom(100)
            s.sendto(name.encode(), peer)
    ready = threading.Event()
    threading.Thread(target=udp, daemon=True).start()
    threading.Thread(target=tcp, daemon=True).start()
    ready.wait()
    print("ready", flush=True)
    sys.stdin.read()
""")

MANY = textwrap.dedent("""
    import json, socket, sys, time
    proto, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 0
    seen, done, start = {}, 0, time.perf_counter()
    while done < count or (seconds and time.perf_counter() - start < seconds):
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_INET, kind)
        s.settimeout(2)
        try:
            if proto == "udp":
                s.sendto(b"hi", (host, port))
                answer = s.recv(100).decode()
            else:
                s.connect((host, port))
                answer = s.makefile().readline().strip()
        except OSError as err:
            answer = "error " + type(err).__name__
        s.close()
        seen[answer] = seen.get(answer, 0) + 1
        done += 1
    print(json.dumps({"seen": seen, "count": done, "seconds": time.perf_counter() - start}))
""")

HOLD = textwrap.dedent("""
    import socket, sys
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    lines = s.makefile("rw")
    print(lines.readline().strip(), flush=True)
    for line in sys.stdin:
        lines.write(line)
        lines.flush()
        print(lines.readline().strip(), flush=True)
""")


def _python(netns_path: str, script: str, *argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(["nsenter", f"--net={netns_path}", sys.executable, "-c", script, *argv],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **kwargs)


@contextlib.contextmanager
def tasks(servers: dict[str, str], port: int = 80):
    """One task server per (name -> netns path), all listening on ``port`` (TCP and UDP)."""
    procs = [_python(path, TASK, name, str(port)) for name, path in servers.items()]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def connections(netns_path: str, host: str, port: int, count: int, proto: str = "tcp",
                seconds: float = 0) -> tuple[Counter, float]:
    """Who answered ``count`` new connections (or as many as fit in ``seconds``), and the time taken."""
    proc = _python(netns_path, MANY, proto, host, str(port), str(count), str(seconds))
    out, _ = proc.communicate(timeout=120 + seconds)
    result = json.loads(out)
    return Counter(result["seen"]), result["count"] / result["seconds"]


class Held:
    """A long-lived TCP connection from a namespace; ``echo`` sends one line and answers the reply."""

    def __init__(self, netns_path: str, host: str, port: int):
        self._proc = _python(netns_path, HOLD, host, str(port))
        assert self._proc.stdout is not None
        self.served_by = self._proc.stdout.readline().strip()

    def echo(self, text: str) -> str:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(text + "\n")
        self._proc.stdin.flush()
        return self._proc.stdout.readline().strip()

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()


# -- the topology ------------------------------------------------------------------------

def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=30)


class LbTopology:
    """A throwaway "node" namespace with bridge ``br0`` (``<subnet>.1/24``, forwarding on),
    ``count`` task namespaces on veths at ``<subnet>.11`` onwards, and a client at ``<subnet>.100``;
    the VIP is ``<subnet>.250``, a /32 on the bridge so the node answers ARP for it as swarm's
    load balancer endpoint does.  ``remove`` deletes every namespace, even half made."""

    def __init__(self, prefix: str, count: int = 4, subnet: str = "10.77.0"):
        self.prefix, self.subnet = prefix, subnet
        self.node = f"{prefix}-node"
        self.vip = f"{subnet}.250"
        self.names: list[str] = []
        self.tasks: dict[str, str] = {}      # task address -> netns path
        try:
            self._build(count)
        except BaseException:
            self.remove()
            raise

    def _netns(self, name: str) -> str:
        _ip("netns", "add", name)
        self.names.append(name)
        return f"/run/netns/{name}"

    def _attach(self, name: str, veth: str, address: str) -> str:
        path = self._netns(name)
        _ip("-n", self.node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        _ip("-n", self.node, "link", "set", veth, "master", "br0", "up")
        _ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "route", "add", "default", "via", f"{self.subnet}.1")
        return path

    def _build(self, count: int) -> None:
        self.node_path = self._netns(self.node)
        _ip("-n", self.node, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.node, "addr", "add", f"{self.subnet}.1/24", "dev", "br0")
        _ip("-n", self.node, "addr", "add", f"{self.vip}/32", "dev", "br0")
        _ip("-n", self.node, "link", "set", "br0", "up")
        _ip("-n", self.node, "link", "set", "lo", "up")
        subprocess.run(["nsenter", f"--net={self.node_path}", "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        for index in range(count):
            address = f"{self.subnet}.{11 + index}"
            self.tasks[address] = self._attach(f"{self.prefix}-t{index}", f"vt{index}", address)
        self.client = self._attach(f"{self.prefix}-c", "vc", f"{self.subnet}.100")

    def remove(self) -> None:
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)
        self.names.clear()
