"""Swarm-scoped networks: their definitions, subnets, VNIs and addresses, allocated in the global store.

What swarmkit's allocator does on the managers, over the store contract
(``KVStore``), so the same code runs on etcd in the daemon and on the memory
store in unit tests.  Every allocation is one compare-and-swap: two managers
allocating at once never hand out the same subnet, VNI or address; the loser
reads again and retries.

Keys (under the store's own prefix):

* ``gnetworks/<id>``: the definition (``GlobalNetwork``).
* ``allocations/subnets``: every subnet in use, with its network; one key, so
  an overlap check and the claim are one transaction.
* ``allocations/vnis``: the VNIs in use (Docker's range starts at 4096).
* ``addresses/<network id>``: the addresses taken in that network, gateway
  included; one key per network, so allocations in unrelated networks do not
  contend.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import msgspec

from ..errors import Conflict, Forbidden, InvalidParameter, NoAvailableAddress, NotFound
from ..store.api import KeyNotFound, KeyValue, Listing, RevisionMismatch

NETWORK_PREFIX = "gnetworks/"
SUBNETS_KEY = "allocations/subnets"
VNIS_KEY = "allocations/vnis"
ADDRESS_PREFIX = "addresses/"
VNI_FIRST, VNI_LAST = 4096, (1 << 24) - 1
DEFAULT_POOL = "10.0.0.0/8"
DEFAULT_SUBNET_SIZE = 24
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
_CAS_ATTEMPTS = 20

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class GlobalSubnet(msgspec.Struct, kw_only=True):
    subnet: str
    gateway: str
    ip_range: str = ""


class GlobalNetwork(msgspec.Struct, kw_only=True):
    id: str
    name: str
    driver: str
    created: str
    subnets: list[GlobalSubnet]
    vnis: list[int]
    attachable: bool = False
    internal: bool = False
    ingress: bool = False
    enable_ipv6: bool = False
    options: dict[str, str] = msgspec.field(default_factory=dict)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    ipam_options: dict[str, str] | None = None

    def driver_options(self) -> dict[str, str]:
        """The options every node's driver gets: the user's, plus the VNIs the managers chose."""
        return {**self.options, VNI_OPTION: ",".join(str(v) for v in self.vnis)}


class SubnetRequest(msgspec.Struct, kw_only=True):
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""


class Store(Protocol):
    """The part of the store contract the allocator uses."""

    async def get(self, key: str) -> KeyValue: ...

    async def put(self, key: str, value: bytes) -> int: ...

    async def cas(self, key: str, value: bytes, expect_revision: int) -> int: ...

    async def delete(self, key: str, *, expect_revision: int | None = None) -> bool: ...

    async def list(self, prefix: str) -> Listing: ...


def network_key(nid: str) -> str:
    return f"{NETWORK_PREFIX}{nid}"


def address_key(nid: str) -> str:
    return f"{ADDRESS_PREFIX}{nid}"


def _encode(value: Any) -> bytes:
    return msgspec.json.encode(value)


class GlobalNetworks:
    """The managers' allocator of swarm-scoped networks over a global ``KVStore``."""

    def __init__(self, store: Store, *, pools: Iterable[str] | None = None, subnet_size: int = DEFAULT_SUBNET_SIZE,
                 now: Callable[[], str]):
        self.store = store
        self.pools = [ipaddress.ip_network(p) for p in (pools or [DEFAULT_POOL])]
        self.subnet_size = subnet_size
        self._now = now

    # -- reading -----------------------------------------------------------------------------

    async def all(self) -> list[GlobalNetwork]:
        listing = await self.store.list(NETWORK_PREFIX)
        return [msgspec.json.decode(e.value, type=GlobalNetwork) for e in listing.entries]

    async def get(self, nid: str) -> GlobalNetwork:
        try:
            entry = await self.store.get(network_key(nid))
        except KeyNotFound:
            raise NotFound(f"network {nid} not found") from None
        return msgspec.json.decode(entry.value, type=GlobalNetwork)

    async def find(self, reference: str) -> GlobalNetwork:
        """By full ID, name, then ID prefix: Docker's order."""
        networks = await self.all()
        for matches in ([n for n in networks if n.id == reference], [n for n in networks if n.name == reference],
                        [n for n in networks if n.id.startswith(reference)]):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidParameter(f"network {reference} is ambiguous ({len(matches)} matches found)")
        raise NotFound(f"network {reference} not found")

    # -- create and delete ------------------------------------------------------------------------

    async def create(self, nid: str, name: str, driver: str, *, subnets: list[SubnetRequest],
                     attachable: bool = False, internal: bool = False, ingress: bool = False,
                     enable_ipv6: bool = False, options: dict[str, str] | None = None,
                     labels: dict[str, str] | None = None, ipam_options: dict[str, str] | None = None,
                     vnis: list[int] | None = None) -> GlobalNetwork:
        if any(n.name == name for n in await self.all()):
            raise Conflict(f"network with name {name} already exists")
        claimed = await self._claim_subnets(nid, subnets)
        try:
            chosen = await self._claim_vnis(nid, vnis or [], sum(1 for s in claimed if ":" not in s.subnet) or 1)
        except BaseException:
            await self._release_subnets(nid)
            raise
        network = GlobalNetwork(
            id=nid, name=name, driver=driver, created=self._now(), subnets=claimed, vnis=chosen,
            attachable=attachable, internal=internal, ingress=ingress, enable_ipv6=enable_ipv6,
            options=dict(options or {}), labels=dict(labels or {}), ipam_options=ipam_options)
        try:
            await self.store.cas(address_key(nid), _encode([s.gateway for s in claimed]), 0)
            await self.store.cas(network_key(nid), _encode(network), 0)
        except BaseException:
            await self._release(nid)
            raise
        # Two managers may have created the same name at once: the later one yields.
        same_name = sorted((n.created, n.id) for n in await self.all() if n.name == name)
        if len(same_name) > 1 and same_name[0][1] != nid:
            await self.delete(nid)
            raise Conflict(f"network with name {name} already exists")
        return network

    async def delete(self, nid: str) -> None:
        taken = await self._addresses(nid)
        network = await self.get(nid)
        gateways = {s.gateway for s in network.subnets}
        in_use = [a for a in taken[0] if a not in gateways]
        if in_use:
            raise Forbidden(f"network {network.name} is in use: {len(in_use)} endpoint address(es) allocated")
        await self._release(nid)

    async def _release(self, nid: str) -> None:
        await self.store.delete(network_key(nid))
        await self.store.delete(address_key(nid))
        await self._release_subnets(nid)
        await self._release_vnis(nid)

    # -- subnets -------------------------------------------------------------------------------------

    async def _claim_subnets(self, nid: str, requests: list[SubnetRequest]) -> list[GlobalSubnet]:
        for _ in range(_CAS_ATTEMPTS):
            used, revision = await self._read_map(SUBNETS_KEY)
            taken = [ipaddress.ip_network(s) for s in used]
            claimed = [self._subnet_for(request, taken, nid) for request in (requests or [SubnetRequest()])]
            for subnet in claimed:
                used[subnet.subnet] = nid
            try:
                await self.store.cas(SUBNETS_KEY, _encode(used), revision)
            except RevisionMismatch:
                continue
            return claimed
        raise Conflict("could not allocate a subnet: the store kept changing")

    def _subnet_for(self, request: SubnetRequest, taken: list[Network], nid: str) -> GlobalSubnet:
        if request.subnet:
            try:
                subnet = ipaddress.ip_network(request.subnet, strict=False)
            except ValueError:
                raise InvalidParameter(f"invalid subnet {request.subnet}") from None
            for other in taken:
                if subnet.version == other.version and subnet.overlaps(other):
                    raise Forbidden(f"Pool overlaps with other one on this address space ({other})")
        else:
            subnet = self._free_subnet(taken)
        taken.append(subnet)
        gateway = request.gateway or str(next(subnet.hosts()))
        if ipaddress.ip_address(gateway) not in subnet:
            raise InvalidParameter(f"gateway {gateway} is not in subnet {subnet}")
        return GlobalSubnet(subnet=str(subnet), gateway=gateway, ip_range=request.ip_range)

    def _free_subnet(self, taken: list[Network]) -> Network:
        for pool in self.pools:
            for candidate in pool.subnets(new_prefix=self.subnet_size):
                if not any(candidate.version == t.version and candidate.overlaps(t) for t in taken):
                    return candidate
        raise NoAvailableAddress("could not find an available, non-overlapping IPv4 address pool among the "
                                 "defaults to assign to the network")

    async def _release_subnets(self, nid: str) -> None:
        await self._drop_owner(SUBNETS_KEY, nid)

    # -- VNIs ----------------------------------------------------------------------------------------

    async def _claim_vnis(self, nid: str, wanted: list[int], count: int) -> list[int]:
        for _ in range(_CAS_ATTEMPTS):
            used, revision = await self._read_map(VNIS_KEY)
            taken = {int(v) for v in used}
            if wanted:
                for vni in wanted:
                    if not 1 <= vni <= VNI_LAST:
                        raise InvalidParameter(f"invalid VXLAN ID {vni}")
                    if vni in taken:
                        raise Conflict(f"VXLAN ID {vni} is already in use")
                chosen = list(wanted)
            else:
                # serial, as swarmkit: the one after the last handed out, wrapping round
                start = max(taken) + 1 if taken else VNI_FIRST
                candidates = itertools.chain(range(start, VNI_LAST + 1), range(VNI_FIRST, start))
                chosen = list(itertools.islice((v for v in candidates if v not in taken), count))
                if len(chosen) < count:
                    raise NoAvailableAddress("no VXLAN ID left")
            for vni in chosen:
                used[str(vni)] = nid
            try:
                await self.store.cas(VNIS_KEY, _encode(used), revision)
            except RevisionMismatch:
                continue
            return chosen
        raise Conflict("could not allocate a VXLAN ID: the store kept changing")

    async def _release_vnis(self, nid: str) -> None:
        await self._drop_owner(VNIS_KEY, nid)

    # -- addresses -----------------------------------------------------------------------------------

    async def _addresses(self, nid: str) -> tuple[list[str], int]:
        try:
            entry = await self.store.get(address_key(nid))
        except KeyNotFound:
            raise NotFound(f"network {nid} not found") from None
        return list(msgspec.json.decode(entry.value)), entry.mod_revision

    async def allocate_address(self, nid: str, wanted: str | None = None, *, v6: bool = False) -> str:
        """An address of the network's subnet (of that family) with its prefix, as IPAM answers."""
        network = await self.get(nid)
        subnets = [s for s in network.subnets if (":" in s.subnet) == v6]
        if not subnets:
            raise InvalidParameter(f"network {network.name} has no IPv{6 if v6 else 4} subnet")
        for _ in range(_CAS_ATTEMPTS):
            taken, revision = await self._addresses(nid)
            used = set(taken)
            chosen = None
            for subnet in subnets:
                net = ipaddress.ip_network(subnet.subnet)
                pool = ipaddress.ip_network(subnet.ip_range) if subnet.ip_range else net
                if wanted:
                    address = ipaddress.ip_address(wanted)
                    if address not in net:
                        continue
                    if str(address) in used:
                        raise Forbidden("Address already in use")
                    chosen = f"{address}/{net.prefixlen}"
                    break
                for host in pool.hosts():
                    if str(host) not in used:
                        chosen = f"{host}/{net.prefixlen}"
                        break
                if chosen:
                    break
            if chosen is None:
                if wanted:
                    raise InvalidParameter(f"address {wanted} is not in any subnet of network {network.name}")
                raise NoAvailableAddress()
            taken.append(chosen.split("/")[0])
            try:
                await self.store.cas(address_key(nid), _encode(taken), revision)
            except RevisionMismatch:
                continue
            return chosen
        raise Conflict("could not allocate an address: the store kept changing")

    async def release_address(self, nid: str, address: str) -> None:
        bare = address.split("/")[0]
        for _ in range(_CAS_ATTEMPTS):
            try:
                taken, revision = await self._addresses(nid)
            except NotFound:
                return
            if bare not in taken:
                return
            taken.remove(bare)
            try:
                await self.store.cas(address_key(nid), _encode(taken), revision)
                return
            except RevisionMismatch:
                continue

    # -- shared --------------------------------------------------------------------------------------

    async def _read_map(self, key: str) -> tuple[dict[str, str], int]:
        try:
            entry = await self.store.get(key)
        except KeyNotFound:
            return {}, 0
        return dict(msgspec.json.decode(entry.value)), entry.mod_revision

    async def _drop_owner(self, key: str, nid: str) -> None:
        for _ in range(_CAS_ATTEMPTS):
            used, revision = await self._read_map(key)
            kept = {k: v for k, v in used.items() if v != nid}
            if kept == used:
                return
            try:
                await self.store.cas(key, _encode(kept), revision)
                return
            except RevisionMismatch:
                continue
