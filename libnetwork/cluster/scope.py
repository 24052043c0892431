"""Swarm networks as the controller asks for them (``libnetwork.swarm_scope.SwarmScope``), over the swarm.

On a manager the answers come from etcd (``globalnets``); a worker asks a
manager over the cluster port, as dockerd's workers ask theirs, and never
reads etcd.  Definitions travel as the allocator stores them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ..errors import CnmError, Forbidden, InvalidParameter, Unavailable
from ..ids import generate_id
from ..store.api import EventType
from ..swarm_scope import NOT_A_MANAGER, CreateRequest, GlobalNetworkView, GlobalSubnet
from . import records
from .ca import NodeIdentity
from .etcdstore import EtcdKV
from .globalnets import NETWORK_PREFIX, VNI_OPTION, GlobalNetwork, GlobalNetworks, SubnetRequest
from .swarm import WORKER_NOT_MANAGER, Swarm

log = logging.getLogger("cnmd")
FOLLOW_RETRY = 1.0
INGRESS = "ingress"


def view(network: GlobalNetwork) -> GlobalNetworkView:
    return GlobalNetworkView(
        id=network.id, name=network.name, driver=network.driver, created=network.created,
        subnets=tuple(GlobalSubnet(s.subnet, s.gateway, s.ip_range) for s in network.subnets),
        attachable=network.attachable, internal=network.internal, ingress=network.ingress,
        enable_ipv6=network.enable_ipv6, options=network.driver_options(), labels=dict(network.labels))


def _vnis(text: str) -> list[int]:
    """The user's own ``-o com.docker.network.driver.overlay.vxlanid_list`` (Docker lets one be given)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidParameter(f"invalid {VNI_OPTION} value: {text!r}") from None


