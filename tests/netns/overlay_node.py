"""One host of the overlay data plane test, driven over stdin/stdout by test_overlay_dataplane.py.

Run inside a host namespace: ``python3 overlay_node.py ROOT``.  It holds an
overlay driver as the daemon would (data and exec roots under ROOT) and plays
the sandbox layer with the daemon's own code (``Sandboxes.attach`` moves,
renames and addresses the interface a join names).  Each stdin line is one
JSON request ``{"op": ..., ...}``; each answer is one JSON line, ``{"ok": ...}``
or ``{"error": ..., "status": ...}``.  ``restart`` drops the driver (memory
lost, kernel objects kept) as a daemon restart does; ``quit`` removes what
the driver and the sandboxes made, then exits.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import traceback
from typing import Any

from libnetwork.drivers.api import (
    DriverContext,
    EndpointConfig,
    NetworkConfig,
    Peer,
    SandboxInfo,
    SubnetData,
)
from libnetwork.drivers.overlay import create_driver
from libnetwork.drivers.overlay.dataplane import namespace_path
from libnetwork.drivers.overlay.driver import OverlayDriver
from libnetwork.errors import CnmError
from libnetwork.netlink import Netlink
from libnetwork.sandbox_kernel import Attachment, Sandboxes


class Node:
    def __init__(self, root: str):
        self.root = root
        self.context = DriverContext(data_root=os.path.join(root, "data"), exec_root=os.path.join(root, "exec"))
        self.driver: OverlayDriver = create_driver(self.context)
        self.sandboxes = Sandboxes(Netlink(), os.path.join(root, "sandboxes"))
        self.networks: set[str] = set()

    def sandbox_path(self, name: str) -> str:
        return self.sandboxes.path_for(name)

    def handle(self, req: dict[str, Any]) -> Any:
        op = req["op"]
        if op == "discover":
            self.driver.discover_new(req["address"], req.get("bind_address", ""), self_node=True)
        elif op == "create_network":
            self.create_network(req)
        elif op == "create_endpoint":
            info = self.driver.create_endpoint(EndpointConfig(
                nid=req["nid"], eid=req["eid"], ipv4=ipaddress.IPv4Interface(req["ip"]), mac=req.get("mac")))
            return {"mac": info.mac}
        elif op == "join":
            return self.join(req)
        elif op == "leave":
            path = self.sandbox_path(req["sandbox"])
            self.sandboxes.detach(path, req["eid"])
            self.driver.leave(req["nid"], req["eid"])
            self.driver.delete_endpoint(req["nid"], req["eid"])
            if req.get("remove_sandbox", True):
                self.sandboxes.remove_namespace(path)
        elif op in ("add_peer", "remove_peer"):
            method = self.driver.add_peer if op == "add_peer" else self.driver.remove_peer
            method(req["nid"], req["eid"], ipaddress.ip_interface(req["ip"]), req["mac"],
                   ipaddress.IPv4Address(req["vtep"]))
        elif op == "reconcile":
            self.driver.reconcile_peers(req["nid"], [
                Peer(p["eid"], ipaddress.ip_interface(p["ip"]), p["mac"], ipaddress.IPv4Address(p["vtep"]))
                for p in req["peers"]])
        elif op == "delete_network":
            self.driver.delete_network(req["nid"])
            self.networks.discard(req["nid"])
        elif op == "restart":
            self.driver = create_driver(self.context)
        else:
            raise ValueError(f"unknown op {op!r}")
        return True

    def create_network(self, req: dict[str, Any]) -> None:
        subnet = ipaddress.IPv4Network(req["subnet"])
        options = dict(req.get("options", {}))
        if "vni" in req:
            options["com.docker.network.driver.overlay.vxlanid_list"] = str(req["vni"])
        self.driver.create_network(NetworkConfig(
            nid=req["nid"], name=req.get("name", req["nid"][:8]), options=options,
            ipv4=(SubnetData(subnet=subnet, gateway=ipaddress.IPv4Interface(f"{req['gateway']}/{subnet.prefixlen}"),
                             address_space="GlobalDefault"),)))
        self.networks.add(req["nid"])

    def join(self, req: dict[str, Any]) -> dict[str, Any]:
        path = self.sandbox_path(req["sandbox"])
        self.sandboxes.ensure_namespace(path)
        info = self.driver.join(req["nid"], req["eid"], SandboxInfo(sid=req["sandbox"], netns_path=path))
        assert info.src_name is not None
        self.sandboxes.attach(path, Attachment(
            eid=req["eid"], src_name=info.src_name, ifname=f"{info.dst_prefix}0", mac=req["mac"], mtu=info.mtu,
            addresses=(ipaddress.IPv4Interface(req["ip"]),)))
        return {"src_name": info.src_name, "mtu": info.mtu,
                "gateway_v4": str(info.gateway_v4) if info.gateway_v4 else None,
                "sandbox_netns": path, "overlay_netns": namespace_path(self.driver.root, req["nid"])}

    def cleanup(self) -> None:
        for path in self.sandboxes.owned_paths():
            self.sandboxes.remove_namespace(path)
        for nid in list(self.networks):
            self.driver.delete_network(nid)


def main(root: str) -> None:
    node = Node(root)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if req["op"] == "quit":
            break
        try:
            answer: dict[str, Any] = {"ok": node.handle(req)}
        except CnmError as err:
            answer = {"error": err.message, "status": err.status, "type": type(err).__name__}
        except Exception as err:  # the test sees it, the node stays up for its cleanup
            answer = {"error": f"{type(err).__name__}: {err}", "status": 500, "type": type(err).__name__,
                      "traceback": traceback.format_exc()}
        print(json.dumps(answer), flush=True)
    node.cleanup()
    print(json.dumps({"bye": True}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
