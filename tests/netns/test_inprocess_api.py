"""libnetwork.Controller works in-process, without the daemon, for embedding runtimes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid

from libnetwork.testing import add_netns, delete_netns

SCRIPT = textwrap.dedent("""
    import asyncio, json, subprocess, sys
    from libnetwork import Controller, Settings
    from libnetwork.requests import NetworkAttachment, NetworkCreate, SandboxCreate, SubnetRequest
    import ipaddress

    async def main(root):
        ctl = Controller(Settings(data_root=root + "/data", exec_root=root + "/exec"))
        await ctl.start()
        try:
            net = await ctl.create_network(NetworkCreate(
                name="embedded", subnets=(SubnetRequest(subnet=ipaddress.ip_network("10.90.0.0/24")),)))
            a = await ctl.create_sandbox(SandboxCreate(name="a", networks=(NetworkAttachment("embedded"),)))
            b = await ctl.create_sandbox(SandboxCreate(name="b", networks=(NetworkAttachment("embedded"),)))
            ping = subprocess.run(["nsenter", "--net=" + ctl.netns_path(a), "ping", "-c", "1", "-W", "2",
                                   "10.90.0.3"], capture_output=True)
            print(json.dumps({"ping": ping.returncode,
                              "ips": [str(e.ipv4) for e in ctl.network_endpoints(net.id)]}))
            for box in (a, b):
                await ctl.delete_sandbox(box.id, force=True)
            await ctl.delete_network(net.id)
        finally:
            await ctl.close()

    asyncio.run(main(sys.argv[1]))
""")


def test_controller_in_process():
    name = f"cnmt-{uuid.uuid4().hex[:8]}"
    root = tempfile.mkdtemp(prefix=f"{name}-")
    path = add_netns(name)
    try:
        result = subprocess.run(["nsenter", f"--net={path}", sys.executable, "-c", SCRIPT, root],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        out = result.stdout.strip().splitlines()[-1]
        assert '"ping": 0' in out and "10.90.0.2/24" in out and "10.90.0.3/24" in out
    finally:
        subprocess.run(["umount", "-l", f"{root}/exec/netns"], stderr=subprocess.DEVNULL)
        delete_netns(name)
        shutil.rmtree(root, ignore_errors=True)


SERVICES_SCRIPT = textwrap.dedent("""
    import asyncio, ipaddress, json, subprocess, sys
    from libnetwork import Controller, Settings
    from libnetwork.requests import EndpointRequest, NetworkAttachment, NetworkCreate, SandboxCreate, SubnetRequest
    from libnetwork.service_binding import IngressPort, ServiceBinding

    WEB = ServiceBinding("svc-web", "web", vip=ipaddress.IPv4Interface("10.91.0.200/24"), aliases=("www",),
                         ingress_ports=(IngressPort("tcp", 8080, 80),))
    DB = ServiceBinding("svc-db", "db", "dnsrr")

    def ask(ctl, sandbox, name):
        out = subprocess.run(["nsenter", "--net=" + ctl.netns_path(sandbox), sys.executable, sys.argv[2], "query",
                              name, "A"], capture_output=True, text=True, timeout=30)
        return sorted(json.loads(out.stdout).get("answers", []))

    async def main(root):
        settings = Settings(data_root=root + "/data", exec_root=root + "/exec")
        ctl = Controller(settings)
        await ctl.start()
        net = await ctl.create_network(NetworkCreate(
            name="services", subnets=(SubnetRequest(subnet=ipaddress.ip_network("10.91.0.0/24")),)))
        task = await ctl.create_sandbox(SandboxCreate(name="web.1.x", networks=(
            NetworkAttachment("services", EndpointRequest(aliases=("one",), service=WEB)),)))
        client = await ctl.create_sandbox(SandboxCreate(name="client", networks=(NetworkAttachment("services"),)))
        db = await ctl.create_sandbox(SandboxCreate(name="db.1.x"))
        await ctl.connect("services", db.id, EndpointRequest(service=DB))
        result = {
            "task": [e.service == WEB for e in ctl.sandbox_endpoints(task.id)],
            "db_record": [e.service == DB for e in ctl.sandbox_endpoints(db.id) if e.network_id == net.id],
            "client": [e.service for e in ctl.sandbox_endpoints(client.id)],
            "bindings": sorted(ctl.services.bindings(net.id)),
            "web": ask(ctl, client, "web"), "tasks.web": ask(ctl, client, "tasks.web"),
            "one": ask(ctl, client, "one"), "db": ask(ctl, client, "db"),
        }
        await ctl.close()
        # A restart reads the bindings back from the store and answers the same.
        ctl = Controller(settings)
        await ctl.start()
        try:
            result["restored"] = [e.service == WEB for e in ctl.sandbox_endpoints(task.id)]
            result["web_after_restart"] = ask(ctl, client, "web")
            await ctl.delete_sandbox(task.id, force=True)
            result["bindings_after_delete"] = sorted(ctl.services.bindings(net.id))
            result["web_after_delete"] = ask(ctl, client, "web")
            for box in (client, db):
                await ctl.delete_sandbox(box.id, force=True)
            await ctl.delete_network(net.id)
        finally:
            await ctl.close()
        print(json.dumps(result))

    asyncio.run(main(sys.argv[1]))
""")


def test_in_process_sandboxes_carry_service_bindings_to_records_and_dns():
    name = f"cnmt-{uuid.uuid4().hex[:8]}"
    root = tempfile.mkdtemp(prefix=f"{name}-")
    path = add_netns(name)
    client = os.path.join(os.path.dirname(__file__), "dns_client.py")
    try:
        result = subprocess.run(["nsenter", f"--net={path}", sys.executable, "-c", SERVICES_SCRIPT, root, client],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout.strip().splitlines()[-1])
        ips = {key: out[key] for key in ("tasks.web", "one", "db")}
        assert out["task"] == [True] and out["db_record"] == [True] and out["client"] == [None], out
        assert out["bindings"] == ["svc-db", "svc-web"], out
        assert out["web"] == ["10.91.0.200"] and len(ips["tasks.web"]) == 1 and ips["one"] == ips["tasks.web"], out
        assert len(out["db"]) == 1 and out["db"] != ips["tasks.web"], out
        assert out["restored"] == [True] and out["web_after_restart"] == ["10.91.0.200"], out
        assert out["bindings_after_delete"] == ["svc-db"] and out["web_after_delete"] == [], out
    finally:
        subprocess.run(["umount", "-l", f"{root}/exec/netns"], stderr=subprocess.DEVNULL)
        delete_netns(name)
        shutil.rmtree(root, ignore_errors=True)
