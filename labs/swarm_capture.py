#!/usr/bin/env python3
"""Ask the real dockerd what it answers on the swarm and node routes.

Builds the routed underlay (libnetwork.labkit.underlay, prefix "swr-"), runs one
Debian dockerd (20.10) in each node namespace, and puts a recording HTTP
proxy in front of each daemon's socket. The real docker CLI and a small raw
client talk to the proxies, so every request the CLI sends and every answer
(status, headers in wire order, body bytes) is captured. The scenario walks
init / join / errors / node updates / kill -9 / leave and writes:

    OUT/captures.jsonl   one line per HTTP exchange or CLI run, in order
    OUT/timings.json     join->Ready, kill->Down, restart->Ready

Everything (namespaces, dockerd, containerd) is torn down at the end, also
on error or Ctrl-C. Needs root and dockerd. Usage:

    labs/swarm_capture.py [--out DIR] [--keep-root]

dockerd runs with --iptables=false --bridge=none (isolation; the swarm
routes do not depend on either).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

from libnetwork.labkit.underlay import Underlay

DOCKER = os.environ.get("DOCKER_CLI", "/usr/local/bin/docker")
ROOT = "/tmp/swarmref-lab"


# ----------------------------------------------------------------------------
# recording
class Recorder:
    def __init__(self, path: str):
        self.f = open(path, "w")  # noqa: SIM115 -- kept open for the whole run, one line per exchange
        self.label = "-"
        self.seq = 0

    def write(self, kind: str, **kw) -> None:
        self.seq += 1
        rec = {"seq": self.seq, "label": self.label, "kind": kind, **kw}
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()


def _decode(body: bytes):
    if not body:
        return ""
    try:
        return body.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}


def _headers(head: bytes) -> tuple[str, list[list[str]]]:
    lines = head.decode("latin-1").split("\r\n")
    hs = []
    for ln in lines[1:]:
        if ln:
            k, _, v = ln.partition(":")
            hs.append([k, v.strip()])
    return lines[0], hs


def _hget(hs, name):
    for k, v in hs:
        if k.lower() == name.lower():
            return v
    return None


async def _read_body(reader, hs, *, response: bool, method: str = "", status: int = 0):
    if response and (method == "HEAD" or status in (204, 304) or 100 <= status < 200):
        return b"", b""
    te = (_hget(hs, "Transfer-Encoding") or "").lower()
    if "chunked" in te:
        raw = body = b""
        while True:
            line = await reader.readuntil(b"\r\n")
            raw += line
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    tl = await reader.readuntil(b"\r\n")
                    raw += tl
                    if tl == b"\r\n":
                        break
                return raw, body
            chunk = await reader.readexactly(size + 2)
            raw += chunk
            body += chunk[:-2]
    cl = _hget(hs, "Content-Length")
    if cl is not None:
        data = await reader.readexactly(int(cl))
        return data, data
    if response:
        data = await reader.read()
        return data, data
    return b"", b""


class Proxy:
    """Unix-socket HTTP/1.1 proxy that records each exchange."""

    def __init__(self, node: Node, rec: Recorder):
        self.node, self.rec = node, rec
        self.server = None

    async def start(self):
        if os.path.exists(self.node.psock):
            os.unlink(self.node.psock)
        self.server = await asyncio.start_unix_server(self._conn, path=self.node.psock)

    async def _conn(self, cr, cw):
        try:
            ur, uw = await asyncio.open_unix_connection(self.node.sock)
        except OSError:
            cw.close()
            return
        try:
            while True:
                try:
                    head = await cr.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                reqline, rhs = _headers(head)
                method, path = reqline.split(" ")[:2]
                raw, body = await _read_body(cr, rhs, response=False)
                t0 = time.monotonic()
                uw.write(head + raw)
                await uw.drain()
                rhead = await ur.readuntil(b"\r\n\r\n")
                statusline, shs = _headers(rhead)
                status = int(statusline.split(" ")[1])
                sraw, sbody = await _read_body(ur, shs, response=True, method=method, status=status)
                dt = time.monotonic() - t0
                cw.write(rhead + sraw)
                await cw.drain()
                self.rec.write("http", node=self.node.name, method=method, path=path,
                               req_headers=rhs, req_body=_decode(body), status=status,
                               status_line=statusline, resp_headers=shs, resp_body=_decode(sbody),
                               elapsed=round(dt, 3))
                if _hget(shs, "Connection") == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError) as e:
            self.rec.write("proxy-error", node=self.node.name, error=repr(e))
        finally:
            cw.close()
            uw.close()


# ----------------------------------------------------------------------------
# nodes
class Node:
    def __init__(self, name: str, netns: str, ip: str, root: str):
        self.name, self.netns, self.ip = name, netns, ip
        self.dir = os.path.join(root, name)
        self.data = os.path.join(self.dir, "data")
        self.exec = os.path.join(self.dir, "exec")
        self.sock = os.path.join(self.dir, "docker.sock")
        self.psock = os.path.join(self.dir, "proxy.sock")
        self.log = os.path.join(self.dir, "dockerd.log")
        self.proc: asyncio.subprocess.Process | None = None
        self.proxy: Proxy | None = None

    def containerd_pid(self) -> int | None:
        try:
            return int(open(os.path.join(self.exec, "containerd", "containerd.pid")).read().strip())
        except (OSError, ValueError):
            return None

    async def start(self):
        os.makedirs(self.dir, exist_ok=True)
        logf = open(self.log, "a")  # noqa: SIM115, ASYNC230 -- handed to the child; tiny local write
        # own config file: keeps the engine's trust key (its /info ID) per node
        # instead of /etc/docker/key.json shared by all
        cfg = os.path.join(self.dir, "daemon.json")
        with open(cfg, "w") as f:  # noqa: ASYNC230 -- tiny local file before the daemon starts
            json.dump({"deprecated-key-path": os.path.join(self.dir, "key.json")}, f)
        # own UTS namespace so each node has its own hostname (node ls HOSTNAME)
        self.proc = await asyncio.create_subprocess_exec(
            "nsenter", f"--net=/run/netns/{self.netns}", "unshare", "--uts", "sh", "-c",
            f'hostname {self.name} && exec "$@"', "sh", "dockerd",
            "--config-file", cfg,
            "--data-root", self.data, "--exec-root", self.exec, "-H", f"unix://{self.sock}",
            "--pidfile", os.path.join(self.dir, "dockerd.pid"),
            "--iptables=false", "--bridge=none", "--log-level=info",
            stdout=logf, stderr=logf, start_new_session=True)
        for _ in range(300):
            try:
                st, _, _ = await raw(self, "GET", "/_ping", direct=True)
                if st == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name}: dockerd did not come up (see {self.log})")

    async def kill9(self):
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self):
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.send_signal(signal.SIGKILL)
                await self.proc.wait()
        pid = self.containerd_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def raw(node: Node, method: str, path: str, body=None, *, direct=False, headers=None):
    """One HTTP request; through the recording proxy unless direct."""
    r, w = await asyncio.open_unix_connection(node.sock if direct else node.psock)
    data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    hs = [f"{method} {path} HTTP/1.1", "Host: docker", "User-Agent: swarm-capture/1"]
    if body is not None:
        hs += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    for k, v in (headers or {}).items():
        hs.append(f"{k}: {v}")
    hs.append("Connection: close")
    w.write(("\r\n".join(hs) + "\r\n\r\n").encode() + data)
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    sl, shs = _headers(head)
    st = int(sl.split(" ")[1])
    _, sbody = await _read_body(r, shs, response=True, method=method, status=st)
    w.close()
    return st, shs, sbody


async def api(node, method, path, body=None, **kw):
    st, _, b = await raw(node, method, path, body, **kw)
    try:
        return st, json.loads(b) if b else None
    except ValueError:
        return st, b.decode(errors="replace")


# ----------------------------------------------------------------------------
class Lab:
    def __init__(self, out: str, keep_root: bool):
        self.out = out
        os.makedirs(out, exist_ok=True)
        self.rec = Recorder(os.path.join(out, "captures.jsonl"))
        self.ul = Underlay(3, "swr-")
        self.nodes = {h.name: Node(h.name, h.netns, h.addr, ROOT) for h in self.ul.hosts}
        self.timings: dict = {}
        self.keep_root = keep_root
        self.api_prefix = "/v1.41"

    def label(self, s: str):
        self.rec.label = s
        print(f"\n== {s}", flush=True)

    async def cli(self, node: str, *args: str, timeout: float = 120, quiet=False):
        n = self.nodes[node]
        env = dict(os.environ, DOCKER_HOST=f"unix://{n.psock}")
        env.pop("DOCKER_CONTEXT", None)
        t0 = time.monotonic()
        p = await asyncio.create_subprocess_exec(
            DOCKER, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(p.communicate(), timeout)
        except TimeoutError:
            p.kill()
            out, err = await p.communicate()
        dt = time.monotonic() - t0
        self.rec.write("cli", node=node, argv=["docker", *args], rc=p.returncode,
                       stdout=out.decode(), stderr=err.decode(), elapsed=round(dt, 3))
        if not quiet:
            print(f"[{node}] $ docker {' '.join(args)}  (rc={p.returncode}, {dt:.2f}s)")
            if out:
                print(out.decode().rstrip())
            if err:
                print("stderr:", err.decode().rstrip())
        return p.returncode, out.decode(), err.decode()

    async def api(self, node: str, method: str, path: str, body=None, raw_path=False, **kw):
        p = path if raw_path else self.api_prefix + path
        st, b = await api(self.nodes[node], method, p, body, **kw)
        print(f"[{node}] {method} {p} -> {st} {json.dumps(b)[:300] if not isinstance(b, str) else b[:300]}")
        return st, b

    async def node_state(self, manager: str, hostname_or_id: str):
        st, nodes = await api(self.nodes[manager], "GET", self.api_prefix + "/nodes", direct=True)
        if st != 200:
            return None
        for nd in nodes:
            if nd["ID"] == hostname_or_id or nd["Description"].get("Hostname") == hostname_or_id:
                return nd
        return None

    async def wait_status(self, manager, node_id, want, timeout=120, step=0.1):
        t0 = time.monotonic()
        seen = []
        while time.monotonic() - t0 < timeout:
            nd = await self.node_state(manager, node_id)
            s = nd["Status"] if nd else None
            if s and (not seen or seen[-1][1] != s):
                seen.append([round(time.monotonic() - t0, 2), s])
            if s and s.get("State") == want:
                return time.monotonic() - t0, seen
            await asyncio.sleep(step)
        return None, seen

    async def node_ids(self, manager):
        st, nodes = await api(self.nodes[manager], "GET", self.api_prefix + "/nodes", direct=True)
        return {nd["ID"] for nd in nodes} if st == 200 else set()

    async def watch(self, manager, hostname, duration, known=(), step=0.05):
        """Status transitions, on the manager's GET /nodes, of a node with this
        hostname whose ID is not in known (a node that is joining), for duration s."""
        t0 = time.monotonic()
        seen = []
        while time.monotonic() - t0 < duration:
            nd = None
            try:
                st, nodes = await api(self.nodes[manager], "GET", self.api_prefix + "/nodes", direct=True)
                for x in nodes if st == 200 else []:
                    if x["ID"] not in known and x["Description"].get("Hostname") == hostname:
                        nd = x
            except OSError:
                pass
            s = ([nd["Status"], nd["Spec"].get("Role"), (nd.get("ManagerStatus") or {}).get("Reachability")]
                 if nd else None)
            if not seen or seen[-1][1] != s:
                seen.append([round(time.monotonic() - t0, 3), s])
            await asyncio.sleep(step)
        return seen

    async def wait_role(self, manager, hostname, role, timeout=60):
        """Wait until the node is a reachable manager (role "manager") or a
        worker without ManagerStatus (role "worker"); returns seconds."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            nd = await self.node_state(manager, hostname)
            if nd:
                ms = nd.get("ManagerStatus")
                if role == "manager" and ms and ms.get("Reachability") == "reachable":
                    return round(time.monotonic() - t0, 3)
                if role == "worker" and not ms and nd["Spec"]["Role"] == "worker":
                    return round(time.monotonic() - t0, 3)
            await asyncio.sleep(0.1)
        print(f"!! {hostname} did not become {role}")
        return None

    async def swarm_info(self, node):
        st, info = await api(self.nodes[node], "GET", self.api_prefix + "/info", direct=True)
        return info.get("Swarm", {}) if st == 200 else {}

    # ------------------------------------------------------------------------
    async def setup(self):
        self.label("setup")
        self.teardown_sync(quiet=True)
        self.ul.up()
        print(self.ul.draw())
        for n in self.nodes.values():
            shutil.rmtree(n.dir, ignore_errors=True)
            os.makedirs(n.dir)
            await n.start()
            n.proxy = Proxy(n, self.rec)
            await n.proxy.start()
        _, _, b = await raw(self.nodes["node1"], "GET", "/version", direct=True)
        v = json.loads(b)
        self.rec.write("version", version=v)
        print("dockerd", v["Version"], "API", v["ApiVersion"])

    def teardown_sync(self, quiet=False):
        for n in self.nodes.values():
            if n.proc and n.proc.returncode is None:
                try:
                    os.killpg(n.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            pid = n.containerd_pid()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # mounts dockerd may leave under exec roots
        try:
            with open("/proc/self/mounts") as f:
                mounts = [line.split()[1] for line in f]
            for mp in mounts:
                if mp.startswith(ROOT):
                    subprocess.run(["umount", "-l", mp], check=False, capture_output=True)
        except OSError:
            pass
        self.ul.down(verbose=not quiet)
        if not self.keep_root:
            shutil.rmtree(ROOT, ignore_errors=True)

    async def teardown(self):
        self.label("teardown")
        for n in self.nodes.values():
            if n.proxy and n.proxy.server:
                n.proxy.server.close()
        await asyncio.gather(*(n.stop() for n in self.nodes.values()), return_exceptions=True)
        self.teardown_sync()


# ----------------------------------------------------------------------------
async def scenario(lab: Lab):
    A = lab.api
    C = lab.cli
    n1, n2, n3 = (lab.nodes[k] for k in ("node1", "node2", "node3"))

    # -------- not in a swarm
    lab.label("inactive/ping")
    await raw(n1, "HEAD", "/_ping")
    await raw(n1, "GET", "/_ping")
    lab.label("inactive/routes")
    for m, p, b in [("GET", "/info", None), ("GET", "/swarm", None), ("POST", "/swarm/leave", None),
                    ("POST", "/swarm/leave?force=1", None),
                    ("GET", "/nodes", None), ("GET", "/nodes/abc", None), ("POST", "/nodes/abc/update?version=1", {}),
                    ("DELETE", "/nodes/abc", None), ("GET", "/services", None), ("GET", "/tasks", None),
                    ("GET", "/swarm/unlockkey", None), ("POST", "/swarm/update?version=1", {}),
                    ("POST", "/swarm/unlock", {"UnlockKey": "x"}),
                    ("GET", "/secrets", None), ("GET", "/configs", None)]:
        await A("node1", m, p, b)
    lab.label("inactive/cli")
    await C("node1", "info")
    await C("node1", "info", "--format", "{{json .Swarm}}")
    await C("node1", "swarm", "leave")
    await C("node1", "swarm", "leave", "--force")
    await C("node1", "node", "ls")
    await C("node1", "swarm", "join-token", "worker")
    await C("node1", "swarm", "unlock-key")
    await C("node1", "service", "ls")

    # -------- init errors
    async def reset(node):
        if (await lab.swarm_info(node)).get("LocalNodeState") != "inactive":
            await C(node, "swarm", "leave", "--force")

    lab.label("init/foreign-advertise-addr")  # an address the host does not have
    await C("node1", "swarm", "init", "--advertise-addr", "10.99.99.99")
    await A("node1", "GET", "/info")
    await reset("node1")
    for lbl, args in [("init/bad-advertise-iface", ["--advertise-addr", "eth9"]),
                      ("init/bad-listen-addr", ["--advertise-addr", n1.ip, "--listen-addr", "10.99.99.99:2377"]),
                      ("init/bad-advertise-port", ["--advertise-addr", n1.ip + ":99999"]),
                      ("init/bad-advertise-word", ["--advertise-addr", "not an address"]),
                      ("init/bad-addr-pool", ["--advertise-addr", n1.ip, "--default-addr-pool", "10.0.0.0/33"]),
                      ("init/bad-data-path-port", ["--advertise-addr", n1.ip, "--data-path-port", "80"])]:
        lab.label(lbl)
        await C("node1", "swarm", "init", *args)
        await reset("node1")
    lab.label("init/api-empty-body")
    await A("node1", "POST", "/swarm/init", {})
    await reset("node1")
    lab.label("init/api-bad-json")
    await A("node1", "POST", "/swarm/init", b"{nope")
    lab.label("inactive/after-failed-init")
    await A("node1", "GET", "/info")

    # -------- init
    lab.label("init/ok")
    t0 = time.monotonic()
    await C("node1", "swarm", "init", "--advertise-addr", n1.ip)
    lab.timings["init_cli_seconds"] = round(time.monotonic() - t0, 3)
    lab.label("init/twice")
    await C("node1", "swarm", "init", "--advertise-addr", n1.ip)
    await A("node1", "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": n1.ip})

    lab.label("manager/ping")
    await raw(n1, "HEAD", "/_ping")
    await raw(n1, "GET", "/_ping")
    lab.label("manager/swarm")
    _, sw = await A("node1", "GET", "/swarm")
    await C("node1", "swarm", "ca")
    lab.label("manager/info")
    await A("node1", "GET", "/info")
    await C("node1", "info")
    lab.label("manager/unlockkey")
    await A("node1", "GET", "/swarm/unlockkey")
    await C("node1", "swarm", "unlock-key")
    lab.label("manager/join-token")
    _, wtok, _ = await C("node1", "swarm", "join-token", "-q", "worker")
    _, mtok, _ = await C("node1", "swarm", "join-token", "-q", "manager")
    await C("node1", "swarm", "join-token", "worker")
    await C("node1", "swarm", "join-token", "manager")
    wtok, mtok = wtok.strip(), mtok.strip()
    lab.label("manager/nodes-single")
    await A("node1", "GET", "/nodes")
    await C("node1", "node", "ls")

    # -------- join errors (node2)
    parts = wtok.split("-")  # SWMTKN-1-<digest>-<secret>
    digest, secret = parts[2], parts[3]
    bad_secret = f"SWMTKN-1-{digest}-{'a' * len(secret)}"
    # a valid-looking digest of another CA: flip one base-36 digit
    flip = "0" if digest[5] != "0" else "1"
    bad_digest = f"SWMTKN-1-{digest[:5]}{flip}{digest[6:]}-{secret}"
    man = f"{n1.ip}:2377"
    for lbl, tok, addr in [("join/wrong-secret", bad_secret, man),
                           ("join/ca-digest-mismatch", bad_digest, man),
                           ("join/malformed-token", "SWMTKN-1-abc", man),
                           ("join/not-a-token", "hello", man),
                           ("join/empty-token", "", man)]:
        lab.label(lbl)
        await C("node2", "swarm", "join", "--token", tok, addr)
        await A("node2", "GET", "/info")
        if lab.rec and (await lab.swarm_info("node2")).get("LocalNodeState") not in ("inactive", None):
            await C("node2", "swarm", "leave", "--force")

    lab.label("join/api-bad-body")
    await A("node2", "POST", "/swarm/join", {"RemoteAddrs": [], "JoinToken": wtok})
    await A("node2", "POST", "/swarm/join", {"RemoteAddrs": [man], "JoinToken": wtok, "ListenAddr": "bogus"})

    lab.label("join/closed-port")  # node3's address: host up, nothing on 2377
    await C("node2", "swarm", "join", "--token", wtok, f"{n3.ip}:2377", timeout=200)
    await A("node2", "GET", "/info")
    await reset("node2")

    lab.label("join/unreachable")  # no host at this address
    await C("node2", "swarm", "join", "--token", wtok, "192.168.20.99:2377", timeout=200)
    lab.label("join/pending-state")
    await raw(n2, "HEAD", "/_ping")
    await A("node2", "GET", "/info")
    await C("node2", "info")
    await A("node2", "GET", "/swarm")
    await A("node2", "GET", "/nodes")
    await C("node2", "swarm", "join", "--token", wtok, man)
    await A("node2", "GET", "/info")
    lab.label("join/pending-leave")
    await C("node2", "swarm", "leave")
    await A("node2", "GET", "/info")
    await reset("node2")

    lab.label("leave/worker")
    await C("node2", "swarm", "join", "--token", wtok, man)
    old2 = (await lab.swarm_info("node2")).get("NodeID")
    await C("node2", "swarm", "leave")
    t0 = time.monotonic()
    await A("node2", "GET", "/info")
    await C("node1", "node", "ls")
    dt, seen = await lab.wait_status("node1", old2, "down", timeout=60, step=0.05)
    lab.timings["worker_leave_to_down_s"] = round(time.monotonic() - t0, 3) if dt is not None else None
    lab.timings["worker_leave_status_seq"] = seen
    lab.label("leave/worker-after")
    await A("node1", "GET", f"/nodes/{old2}")
    await C("node1", "node", "ls")
    lab.label("nodes/rm-down-node")
    await C("node1", "node", "rm", "node2")
    await C("node1", "node", "rm", "node2")

    # -------- join worker
    lab.label("join/worker")
    poll = asyncio.create_task(lab.watch("node1", "node2", 6, await lab.node_ids("node1")))
    t_start = time.monotonic()
    await C("node2", "swarm", "join", "--token", wtok, man)
    t_join = time.monotonic()
    lab.timings["worker_join_cli_seconds"] = round(t_join - t_start, 3)
    lab.timings["worker_join_watch_from_cli_start"] = await poll
    sw2 = await lab.swarm_info("node2")
    nid2 = sw2.get("NodeID")
    dt, seen = await lab.wait_status("node1", nid2, "ready", step=0.05)
    lab.timings["worker_join_return_to_ready_s"] = round(dt, 3) if dt is not None else None
    lab.timings["worker_join_status_seq"] = seen
    lab.timings["worker_join_to_ready_incl_poll_start"] = round(time.monotonic() - t_join, 3)
    lab.label("join/already-in-swarm")
    await C("node2", "swarm", "join", "--token", wtok, man)
    await A("node2", "POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "", "DataPathAddr": "",
                                             "RemoteAddrs": [man], "JoinToken": wtok, "Availability": ""})
    lab.label("init/on-worker")
    await C("node2", "swarm", "init", "--advertise-addr", n2.ip)

    # -------- join manager
    lab.label("join/manager")
    poll = asyncio.create_task(lab.watch("node1", "node3", 8, await lab.node_ids("node1")))
    t_start = time.monotonic()
    await C("node3", "swarm", "join", "--token", mtok, man)
    t_join = time.monotonic()
    lab.timings["manager_join_cli_seconds"] = round(t_join - t_start, 3)
    lab.timings["manager_join_watch_from_cli_start"] = await poll
    sw3 = await lab.swarm_info("node3")
    nid3 = sw3.get("NodeID")
    dt, seen = await lab.wait_status("node1", nid3, "ready", step=0.05)
    lab.timings["manager_join_return_to_ready_s"] = round(dt, 3) if dt is not None else None
    lab.timings["manager_join_status_seq"] = seen

    # -------- worker view
    lab.label("worker/ping")
    await raw(n2, "HEAD", "/_ping")
    lab.label("worker/routes")
    for m, p, b in [("GET", "/info", None), ("GET", "/swarm", None), ("GET", "/nodes", None),
                    ("GET", f"/nodes/{nid2}", None), ("GET", "/swarm/unlockkey", None),
                    ("POST", "/swarm/update?version=1", {}), ("GET", "/services", None), ("GET", "/tasks", None),
                    ("DELETE", f"/nodes/{nid2}", None)]:
        await A("node2", m, p, b)
    lab.label("worker/cli")
    await C("node2", "info")
    await C("node2", "node", "ls")
    await C("node2", "swarm", "join-token", "worker")
    await C("node2", "swarm", "ca")

    # -------- second manager view
    lab.label("manager2/info")
    await raw(n3, "HEAD", "/_ping")
    await A("node3", "GET", "/info")
    await A("node3", "GET", "/swarm")

    # -------- nodes
    nid1 = (await lab.swarm_info("node1"))["NodeID"]
    lab.label("nodes/list")
    await A("node1", "GET", "/nodes")
    await C("node1", "node", "ls")
    await C("node3", "node", "ls")
    await C("node1", "node", "ls", "-q")
    await C("node1", "node", "ls", "--filter", "role=manager")
    worker_filter = urllib.parse.quote('{"role":{"worker":true}}')
    await A("node1", "GET", "/nodes?filters=" + worker_filter)
    lab.label("nodes/inspect")
    await A("node1", "GET", f"/nodes/{nid1}")
    await A("node1", "GET", f"/nodes/{nid2}")
    await A("node1", "GET", f"/nodes/{nid3}")
    await C("node1", "node", "inspect", "self")
    await C("node1", "node", "inspect", "--pretty", "node2")
    await A("node1", "GET", "/nodes/node2")  # by hostname
    await A("node1", "GET", f"/nodes/{nid2[:5]}")  # by prefix
    await A("node1", "GET", "/nodes/doesnotexist")
    await C("node1", "node", "inspect", "doesnotexist")
    lab.label("nodes/update-availability")
    await C("node1", "node", "update", "--availability", "drain", "node2")
    await A("node1", "GET", f"/nodes/{nid2}")
    await C("node1", "node", "ls")
    await C("node1", "node", "update", "--availability", "pause", "node2")
    await C("node1", "node", "update", "--availability", "active", "node2")
    await C("node1", "node", "update", "--label-add", "zone=a", "node2")
    lab.label("nodes/update-stale-version")
    _, nd = await A("node1", "GET", f"/nodes/{nid2}")
    ver = nd["Version"]["Index"]
    spec = nd["Spec"]
    await A("node1", "POST", f"/nodes/{nid2}/update?version={ver - 1}", spec)
    await A("node1", "POST", f"/nodes/{nid2}/update", spec)
    await A("node1", "POST", f"/nodes/{nid2}/update?version=abc", spec)
    await A("node1", "POST", f"/nodes/doesnotexist/update?version={ver}", spec)
    await A("node1", "POST", f"/nodes/{nid2}/update?version={ver}", {**spec, "Role": "boss"})
    await A("node1", "POST", f"/nodes/{nid2}/update?version={ver}", {**spec, "Availability": "sleep"})
    lab.label("nodes/promote-demote")
    await C("node1", "node", "promote", "node2")
    await C("node1", "node", "promote", "node2")
    lab.timings["promote_to_reachable_s"] = await lab.wait_role("node1", "node2", "manager")
    await C("node1", "node", "ls")
    await A("node1", "GET", f"/nodes/{nid2}")
    await C("node1", "node", "demote", "node2")
    await C("node1", "node", "demote", "node2")
    lab.timings["demote_to_worker_s"] = await lab.wait_role("node1", "node2", "worker")
    await C("node1", "node", "ls")
    lab.label("nodes/demote-self-last")
    await C("node1", "node", "demote", "node3")
    await lab.wait_role("node1", "node3", "worker")
    await C("node1", "node", "demote", "node1")  # last manager
    await C("node1", "node", "promote", "node3")
    await lab.wait_role("node1", "node3", "manager")

    # -------- swarm update
    lab.label("swarm/update")
    await C("node1", "swarm", "update", "--task-history-limit", "7")
    await A("node1", "GET", "/swarm")
    lab.label("swarm/rotate-worker-token")
    await C("node1", "swarm", "join-token", "--rotate", "worker")
    lab.label("swarm/rotate-manager-token")
    await C("node1", "swarm", "join-token", "--rotate", "-q", "manager")
    lab.label("swarm/update-stale")
    _, sw = await A("node1", "GET", "/swarm")
    v = sw["Version"]["Index"]
    await A("node1", "POST", f"/swarm/update?version={v - 1}", sw["Spec"])
    await A("node1", "POST", "/swarm/update", sw["Spec"])
    await A("node1", "POST", f"/swarm/update?version={v}&rotateWorkerToken=maybe", sw["Spec"])
    lab.label("swarm/autolock")
    await C("node1", "swarm", "update", "--autolock=true")
    await A("node1", "GET", "/swarm/unlockkey")
    await C("node1", "swarm", "unlock-key")
    await C("node1", "swarm", "unlock-key", "-q", "--rotate")
    await A("node1", "GET", "/info")
    await A("node1", "POST", "/swarm/unlock", {"UnlockKey": "SWMKEY-1-nope"})
    await C("node1", "swarm", "update", "--autolock=false")
    await A("node1", "GET", "/swarm/unlockkey")

    lab.label("join/rotated-token")
    # node2 leaves, tries the old worker token
    await C("node2", "swarm", "leave")
    await lab.wait_status("node1", nid2, "down", timeout=60)
    await A("node2", "GET", "/info")
    await C("node2", "swarm", "join", "--token", wtok, man)
    _, wtok2, _ = await C("node1", "swarm", "join-token", "-q", "worker")
    wtok2 = wtok2.strip()
    await asyncio.sleep(1)
    lab.label("nodes/after-worker-leave")
    await C("node1", "node", "ls")
    await A("node1", "GET", f"/nodes/{nid2}")
    lab.label("nodes/rm-down-after-leave")
    await C("node1", "node", "rm", nid2)
    lab.label("join/worker-again")
    await C("node2", "swarm", "join", "--token", wtok2, man)
    nid2 = (await lab.swarm_info("node2")).get("NodeID")
    await lab.wait_status("node1", nid2, "ready")

    # -------- remove errors
    lab.label("nodes/rm-up-worker")
    await C("node1", "node", "rm", "node2")
    await A("node1", "DELETE", f"/nodes/{nid2}")
    lab.label("nodes/rm-manager")
    await C("node1", "node", "rm", "node3")
    await C("node1", "node", "rm", "--force", "node3")
    lab.label("nodes/rm-self")
    await C("node1", "node", "rm", "--force", "node1")
    lab.label("nodes/rm-missing")
    await A("node1", "DELETE", "/nodes/doesnotexist")
    await A("node1", "DELETE", "/nodes/doesnotexist?force=true")

    # -------- kill -9 worker, heartbeat
    lab.label("heartbeat/kill-worker")
    await n2.kill9()
    dt, seen = await lab.wait_status("node1", nid2, "down", timeout=180, step=0.1)
    lab.timings["worker_kill9_to_down_s"] = round(dt, 3) if dt is not None else None
    lab.timings["worker_kill9_status_seq"] = seen
    lab.label("heartbeat/down-node")
    await A("node1", "GET", f"/nodes/{nid2}")
    await C("node1", "node", "ls")
    lab.label("heartbeat/restart-worker")
    t0 = time.monotonic()
    task = asyncio.create_task(lab.watch("node1", "node2", 5, step=0.05))
    await n2.start()
    lab.timings["worker_restart_watch_from_exec"] = await task
    t_up = time.monotonic() - t0
    dt, seen = await lab.wait_status("node1", nid2, "ready", timeout=120, step=0.05)
    lab.timings["worker_restart_dockerd_up_s"] = round(t_up, 3)
    lab.timings["worker_restart_to_ready_s"] = round(dt, 3) if dt is not None else None
    lab.timings["worker_restart_status_seq"] = seen

    lab.label("heartbeat/kill-worker-2")
    await n2.kill9()
    dt, seen = await lab.wait_status("node1", nid2, "down", timeout=180, step=0.1)
    lab.timings["worker_kill9_to_down_2_s"] = round(dt, 3) if dt is not None else None
    lab.label("nodes/rm-down-worker")
    await C("node1", "node", "rm", "node2")
    await C("node1", "node", "ls")
    lab.label("nodes/removed-node-restarts")
    await n2.start()
    await asyncio.sleep(8)
    await raw(n2, "HEAD", "/_ping")
    await A("node2", "GET", "/info")
    await A("node2", "GET", "/nodes")
    await C("node2", "swarm", "leave")
    await A("node2", "GET", "/info")
    if (await lab.swarm_info("node2")).get("LocalNodeState") != "inactive":
        await C("node2", "swarm", "leave", "--force")

    # -------- kill -9 manager with 3 managers (quorum kept)
    lab.label("heartbeat/rejoin-node2")
    await C("node2", "swarm", "join", "--token", wtok2, man)
    await C("node1", "node", "promote", "node2")
    await lab.wait_role("node1", "node2", "manager")
    await C("node1", "node", "ls")
    lab.label("heartbeat/kill-manager-3")
    await n3.kill9()
    t0 = time.monotonic()
    lab.timings["manager_kill9_watch_3managers"] = await lab.watch("node1", "node3", 25, step=0.1)
    await A("node1", "GET", f"/nodes/{nid3}")
    await C("node1", "node", "ls")
    await A("node1", "GET", "/info")
    await C("node1", "info", "--format", "{{json .Swarm}}")
    lab.label("heartbeat/restart-manager-3")
    t0 = time.monotonic()
    task = asyncio.create_task(lab.watch("node1", "node3", 10, step=0.05))
    await n3.start()
    lab.timings["manager_restart_dockerd_up_s"] = round(time.monotonic() - t0, 3)
    lab.timings["manager_restart_watch_from_exec"] = await task
    await C("node1", "node", "ls")
    await lab.wait_role("node1", "node3", "manager")
    await C("node1", "node", "demote", "node2")
    await lab.wait_role("node1", "node2", "worker")
    await C("node2", "swarm", "leave")
    await lab.wait_status("node1", (await lab.node_state("node1", "node2"))["ID"], "down", timeout=60)
    await C("node1", "node", "rm", "node2")

    # -------- kill -9 manager (2 managers: quorum lost)
    lab.label("heartbeat/kill-manager")
    await n3.kill9()
    dt, seen = await lab.wait_status("node1", nid3, "down", timeout=60, step=0.2)
    lab.timings["manager_kill9_to_down_2managers_s"] = round(dt, 3) if dt is not None else None
    lab.timings["manager_kill9_status_seq"] = seen
    await A("node1", "GET", "/nodes")
    await C("node1", "node", "ls", timeout=40)
    await A("node1", "GET", "/info")
    await C("node1", "info")
    await raw(n1, "HEAD", "/_ping")
    lab.label("heartbeat/restart-manager")
    await n3.start()
    dt, seen = await lab.wait_status("node1", nid3, "ready", timeout=120, step=0.2)
    lab.timings["manager_restart_to_ready_s"] = round(dt, 3) if dt is not None else None
    lab.timings["manager_restart_status_seq"] = seen

    # -------- leave
    lab.label("leave/manager-no-force")
    await C("node3", "swarm", "leave")
    await A("node3", "POST", "/swarm/leave")
    lab.label("leave/manager-demote-then-leave")
    await C("node1", "node", "demote", "node3")
    await lab.wait_role("node1", "node3", "worker")
    await asyncio.sleep(1)
    await C("node3", "swarm", "leave")
    await asyncio.sleep(2)
    await C("node1", "node", "ls")
    lab.label("leave/last-manager-no-force")
    await C("node1", "swarm", "leave")
    await A("node1", "POST", "/swarm/leave")
    lab.label("leave/last-manager-force")
    await C("node1", "swarm", "leave", "--force")
    await raw(n1, "HEAD", "/_ping")
    await A("node1", "GET", "/info")

    # -------- init with every option
    lab.label("init/all-options")
    await C("node1", "swarm", "init", "--advertise-addr", n1.ip, "--listen-addr", f"{n1.ip}:2377",
            "--data-path-addr", n1.ip, "--data-path-port", "4790", "--default-addr-pool", "10.20.0.0/16",
            "--default-addr-pool", "10.30.0.0/16", "--default-addr-pool-mask-length", "26",
            "--availability", "drain", "--task-history-limit", "3", "--autolock", "--cert-expiry", "48h")
    await A("node1", "GET", "/swarm")
    await A("node1", "GET", "/info")
    await C("node1", "info")
    _, uk = await api(n1, "GET", lab.api_prefix + "/swarm/unlockkey", direct=True)
    lab.label("locked/restart")
    await n1.stop()
    await n1.start()
    await raw(n1, "HEAD", "/_ping")
    await A("node1", "GET", "/info")
    await C("node1", "info", "--format", "{{json .Swarm}}")
    await A("node1", "GET", "/swarm")
    await A("node1", "GET", "/nodes")
    await C("node1", "node", "ls")
    await A("node1", "POST", "/swarm/unlock", {"UnlockKey": "SWMKEY-1-wrong"})
    await A("node1", "POST", "/swarm/unlock", {"UnlockKey": "nonsense"})
    await A("node1", "POST", "/swarm/unlock", {"UnlockKey": uk["UnlockKey"]})
    await A("node1", "GET", "/info")
    await C("node1", "node", "ls")
    await C("node1", "swarm", "leave", "--force")
    lab.label("init/advertise-iface")
    await C("node1", "swarm", "init", "--advertise-addr", "eth0")
    await A("node1", "GET", "/info")
    await C("node1", "swarm", "leave", "--force")
    lab.label("init/no-advertise-addr")
    await C("node1", "swarm", "init")
    await C("node1", "swarm", "leave", "--force")
    lab.label("init/no-advertise-addr-two-ips")
    lab.ul.run("node1", "ip", "addr", "add", "192.168.10.111/24", "dev", "eth0")
    await C("node1", "swarm", "init")
    await reset("node1")
    lab.label("join/no-advertise-addr-two-ips")
    await C("node1", "swarm", "init", "--advertise-addr", n1.ip)
    _, t, _ = await C("node1", "swarm", "join-token", "-q", "worker")
    lab.ul.run("node2", "ip", "addr", "add", "192.168.10.112/24", "dev", "eth0")
    await C("node2", "swarm", "join", "--token", t.strip(), man)
    lab.label("nodes/rm-force-up-worker")
    await C("node1", "node", "rm", "--force", "node2")
    await asyncio.sleep(3)
    await C("node1", "node", "ls")
    await raw(n2, "HEAD", "/_ping")
    await A("node2", "GET", "/info")
    await C("node2", "info", "--format", "{{json .Swarm}}")
    await C("node2", "swarm", "leave")
    await A("node2", "GET", "/info")
    await reset("node2")
    await reset("node1")


