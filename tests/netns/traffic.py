"""Real packets for the firewall tests: tiny servers and clients run inside namespaces.

A server answers every TCP connection or UDP datagram with the address it
saw the peer come from, so a test can tell masquerade from a direct path.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap

from libnetwork.testing import add_netns, run_in

SERVER = textwrap.dedent("""
    import socket, sys
    proto, port = sys.argv[1], int(sys.argv[2])
    family = socket.AF_INET6 if len(sys.argv) > 3 else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    if proto == "tcp":
        s.listen(64)
    print("ready", flush=True)
    while True:
        if proto == "tcp":
            conn, peer = s.accept()
            conn.sendall(("from " + peer[0]).encode())
            conn.close()
        else:
            data, peer = s.recvfrom(100)
            s.sendto(("from " + peer[0]).encode(), peer)
""")

CLIENT = textwrap.dedent("""
    import socket, sys
    proto, host, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    s = socket.socket(family, kind)
    s.settimeout(timeout)
    try:
        if proto == "tcp":
            s.connect((host, port))
        else:
            s.sendto(b"hi", (host, port))
        print(s.recv(100).decode())
    except OSError as err:
        print("error " + type(err).__name__)
""")


@contextlib.contextmanager
def server(netns_path: str, proto: str = "tcp", port: int = 80, ipv6: bool = False):
    argv = ["nsenter", f"--net={netns_path}", sys.executable, "-c", SERVER, proto, str(port)]
    proc = subprocess.Popen(argv + (["6"] if ipv6 else []), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def request(netns_path: str, host: str, port: int, proto: str = "tcp", timeout: float = 2.0) -> str:
    """The server's answer ("from <peer address>"), or "error <kind>"."""
    result = run_in(netns_path, sys.executable, "-c", CLIENT, proto, host, str(port), str(timeout),
                    timeout=timeout + 10)
    return result.stdout.strip()


def pings(netns_path: str, address: str, count: int = 1, wait: int = 1) -> bool:
    return run_in(netns_path, "ping", "-c", str(count), "-W", str(wait), address, check=False).returncode == 0


def attach_outside(host_path: str, host_name: str, outside_name: str,
                   host_address: str = "192.0.2.1/24", outside_address: str = "192.0.2.2/24") -> str:
    """An "outside" host (or the upstream internet) on a link to the fake host.

    Both ends are throwaway namespaces; answers the outside namespace's path.
    """
    outside_path = add_netns(outside_name)
    subprocess.run(["ip", "link", "add", "uplink0", "netns", host_name, "type", "veth",
                    "peer", "name", "eth0", "netns", outside_name], check=True)
    run_in(host_path, "ip", "addr", "add", host_address, "dev", "uplink0")
    run_in(host_path, "ip", "link", "set", "uplink0", "up")
    run_in(outside_path, "ip", "addr", "add", outside_address, "dev", "eth0")
    run_in(outside_path, "ip", "link", "set", "eth0", "up")
    run_in(outside_path, "ip", "link", "set", "lo", "up")
    return outside_path


def ruleset(host_path: str) -> dict:
    """Our tables' JSON, without handles (which change with every rebuild)."""
    import json

    listing = json.loads(run_in(host_path, "nft", "-j", "list", "ruleset").stdout)["nftables"]
    for item in listing:
        for body in item.values():
            if isinstance(body, dict):
                body.pop("handle", None)
    return {"nftables": [i for i in listing if "metainfo" not in i]}
