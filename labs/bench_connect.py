#!/usr/bin/env python3
"""Connect and disconnect latency: cnmd's API and the in-process Controller, against the CNI
bridge plugin and netavark doing the same work, in the same run.

Each subject runs in its own throwaway "host" namespace, connecting sandboxes
(namespaces made beforehand, untimed) to one bridge network with outbound
masquerade, one after the other, so the network grows to --count endpoints;
then disconnects them all.  Timed: one connect (API request, Python call,
or plugin exec) and one disconnect.

    sudo python3 labs/bench_connect.py [--count 1000] [--baseline-count 300]

Needs root, cnmd installed (pip install -e .), and Debian's
containernetworking-plugins (/usr/lib/cni/bridge, host-local) and netavark
(/usr/lib/podman/netavark); a missing baseline is reported and skipped.
Nothing touches the machine's own namespace: every namespace is deleted at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from libnetwork.unixhttp import UnixHTTPConnection

CNI_DIR = "/usr/lib/cni"
NETAVARK = "/usr/lib/podman/netavark"
SUBNET, GATEWAY = "10.99.0.0/16", "10.99.0.1"


# -- measurements ------------------------------------------------------------------

def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(connect: list[float], disconnect: list[float]) -> dict:
    buckets = []
    size = max(1, len(connect) // 10)
    for start in range(0, len(connect), size):
        chunk = connect[start:start + size]
        buckets.append([start, statistics.median(chunk)])
    return {
        "n": len(connect),
        "connect_p50": statistics.median(connect), "connect_p99": percentile(connect, 99),
        "disconnect_p50": statistics.median(disconnect), "disconnect_p99": percentile(disconnect, 99),
        "connect_by_size": buckets,
    }


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


# -- subjects (each runs inside its own throwaway host namespace) ------------------

def subject_api(count: int, root: str, network: str = "bench") -> dict:
    """cnmd over its unix socket, one kept-alive HTTP connection, as a client library does.

    ``network`` "bench" is a user-defined network (with its embedded DNS
    resolver in every sandbox); "bridge" is the default one (no resolver).
    """
    sock = os.path.join(root, "exec", "cnm.sock")
    log = open(os.path.join(root, "cnmd.log"), "w")
    daemon = subprocess.Popen(["cnmd", "--data-root", os.path.join(root, "data"), "--exec-root",
                               os.path.join(root, "exec"), "--log-level", "warning"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if time.monotonic() > deadline or daemon.poll() is not None:
                raise SystemExit("cnmd did not start")
            time.sleep(0.05)
        conn = UnixHTTPConnection(sock, timeout=120)

        def call(method: str, path: str, body=None) -> Any:
            data = json.dumps(body).encode() if body is not None else None
            for _ in range(50):
                try:
                    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
                    response = conn.getresponse()
                    break
                except (ConnectionRefusedError, FileNotFoundError):
                    conn.close()
                    time.sleep(0.1)
            payload = response.read()
            if response.status >= 300:
                raise SystemExit(f"{method} {path}: {response.status} {payload[:300]!r}")
            return json.loads(payload) if payload else None

        if network != "bridge":
            call("POST", "/networks/create", {"Name": network, "IPAM": {"Config": [{"Subnet": SUBNET}]}})
        ids = []
        for i in range(count):
            ids.append(call("POST", "/sandboxes/create", {"Name": f"s{i}", "Networks": [{"Network": network}]})["Id"])
            call("POST", f"/networks/{network}/disconnect", {"Container": ids[-1]})
        connect = [timed(call, "POST", f"/networks/{network}/connect", {"Container": sid}) for sid in ids]
        disconnect = [timed(call, "POST", f"/networks/{network}/disconnect", {"Container": sid}) for sid in ids]
        for sid in ids:
            call("DELETE", f"/sandboxes/{sid}")
        return summary(connect, disconnect)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)


def subject_python(count: int, root: str) -> dict:
    """libnetwork.Controller in this process: no HTTP, no daemon."""
    import ipaddress

    from libnetwork import Controller, Settings
    from libnetwork.requests import EndpointRequest, NetworkAttachment, NetworkCreate, SandboxCreate, SubnetRequest

    async def run() -> dict:
        ctl = Controller(Settings(data_root=os.path.join(root, "data"), exec_root=os.path.join(root, "exec")))
        await ctl.start()
        try:
            await ctl.create_network(NetworkCreate(name="bench", subnets=(
                SubnetRequest(subnet=ipaddress.ip_network(SUBNET)),)))
            ids = []
            for i in range(count):
                box = await ctl.create_sandbox(SandboxCreate(name=f"s{i}", networks=(NetworkAttachment("bench"),)))
                await ctl.disconnect("bench", box.id)
                ids.append(box.id)
            connect, disconnect = [], []
            for sid in ids:
                start = time.perf_counter()
                await ctl.connect("bench", sid, EndpointRequest())
                connect.append((time.perf_counter() - start) * 1000)
            for sid in ids:
                start = time.perf_counter()
                await ctl.disconnect("bench", sid)
                disconnect.append((time.perf_counter() - start) * 1000)
            for sid in ids:
                await ctl.delete_sandbox(sid)
            return summary(connect, disconnect)
        finally:
            await ctl.close()

    return asyncio.run(run())


def _namespaces(count: int, prefix: str) -> list[str]:
    names = [f"{prefix}-{i}" for i in range(count)]
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)
    return names


def _drop_namespaces(names: list[str]) -> None:
    for name in names:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def subject_cni(count: int, root: str, masquerade: bool) -> dict:
    """The CNI reference bridge plugin with host-local IPAM, exec'd per call as a runtime does."""
    config = json.dumps({
        "cniVersion": "1.0.0", "name": "bench", "type": "bridge", "bridge": "cni0", "isGateway": True,
        "ipMasq": masquerade,
        "ipam": {"type": "host-local", "subnet": SUBNET, "gateway": GATEWAY,
                 "dataDir": os.path.join(root, "ipam"), "routes": [{"dst": "0.0.0.0/0"}]},
    }).encode()
    prefix = f"bcni{uuid.uuid4().hex[:6]}"
    names = _namespaces(count, prefix)
    try:
        def call(command: str, name: str) -> None:
            env = {"CNI_COMMAND": command, "CNI_CONTAINERID": name, "CNI_NETNS": f"/run/netns/{name}",
                   "CNI_IFNAME": "eth0", "CNI_PATH": CNI_DIR, "PATH": os.environ.get("PATH", "")}
            result = subprocess.run([os.path.join(CNI_DIR, "bridge")], input=config, env=env, capture_output=True)
            if result.returncode != 0:
                raise SystemExit(f"cni bridge {command}: {result.stdout[:300]!r} {result.stderr[:300]!r}")

        connect = [timed(call, "ADD", name) for name in names]
        disconnect = [timed(call, "DEL", name) for name in names]
        return summary(connect, disconnect)
    finally:
        _drop_namespaces(names)