# ----------------------------------------------------------------------------
# curation: captures.jsonl -> small per-topic JSON files for the reference doc
KEEP_FULL = {"manager/swarm", "manager/info", "worker/routes", "nodes/list", "nodes/inspect",
             "heartbeat/down-node", "heartbeat/kill-manager-3", "init/all-options", "manager2/info",
             "join/pending-state", "inactive/routes"}


def _template(path: str) -> str:
    import re
    path = path.split("?")[0]
    path = re.sub(r"^/v1\.\d+", "", path)
    return re.sub(r"/[0-9a-z]{25}(?=/|$)", "/{id}", path)


def curate(out: str) -> None:
    with open(os.path.join(out, "captures.jsonl")) as f:
        recs = [json.loads(ln) for ln in f]
    groups: dict[str, list] = {}
    seen_full: set = set()
    for r in recs:
        group = r["label"].split("/")[0]
        if r["kind"] == "version":
            groups.setdefault("meta", []).append({"label": r["label"], "version": r["version"]})
            continue
        if r["kind"] == "cli":
            groups.setdefault(group, []).append({
                "label": r["label"], "node": r["node"], "cli": " ".join(r["argv"]), "rc": r["rc"],
                "stdout": r["stdout"], "stderr": r["stderr"], "elapsed": r["elapsed"]})
            continue
        if r["kind"] != "http":
            continue
        if r["path"] == "/_ping" and r["method"] == "HEAD" and not r["label"].endswith("ping") \
                and any(k == "User-Agent" and v.startswith("Docker-Client") for k, v in r["req_headers"]):
            continue  # the CLI's HEAD /_ping before every command: shown in */ping labels
        def body(b):
            if isinstance(b, str) and b:
                try:
                    return json.loads(b)
                except ValueError:
                    return b
            return b
        rb = body(r["resp_body"])
        key = (r["method"], _template(r["path"]), r["status"])
        full = key not in seen_full or (r["label"] in KEEP_FULL and (key, r["label"]) not in seen_full)
        seen_full.add(key)
        seen_full.add((key, r["label"]))
        if isinstance(rb, dict) and _template(r["path"]) == "/info" and r["status"] == 200 and not (
                full and r["label"] in ("inactive/routes", "manager/info", "worker/routes")):
            rb = {"Swarm": rb.get("Swarm"), "...": "other /info keys omitted"}
        elif not full and isinstance(rb, (dict, list)):
            rb = f"<omitted: same shape as the first {key[0]} {key[1]} {key[2]} in this file set>"
        rec = {"label": r["label"], "node": r["node"], "request": f"{r['method']} {r['path']}",
               "req_headers": [h for h in r["req_headers"] if h[0] in ("Content-Type", "Content-Length", "User-Agent")],
               "req_body": body(r["req_body"]), "status": r["status_line"].split(" ", 1)[1],
               "resp_headers": [h for h in r["resp_headers"] if h[0] != "Date"],
               "resp_body": rb, "elapsed": r["elapsed"]}
        groups.setdefault(group, []).append(rec)
    cdir = os.path.join(out, "curated")
    os.makedirs(cdir, exist_ok=True)
    for g, items in groups.items():
        with open(os.path.join(cdir, f"{g}.json"), "w") as f:
            # one record per line: small, greppable, diffable
            f.write("[\n" + ",\n".join(json.dumps(i, separators=(",", ":")) for i in items) + "\n]\n")
    shutil.copy(os.path.join(out, "timings.json"), os.path.join(cdir, "timings.json"))


async def amain(a):
    lab = Lab(a.out, a.keep_root)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, task.cancel)
    try:
        await lab.setup()
        await scenario(lab)
    finally:
        with open(os.path.join(a.out, "timings.json"), "w") as f:  # noqa: ASYNC230 -- after the scenario
            json.dump(lab.timings, f, indent=1)
        print(json.dumps(lab.timings, indent=1))
        try:
            await asyncio.shield(lab.teardown())
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 -- whatever failed, kill by pid and drop the namespaces
            lab.teardown_sync()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="/tmp/swarmref-out")
    p.add_argument("--keep-root", action="store_true")
    p.add_argument("--curate-only", action="store_true", help="only rewrite OUT/curated from OUT/captures.jsonl")
    a = p.parse_args()
    if a.curate_only:
        curate(a.out)
        return
    if os.geteuid() != 0:
        sys.exit("needs root")
    try:
        asyncio.run(amain(a))
    except asyncio.CancelledError:
        sys.exit(130)
    curate(a.out)


if __name__ == "__main__":
    main()