class SwarmNetworks:
    """``SwarmScope`` of a cnmd in a swarm (or not yet: it answers as dockerd then)."""

    def __init__(self, swarm: Swarm):
        self.swarm = swarm
        self._ingress: tuple[str, GlobalNetworkView] | None = None
        swarm.on_init.append(self._create_ingress)
        swarm.manager_calls.update({
            "network.find": self._serve_find, "address.allocate": self._serve_allocate,
            "address.release": self._serve_release,
        })

    @property
    def active(self) -> bool:
        return self.swarm.state is not None

    def local_address(self) -> tuple[str, str] | None:
        # From the disk: a restarting node knows its address before its swarm is back up.
        state = self.swarm.state or self.swarm.local.load()
        return None if state is None else (state.advertise_addr, state.data_path_addr)

    async def allocator(self) -> GlobalNetworks:
        if self.swarm.state is None:
            raise Forbidden(NOT_A_MANAGER)
        if not self.swarm.is_manager:
            raise Unavailable(WORKER_NOT_MANAGER)
        cluster, _ = await self.swarm.cluster()
        return GlobalNetworks(self.swarm.kv, pools=cluster.default_addr_pool, subnet_size=cluster.subnet_size,
                              now=records.now_text)

    async def create_network(self, nid: str, request: CreateRequest) -> GlobalNetworkView:
        allocator = await self.allocator()
        options = dict(request.options)
        wanted = _vnis(options.pop(VNI_OPTION, ""))
        network = await allocator.create(
            nid, request.name, request.driver, vnis=wanted,
            subnets=[SubnetRequest(subnet=s.subnet, gateway=s.gateway, ip_range=s.ip_range) for s in request.subnets],
            attachable=request.attachable, internal=request.internal, ingress=request.ingress,
            enable_ipv6=request.enable_ipv6, options=options, labels=dict(request.labels))
        return view(network)

    async def _create_ingress(self) -> None:
        """Docker's routing-mesh network, made with the swarm (the first subnet of its pool, the first VNI)."""
        allocator = await self.allocator()
        await allocator.create(generate_id(), INGRESS, "overlay", subnets=[], ingress=True)

    async def find_network(self, reference: str) -> GlobalNetworkView:
        if self.swarm.is_manager:
            return view(await (await self.allocator()).find(reference))
        answer = await self.swarm.call_managers("network.find", {"reference": reference})
        return view(msgspec.convert(answer, GlobalNetwork))

    async def delete_network(self, nid: str) -> None:
        await (await self.allocator()).delete(nid)

    async def allocate_address(self, nid: str, wanted: str | None, v6: bool) -> str:
        if self.swarm.is_manager:
            return await (await self.allocator()).allocate_address(nid, wanted, v6=v6)
        answer = await self.swarm.call_managers("address.allocate", {"network": nid, "wanted": wanted, "v6": v6})
        return str(answer["address"])

    async def release_address(self, nid: str, address: str) -> None:
        if self.swarm.is_manager:
            await (await self.allocator()).release_address(nid, address)
            return
        await self.swarm.call_managers("address.release", {"network": nid, "address": address})

    # -- managers follow every definition -----------------------------------------------------------

    async def follow(self, appeared: Callable[[GlobalNetworkView], Awaitable[None]],
                     gone: Callable[[set[str]], Awaitable[None]]) -> None:
        """While this node is a manager, have an instance of every swarm network (``network ls`` lists them
        all, as on dockerd's managers); out of the swarm, none.  ``gone`` gets the IDs that remain."""
        while True:
            if self.swarm.is_manager and self.swarm.raw_kv is not None:
                try:
                    await self._follow_once(self.swarm.raw_kv, appeared, gone)
                except (CnmError, OSError) as err:
                    log.debug("following swarm networks failed", extra={"error": str(err)})
            else:
                # a worker (or a node in no swarm) keeps a swarm network only while attached, as dockerd's,
                # but for ingress, which every node of a swarm has
                kept = set()
                with contextlib.suppress(CnmError, OSError):
                    ingress = await self._ingress_of_worker()
                    if ingress is not None:
                        await appeared(ingress)
                        kept.add(ingress.id)
                await gone(kept)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.swarm.changed.wait(), FOLLOW_RETRY)
            self.swarm.changed.clear()

    async def _ingress_of_worker(self) -> GlobalNetworkView | None:
        """The swarm's ingress definition, asked of a manager once per swarm this worker joins."""
        state = self.swarm.state
        if state is None:
            self._ingress = None
            return None
        if self._ingress is None or self._ingress[0] != state.cluster_id:
            found = await self.find_network(INGRESS)
            self._ingress = (state.cluster_id, found)
        return self._ingress[1]

    async def _follow_once(self, kv: EtcdKV, appeared: Callable[[GlobalNetworkView], Awaitable[None]],
                           gone: Callable[[set[str]], Awaitable[None]]) -> None:
        listing = await kv.list(NETWORK_PREFIX)
        known = {}
        for entry in listing.entries:
            network = msgspec.json.decode(entry.value, type=GlobalNetwork)
            known[entry.key] = network.id
            await appeared(view(network))
        await gone(set(known.values()))
        async with kv.watch(NETWORK_PREFIX, start_revision=listing.revision + 1) as changes:
            async for change in changes:
                if change.type is EventType.PUT and change.value is not None:
                    network = msgspec.json.decode(change.value, type=GlobalNetwork)
                    known[change.key] = network.id
                    await appeared(view(network))
                elif change.type is EventType.DELETE:
                    known.pop(change.key, None)
                    await gone(set(known.values()))
                if not self.swarm.is_manager:
                    return

    # -- a manager answering workers --------------------------------------------------------------

    async def _serve_find(self, caller: NodeIdentity, body: dict[str, Any]) -> dict[str, Any]:
        network = await (await self.allocator()).find(str(body.get("reference", "")))
        return dict(msgspec.to_builtins(network))

    async def _serve_allocate(self, caller: NodeIdentity, body: dict[str, Any]) -> dict[str, Any]:
        wanted = body.get("wanted")
        address = await (await self.allocator()).allocate_address(
            str(body["network"]), str(wanted) if wanted else None, v6=bool(body.get("v6")))
        return {"address": address}

    async def _serve_release(self, caller: NodeIdentity, body: dict[str, Any]) -> dict[str, Any]:
        await (await self.allocator()).release_address(str(body["network"]), str(body["address"]))
        return {}
