#!/usr/bin/env python3
"""rbridge: a Docker network and IPAM plugin (remote driver protocol) in one file.

It serves Docker's ``NetworkDriver`` and ``IpamDriver`` protocols on a unix
socket in the plugin directory, so Docker (or any daemon that speaks the
protocol, such as cnmd) finds it by its file name:
``/run/docker/plugins/rbridge.sock`` is the driver ``rbridge``.  Each
network is a Linux bridge holding the gateway address; each endpoint a veth
pair with one end on the bridge, the other handed to the daemon, which moves
it into the container.  As IPAM driver it hands out the addresses of the
subnet it is given, lowest first.

    sudo python3 rbridge.py [--socket /run/docker/plugins/rbridge.sock]
                            [--state /var/lib/rbridge/state.json]
    docker network create -d rbridge --subnet 10.90.0.0/24 mynet
    docker network create -d rbridge --ipam-driver rbridge --subnet 10.91.0.0/24 both

Network options (``-o``): ``rbridge.name=BRIDGE`` (default ``rb-`` and 12
characters of the network ID), ``rbridge.routes=CIDR[,CIDR...]`` (routes
the containers get through the gateway).

State (networks and endpoints) is kept in a JSON file, so a restarted
plugin carries on: the daemon does not tell a plugin again what it already
told it.  Needs root (it makes bridges and veths) and pyroute2.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import logging
import os
import signal
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from pyroute2 import IPRoute, NetlinkError

log = logging.getLogger("rbridge")

CONTENT_TYPE = "application/vnd.docker.plugins.v1+json"
GENERIC = "com.docker.network.generic"


class PluginError(Exception):
    """Becomes {"Err": ...}: the daemon shows the text to its user."""


class Plugin:
    """The driver: one lock around everything, since the server answers requests in threads."""

    def __init__(self, state_path: str):
        self.state_path = state_path
        self.lock = threading.Lock()
        self.ipr = IPRoute()
        self.state: dict[str, dict[str, Any]] = {"networks": {}, "endpoints": {}, "pools": {}}
        if os.path.exists(state_path):
            with open(state_path) as handle:
                self.state.update(json.load(handle))

    def save(self) -> None:
        os.makedirs(os.path.dirname(self.state_path) or ".", exist_ok=True)
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.state, handle, indent=1)
        os.replace(tmp, self.state_path)

    # -- kernel helpers (each one succeeds when done already) --------------------

    def link_index(self, name: str) -> int | None:
        found = self.ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def delete_link(self, name: str) -> None:
        index = self.link_index(name)
        if index is not None:
            try:
                self.ipr.link("del", index=index)
            except NetlinkError as err:
                if err.code != errno.ENODEV:
                    raise

    def ensure_bridge(self, name: str, gateway: ipaddress.IPv4Interface) -> None:
        if self.link_index(name) is None:
            # An address of its own: otherwise the bridge takes its lowest port's
            # MAC, changes it as ports come and go, and sandboxes that still
            # have the old one in their ARP tables lose their gateway for a while.
            first, *rest = os.urandom(6)
            mac = ":".join(f"{b:02x}" for b in ((first & 0xFE) | 0x02, *rest))
            self.ipr.link("add", ifname=name, kind="bridge", address=mac)
        index = self.link_index(name)
        try:
            self.ipr.addr("add", index=index, address=str(gateway.ip), prefixlen=gateway.network.prefixlen)
        except NetlinkError as err:
            if err.code != errno.EEXIST:
                raise
        self.ipr.link("set", index=index, state="up")

    # -- the protocol -------------------------------------------------------------

    def activate(self, _request: dict) -> dict:
        return {"Implements": ["NetworkDriver", "IpamDriver"]}

    def get_capabilities(self, _request: dict) -> dict:
        return {"Scope": "local", "ConnectivityScope": "local"}

    def create_network(self, request: dict) -> dict:
        nid = request["NetworkID"]
        options = (request.get("Options") or {}).get(GENERIC) or {}
        ipv4 = request.get("IPv4Data") or []
        if not ipv4 or not ipv4[0].get("Gateway"):
            raise PluginError("rbridge needs an IPv4 subnet with a gateway")
        gateway = ipaddress.IPv4Interface(ipv4[0]["Gateway"])
        routes = [r.strip() for r in options.get("rbridge.routes", "").split(",") if r.strip()]
        for route in routes:
            try:
                ipaddress.IPv4Network(route)
            except ValueError:
                raise PluginError(f"rbridge.routes: {route!r} is not an IPv4 CIDR") from None
        bridge = options.get("rbridge.name") or f"rb-{nid[:12]}"
        self.ensure_bridge(bridge, gateway)
        self.state["networks"][nid] = {"bridge": bridge, "gateway": str(gateway.ip), "routes": routes,
                                       "address_space": ipv4[0].get("AddressSpace", "")}
        self.save()
        log.info("network %s: bridge %s, gateway %s", nid[:12], bridge, gateway)
        return {}

    def delete_network(self, request: dict) -> dict:
        network = self.state["networks"].pop(request["NetworkID"], None)
        if network is not None:
            self.delete_link(network["bridge"])
            self.save()
        return {}

    def create_endpoint(self, request: dict) -> dict:
        nid, eid = request["NetworkID"], request["EndpointID"]
        if nid not in self.state["networks"]:
            raise PluginError(f"no network {nid}")
        interface = request.get("Interface") or {}
        address = interface.get("Address")
        if not address:
            raise PluginError("rbridge needs the daemon's IPAM to give the endpoint an IPv4 address")
        mac = interface.get("MacAddress") or "02:42:" + ":".join(
            f"{b:02x}" for b in ipaddress.IPv4Interface(address).ip.packed)
        self.state["endpoints"][eid] = {"network": nid, "address": address, "mac": mac}
        self.save()
        # A MAC address the daemon gave stays; otherwise this one is ours to choose.
        return {} if interface.get("MacAddress") else {"Interface": {"MacAddress": mac}}

    def delete_endpoint(self, request: dict) -> dict:
        eid = request["EndpointID"]
        self.delete_link(veth_names(eid)[0])
        if self.state["endpoints"].pop(eid, None) is not None:
            self.save()
        return {}

    def endpoint_oper_info(self, request: dict) -> dict:
        endpoint = self.state["endpoints"].get(request["EndpointID"]) or {}
        return {"Value": {"mac": endpoint.get("mac", "")}}

    def join(self, request: dict) -> dict:
        eid = request["EndpointID"]
        endpoint = self.state["endpoints"].get(eid)
        if endpoint is None:
            raise PluginError(f"no endpoint {eid}")
        network = self.state["networks"][endpoint["network"]]
        host_side, container_side = veth_names(eid)
        if self.link_index(host_side) is None:
            self.ipr.link("add", ifname=host_side, kind="veth",
                          peer={"ifname": container_side, "address": endpoint["mac"]})
        self.ipr.link("set", index=self.link_index(host_side), master=self.link_index(network["bridge"]),
                      state="up")
        return {
            "InterfaceName": {"SrcName": container_side, "DstPrefix": "eth"},
            "Gateway": network["gateway"],
            "StaticRoutes": [{"Destination": r, "RouteType": 0, "NextHop": network["gateway"]}
                             for r in network["routes"]],
        }

    def leave(self, request: dict) -> dict:
        self.delete_link(veth_names(request["EndpointID"])[0])
        return {}

    def discover(self, _request: dict) -> dict:
        return {}

    # -- IPAM ------------------------------------------------------------------------

    def ipam_capabilities(self, _request: dict) -> dict:
        return {"RequiresMACAddress": False, "RequiresRequestReplay": False}

    def address_spaces(self, _request: dict) -> dict:
        return {"LocalDefaultAddressSpace": LOCAL_SPACE, "GlobalDefaultAddressSpace": GLOBAL_SPACE}

    def request_pool(self, request: dict) -> dict:
        if request.get("AddressSpace") not in (LOCAL_SPACE, GLOBAL_SPACE):
            raise PluginError(f"unknown address space {request.get('AddressSpace')!r}")
        if not request.get("Pool") or request.get("SubPool"):
            raise PluginError("rbridge IPAM needs a --subnet, and takes no --ip-range")
        pool = ipaddress.ip_network(request["Pool"])
        pool_id = f"{request['AddressSpace']}/{pool}"
        for other_id, other in self.state["pools"].items():
            if other_id != pool_id and ipaddress.ip_network(other["pool"]).overlaps(pool):
                raise PluginError(f"{pool} overlaps {other['pool']}")
        self.state["pools"].setdefault(pool_id, {"pool": str(pool), "allocated": []})
        self.save()
        return {"PoolID": pool_id, "Pool": str(pool), "Data": {}}

    def release_pool(self, request: dict) -> dict:
        if self.state["pools"].pop(request["PoolID"], None) is not None:
            self.save()
        return {}

    def request_address(self, request: dict) -> dict:
        pool = self.state["pools"].get(request["PoolID"])
        if pool is None:
            raise PluginError(f"no pool {request['PoolID']}")
        network = ipaddress.ip_network(pool["pool"])
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
        if request.get("Address"):
            address = ipaddress.ip_address(request["Address"])
            if address not in network or str(address) in pool["allocated"]:
                raise PluginError(f"address {address} is not available")
        else:
            address = next((a for a in network.hosts() if str(a) not in pool["allocated"]), None)
            if address is None:
                raise PluginError(f"no free address in {network}")
        pool["allocated"].append(str(address))
        self.save()
        return {"Address": f"{address}/{network.prefixlen}", "Data": {}}

    def release_address(self, request: dict) -> dict:
        pool = self.state["pools"].get(request["PoolID"])
        if pool is not None and request.get("Address") in pool["allocated"]:
            pool["allocated"].remove(request["Address"])
            self.save()
        return {}


LOCAL_SPACE, GLOBAL_SPACE = "rbridge-local", "rbridge-global"


def veth_names(eid: str) -> tuple[str, str]:
    return f"rbh{eid[:10]}", f"rbc{eid[:10]}"


ROUTES = {
    "/Plugin.Activate": Plugin.activate,
    "/NetworkDriver.GetCapabilities": Plugin.get_capabilities,
    "/NetworkDriver.CreateNetwork": Plugin.create_network,
    "/NetworkDriver.DeleteNetwork": Plugin.delete_network,
    "/NetworkDriver.CreateEndpoint": Plugin.create_endpoint,
    "/NetworkDriver.DeleteEndpoint": Plugin.delete_endpoint,
    "/NetworkDriver.EndpointOperInfo": Plugin.endpoint_oper_info,
    "/NetworkDriver.Join": Plugin.join,
    "/NetworkDriver.Leave": Plugin.leave,
    "/NetworkDriver.DiscoverNew": Plugin.discover,
    "/NetworkDriver.DiscoverDelete": Plugin.discover,
    "/IpamDriver.GetCapabilities": Plugin.ipam_capabilities,
    "/IpamDriver.GetDefaultAddressSpaces": Plugin.address_spaces,
    "/IpamDriver.RequestPool": Plugin.request_pool,
    "/IpamDriver.ReleasePool": Plugin.release_pool,
    "/IpamDriver.RequestAddress": Plugin.request_address,
    "/IpamDriver.ReleaseAddress": Plugin.release_address,
    # ProgramExternalConnectivity and RevokeExternalConnectivity are left
    # out: a plugin answers 404 for calls it does not implement, and the
    # daemon goes on without them (this plugin publishes no ports).
}


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def make_handler(plugin: Plugin):
    class Handler(BaseHTTPRequestHandler):
        def address_string(self) -> str:
            return "daemon"

        def log_message(self, fmt: str, *args) -> None:
            log.debug(fmt, *args)

        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            route = ROUTES.get(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if route is None:
                self.reply(404, {"Err": f"{self.path} is not implemented"})
                return
            try:
                request = json.loads(raw) if raw.strip() else {}
            except ValueError as err:
                self.reply(400, {"Err": f"invalid JSON: {err}"})
                return
            try:
                with plugin.lock:
                    answer = route(plugin, request)
            except (PluginError, KeyError, ValueError, NetlinkError, OSError) as err:
                log.warning("%s failed: %s", self.path, err)
                self.reply(500, {"Err": str(err)})
                return
            self.reply(200, answer)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default="/run/docker/plugins/rbridge.sock")
    parser.add_argument("--state", default="/var/lib/rbridge/state.json")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s rbridge %(levelname)s %(message)s", stream=sys.stderr)
    plugin = Plugin(args.state)
    os.makedirs(os.path.dirname(args.socket), exist_ok=True)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = UnixHTTPServer(args.socket, make_handler(plugin))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("serving on %s", args.socket)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        # The daemon finds plugins by their socket: gone with the plugin.
        if os.path.exists(args.socket):
            os.unlink(args.socket)


if __name__ == "__main__":
    main()