def subject_netavark(count: int, root: str) -> dict:
    """netavark (podman's network tool), exec'd per setup/teardown as podman does."""
    prefix = f"bnav{uuid.uuid4().hex[:6]}"
    names = _namespaces(count, prefix)
    config_dir = os.path.join(root, "netavark")
    os.makedirs(config_dir, exist_ok=True)
    network = {"name": "bench", "id": "b" * 64, "driver": "bridge", "network_interface": "nav0",
               "subnets": [{"subnet": SUBNET, "gateway": GATEWAY}], "ipv6_enabled": False, "internal": False,
               "dns_enabled": False, "ipam_options": {"driver": "host-local"}}
    try:
        def options(i: int, name: str) -> bytes:
            address = f"10.99.{(i + 2) // 256}.{(i + 2) % 256}"
            return json.dumps({"container_id": name, "container_name": name, "port_mappings": None,
                               "networks": {"bench": {"interface_name": "eth0", "static_ips": [address]}},
                               "network_info": {"bench": network}}).encode()

        def call(command: str, i: int, name: str) -> None:
            result = subprocess.run([NETAVARK, "--config", config_dir, command, f"/run/netns/{name}"],
                                    input=options(i, name), capture_output=True)
            if result.returncode != 0:
                raise SystemExit(f"netavark {command}: {result.stderr[:300]!r}")

        connect = [timed(call, "setup", i, name) for i, name in enumerate(names)]
        disconnect = [timed(call, "teardown", i, name) for i, name in enumerate(names)]
        return summary(connect, disconnect)
    finally:
        _drop_namespaces(names)


SUBJECTS = {
    "cnmd API": lambda args, root: subject_api(args.count, root),
    "cnmd API, default bridge": lambda args, root: subject_api(args.count, root, "bridge"),
    "Python API": lambda args, root: subject_python(args.count, root),
    "CNI bridge (ipMasq)": lambda args, root: subject_cni(args.baseline_count, root, True),
    "CNI bridge (no ipMasq)": lambda args, root: subject_cni(args.baseline_count, root, False),
    "netavark": lambda args, root: subject_netavark(args.baseline_count, root),
}


# -- orchestration -------------------------------------------------------------------

