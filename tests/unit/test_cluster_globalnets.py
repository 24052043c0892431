"""Swarm-scoped networks allocated over the store contract (the memory store here; etcd in the daemon)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from libnetwork.cluster.globalnets import VNI_FIRST, GlobalNetworks, SubnetRequest
from libnetwork.errors import Conflict, Forbidden, NoAvailableAddress
from libnetwork.store.api import Scope
from libnetwork.store.local import LocalKV
from libnetwork.store.memory import MemoryStore

_clock = itertools.count()


def _now() -> str:
    return f"2026-12-06T00:00:{next(_clock):02d}.000000000Z"


def managers(count: int = 1, **kwargs):
    store = LocalKV(MemoryStore(Scope.GLOBAL))
    return [GlobalNetworks(store, now=_now, **kwargs) for _ in range(count)]


def run(coro):
    return asyncio.run(coro)


def test_default_pool_hands_out_24s_and_serial_vnis() -> None:
    (allocator,) = managers()

    async def scenario():
        first = await allocator.create("a" * 64, "one", "overlay", subnets=[])
        second = await allocator.create("b" * 64, "two", "overlay", subnets=[])
        return first, second

    first, second = run(scenario())
    assert [s.subnet for s in first.subnets] == ["10.0.0.0/24"] and first.subnets[0].gateway == "10.0.0.1"
    assert [s.subnet for s in second.subnets] == ["10.0.1.0/24"]
    assert (first.vnis, second.vnis) == ([VNI_FIRST], [VNI_FIRST + 1])
    assert second.driver_options()["com.docker.network.driver.overlay.vxlanid_list"] == str(VNI_FIRST + 1)


def test_swarm_pools_and_size_are_used() -> None:
    (allocator,) = managers(pools=["10.20.0.0/16"], subnet_size=26)
    network = run(allocator.create("c" * 64, "n", "overlay", subnets=[]))
    assert network.subnets[0].subnet == "10.20.0.0/26"


def test_overlap_and_name_conflicts_leave_nothing() -> None:
    (allocator,) = managers()

    async def scenario():
        await allocator.create("a" * 64, "one", "overlay", subnets=[SubnetRequest(subnet="10.9.0.0/16")])
        with pytest.raises(Forbidden, match="Pool overlaps"):
            await allocator.create("b" * 64, "two", "overlay", subnets=[SubnetRequest(subnet="10.9.3.0/24")])
        with pytest.raises(Conflict, match="already exists"):
            await allocator.create("c" * 64, "one", "overlay", subnets=[])
        return await allocator.all()

    assert [n.name for n in run(scenario())] == ["one"]


def test_two_managers_at_once_never_collide() -> None:
    allocators = managers(2)

    async def scenario():
        made = await asyncio.gather(*(
            allocators[i % 2].create(f"{i:064x}", f"net{i}", "overlay", subnets=[]) for i in range(12)))
        return made

    made = run(scenario())
    subnets = [n.subnets[0].subnet for n in made]
    vnis = [n.vnis[0] for n in made]
    assert len(set(subnets)) == 12 and len(set(vnis)) == 12


def test_addresses_unique_released_and_exhausted() -> None:
    (allocator,) = managers(subnet_size=30)

    async def scenario():
        network = await allocator.create("a" * 64, "tiny", "overlay", subnets=[])
        only = await allocator.allocate_address(network.id)  # a /30: the gateway has .1, .2 is the last
        with pytest.raises(NoAvailableAddress):
            await allocator.allocate_address(network.id)
        with pytest.raises(Forbidden, match="in use"):
            await allocator.delete(network.id)
        await allocator.release_address(network.id, only)
        again = await allocator.allocate_address(network.id, "10.0.0.2")
        with pytest.raises(Forbidden, match="Address already in use"):
            await allocator.allocate_address(network.id, "10.0.0.2")
        await allocator.release_address(network.id, again)
        await allocator.delete(network.id)
        return only, again, await allocator.all()

    only, again, left = run(scenario())
    assert only == again == "10.0.0.2/30" and left == []


def test_concurrent_address_allocation_is_unique() -> None:
    allocators = managers(3)

    async def scenario():
        network = await allocators[0].create("a" * 64, "n", "overlay", subnets=[])
        return await asyncio.gather(*(allocators[i % 3].allocate_address(network.id) for i in range(30)))

    addresses = run(scenario())
    assert len(set(addresses)) == 30 and "10.0.0.1/24" not in addresses
