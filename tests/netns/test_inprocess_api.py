"""libnetwork.Controller works in-process, without the daemon, for embedding runtimes."""

from __future__ import annotations

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