def available(name: str) -> str | None:
    if name.startswith("CNI") and not os.access(os.path.join(CNI_DIR, "bridge"), os.X_OK):
        return f"{CNI_DIR}/bridge not found (apt-get install containernetworking-plugins)"
    if name == "netavark" and not os.access(NETAVARK, os.X_OK):
        return f"{NETAVARK} not found (apt-get install netavark)"
    if name.startswith("cnmd API") and shutil.which("cnmd") is None:
        return "cnmd not installed (pip install -e .)"
    return None


def run_subject(name: str, args) -> dict:
    """Run one subject in a fresh host namespace, as a child process of this script."""
    host = f"bench-{uuid.uuid4().hex[:8]}"
    root = tempfile.mkdtemp(prefix=f"{host}-")
    subprocess.run(["ip", "netns", "add", host], check=True)
    try:
        subprocess.run(["ip", "-n", host, "link", "set", "lo", "up"], check=True)
        argv = ["nsenter", f"--net=/run/netns/{host}", sys.executable, os.path.abspath(__file__),
                "--subject", name, "--root", root, "--count", str(args.count),
                "--baseline-count", str(args.baseline_count)]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            return {"error": (result.stderr or result.stdout).strip().splitlines()[-1:]}
        return json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        netns_dir = os.path.join(root, "exec", "netns")
        if os.path.isdir(netns_dir):
            for entry in os.listdir(netns_dir):
                subprocess.run(["umount", "-l", os.path.join(netns_dir, entry)], stderr=subprocess.DEVNULL)
            subprocess.run(["umount", "-l", netns_dir], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "delete", host], check=False)
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict[str, dict]) -> None:
    print(f"{'subject':<26}{'n':>6}{'connect p50':>13}{'p99':>9}{'disconnect p50':>16}{'p99':>9}   (ms)")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<26}  skipped: {' '.join(r['error'])}")
            continue
        print(f"{name:<26}{r['n']:>6}{r['connect_p50']:>13.2f}{r['connect_p99']:>9.2f}"
              f"{r['disconnect_p50']:>16.2f}{r['disconnect_p99']:>9.2f}")
    print()
    for ours in ("cnmd API", "cnmd API, default bridge", "Python API"):
        for base in ("CNI bridge (ipMasq)", "CNI bridge (no ipMasq)", "netavark"):
            a, b = results.get(ours, {}), results.get(base, {})
            if "connect_p50" in a and "connect_p50" in b:
                print(f"{ours} / {base}: connect p50 {a['connect_p50'] / b['connect_p50']:.2f}x, "
                      f"disconnect p50 {a['disconnect_p50'] / b['disconnect_p50']:.2f}x")
    print()
    for name in ("cnmd API", "cnmd API, default bridge", "Python API"):
        r = results.get(name, {})
        if "connect_by_size" in r:
            cells = ", ".join(f"{start}+: {p50:.2f}" for start, p50 in r["connect_by_size"])
            print(f"{name} connect p50 by endpoints already on the network: {cells}")
            buckets = r["connect_by_size"]
            if len(buckets) > 1:
                print(f"  growth, last tenth / first tenth: {buckets[-1][1] / buckets[0][1]:.2f}x")
    for name in ("CNI bridge (ipMasq)", "CNI bridge (no ipMasq)", "netavark"):
        buckets = results.get(name, {}).get("connect_by_size", [])
        if len(buckets) > 1:
            print(f"{name} growth, last tenth / first tenth: {buckets[-1][1] / buckets[0][1]:.2f}x")
    print()
    print("target: connect p50 at most 0.5x the CNI bridge plugin's")
    for ours in ("cnmd API", "cnmd API, default bridge"):
        for base in ("CNI bridge (ipMasq)", "CNI bridge (no ipMasq)"):
            a, b = results.get(ours, {}), results.get(base, {})
            if "connect_p50" in a and "connect_p50" in b:
                ratio = a["connect_p50"] / b["connect_p50"]
                print(f"  {ours} vs {base}: {'met' if ratio <= 0.5 else 'MISSED'} ({ratio:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="sandboxes for cnmd (default %(default)s)")
    parser.add_argument("--baseline-count", type=int, default=300,
                        help="sandboxes for the CNI plugin and netavark (default %(default)s)")
    parser.add_argument("--only", action="append", choices=list(SUBJECTS), help="run only these subjects")
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subject:
        print(json.dumps(SUBJECTS[args.subject](args, args.root)))
        return
    if os.geteuid() != 0:
        raise SystemExit("needs root (it creates network namespaces)")
    results = {}
    for name in args.only or SUBJECTS:
        missing = available(name)
        results[name] = {"error": [missing]} if missing else run_subject(name, args)
        print(f"... {name} done", file=sys.stderr, flush=True)
    report(results)


if __name__ == "__main__":
    main()
