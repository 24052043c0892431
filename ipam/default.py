"""Docker's default IPAM driver ("default"), in memory only.

State lives in this process: at daemon start the controller repeats the
recorded ``request_pool`` / ``request_address`` calls (``restore_by_replay``),
so a pool ID is a pure function of the request, in Docker's format
``LocalDefault/172.18.0.0/16`` or, with an ip-range,
``LocalDefault/172.18.0.0/16/172.18.5.0/24``.  Replay must follow the
original order: a subnet first requested whole and later shared by an
ip-range network is refused when the two requests come the other way round,
exactly as Docker refuses it live.

Model (moby:v27.0.1:libnetwork/ipams/defaultipam): each address space and
family holds subnets; a subnet has one address set, shared by the network
that asked for the whole subnet (the "master") and by every network that
asked for it with an ip-range (its "children").  Two networks with the same
subnet and different ip-ranges are allowed and never get the same address.
A subnet goes away when neither a master nor a child holds it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from libnetwork import errors
from libnetwork.ipam import predefined
from libnetwork.ipam.allocator import AddressSet
from libnetwork.ipam.api import (
    GATEWAY_ADDRESS_TYPE,
    GLOBAL_ADDRESS_SPACE,
    LOCAL_ADDRESS_SPACE,
    REQUEST_ADDRESS_TYPE,
    SERIAL_OPTION,
    AddressRequest,
    Capabilities,
    IPAddress,
    IpamContext,
    IPInterface,
    IPNetwork,
    Pool,
    PoolRequest,
)


@dataclass
class _Subnet:
    """Docker's PoolData: one address set and who holds the subnet."""

    addrs: AddressSet
    master: bool = False
    master_serial: bool = False
    children: dict[IPNetwork, bool] = field(default_factory=dict)  # ip-range -> serial


@dataclass
class _Space:
    """One address space for one IP family."""

    predefined: tuple[predefined.PoolToSplit, ...]
    avoid_host_networks: bool
    subnets: dict[IPNetwork, _Subnet] = field(default_factory=dict)

    def overlaps(self, network: IPNetwork) -> bool:
        return any(existing.overlaps(network) for existing in self.subnets)


@dataclass(frozen=True)
class _PoolKey:
    space: str
    subnet: IPNetwork
    child: IPNetwork | None

    def __str__(self) -> str:
        text = f"{self.space}/{self.subnet}"
        return f"{text}/{self.child}" if self.child is not None else text

    @classmethod
    def parse(cls, pool_id: str) -> _PoolKey:
        parts = pool_id.split("/")
        try:
            if len(parts) not in (3, 5):
                raise ValueError(pool_id)
            subnet = ipaddress.ip_network(f"{parts[1]}/{parts[2]}")
            child = ipaddress.ip_network(f"{parts[3]}/{parts[4]}") if len(parts) == 5 else None
        except ValueError:
            raise errors.InvalidParameter(f"invalid pool id: {pool_id}") from None
        return cls(parts[0], subnet, child)


def _is_serial(options: object) -> bool:
    return getattr(options, "get", lambda _k: None)(SERIAL_OPTION) == "true"


class DefaultIpam:
    """The built-in IPAM driver: Docker's address spaces, pools and addresses."""

    def __init__(
        self,
        local_pools: Iterable[tuple[IPNetwork, int]],
        global_pools: Iterable[tuple[IPNetwork, int]],
        host_networks: Callable[[], Iterable[object]] | Iterable[object] | None = None,
    ) -> None:
        local = predefined.normalise(local_pools)
        global_ = predefined.normalise(global_pools)
        self._host_networks = host_networks
        self._spaces: dict[tuple[str, int], _Space] = {}
        for name, pools, avoid in ((LOCAL_ADDRESS_SPACE, local, True), (GLOBAL_ADDRESS_SPACE, global_, False)):
            for version in (4, 6):
                family = tuple(p for p in pools if p.base.version == version)
                self._spaces[(name, version)] = _Space(family, avoid)

    # -- IpamDriver ----------------------------------------------------------

    def capabilities(self) -> Capabilities:
        return Capabilities(restore_by_replay=True)

    def default_address_spaces(self) -> tuple[str, str]:
        return LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE

    def request_pool(self, request: PoolRequest) -> Pool:
        if request.pool is None:
            if request.sub_pool is not None:
                raise errors.InvalidParameter("invalid address subpool")
            return self._request_predefined(request)
        subnet, child = request.pool, request.sub_pool
        if child is not None:
            if child.version != subnet.version:
                raise errors.InvalidParameter("pool and subpool are of incompatible address families")
            if not child.overlaps(subnet):
                raise errors.InvalidParameter("invalid address subpool")
            # Docker < 24 accepted an ip-range wider than its subnet and used the
            # whole subnet; Docker keeps that meaning for old networks, and so do we.
            if child.prefixlen < subnet.prefixlen:
                child = subnet
        space = self._space(request.address_space, subnet.version)
        serial = _is_serial(request.options)
        existing = space.subnets.get(subnet)
        if child is None:
            if existing is not None or space.overlaps(subnet):
                raise errors.PoolOverlap()
            space.subnets[subnet] = _Subnet(AddressSet(subnet), master=True, master_serial=serial)
        else:
            if existing is not None and child in existing.children:
                raise errors.PoolOverlap()
            # As Docker (moby issue #46756): with an ip-range the subnet is not
            # checked against other pools, only the exact same ip-range is refused.
            if existing is None:
                existing = space.subnets[subnet] = _Subnet(AddressSet(subnet))
            existing.children[child] = serial
        return Pool(str(_PoolKey(request.address_space, subnet, child)), subnet)

    def release_pool(self, pool_id: str) -> None:
        key, space, entry = self._lookup(pool_id)
        if key.child is not None:
            del entry.children[key.child]
        else:
            entry.master = False
        if not entry.master and not entry.children:
            del space.subnets[key.subnet]

    def request_address(self, request: AddressRequest) -> IPInterface:
        key, _space, entry = self._lookup(request.pool_id)
        options = request.options
        if request.address is not None:
            address = entry.addrs.allocate(request.address)
        else:
            within = key.child if key.child is not None and key.child != key.subnet else None
            gateway = options.get(REQUEST_ADDRESS_TYPE) == GATEWAY_ADDRESS_TYPE
            # The gateway is the first free address, whatever the pool's mode.
            serial = not gateway and (_is_serial(options) or self._pool_serial(key, entry))
            address = entry.addrs.allocate_any(within, serial=serial)
        return ipaddress.ip_interface((address, key.subnet.prefixlen))

    def release_address(self, pool_id: str, address: IPAddress) -> None:
        _key, _space, entry = self._lookup(pool_id)
        entry.addrs.release(address)

    # -- internals -----------------------------------------------------------

    def _space(self, name: str, version: int) -> _Space:
        space = self._spaces.get((name, version))
        if space is None:
            raise errors.InvalidParameter(f"cannot find address space {name}")
        return space

    def _lookup(self, pool_id: str) -> tuple[_PoolKey, _Space, _Subnet]:
        key = _PoolKey.parse(pool_id)
        space = self._space(key.space, key.subnet.version)
        entry = space.subnets.get(key.subnet)
        held = entry is not None and (entry.master if key.child is None else key.child in entry.children)
        if not held:
            raise errors.NotFound(f"cannot find address pool for poolID:{pool_id}")
        return key, space, entry  # type: ignore[return-value]

    @staticmethod
    def _pool_serial(key: _PoolKey, entry: _Subnet) -> bool:
        if key.child is None:
            return entry.master_serial
        return entry.children.get(key.child, False)

    def _request_predefined(self, request: PoolRequest) -> Pool:
        version = 6 if request.v6 else 4
        space = self._space(request.address_space, version)
        taken: list[IPNetwork] = list(space.subnets)
        if space.avoid_host_networks:
            taken.extend(self._host_prefixes(version))
        subnet = predefined.first_free_subnet(space.predefined, taken)
        if subnet is None:
            raise errors.InvalidParameter(predefined.NO_MORE_SUBNETS)
        space.subnets[subnet] = _Subnet(
            AddressSet(subnet), master=True, master_serial=_is_serial(request.options)
        )
        return Pool(str(_PoolKey(request.address_space, subnet, None)), subnet)

    def _host_prefixes(self, version: int) -> list[IPNetwork]:
        """Host routes and nameservers; read now, since they change under us."""
        source = self._host_networks
        if source is None:
            return []
        items = source() if callable(source) else source
        prefixes = []
        for item in items:
            network = ipaddress.ip_network(item, strict=False)  # type: ignore[arg-type]
            if network.version == version:
                prefixes.append(network)
        return prefixes


def create_driver(context: IpamContext, *, ula_seed: str | None = None) -> DefaultIpam:
    """Entry point ``libnetwork.ipam: default``.

    ``ula_seed`` picks the host's IPv6 ULA /48 (Docker passes its engine ID);
    without it /etc/machine-id, then the hostname.  The ULA base is added only
    when the local pools hold no IPv6 base, as Docker 27+ does.
    """
    local = tuple(context.default_pools) or predefined.LOCAL_DEFAULT_POOLS
    if not any(base.version == 6 for base, _size in local):
        seed = ula_seed if ula_seed is not None else predefined.host_id()
        local = local + ((predefined.ula_base(seed), 64),)
    global_ = tuple(context.global_pools) or predefined.GLOBAL_DEFAULT_POOLS
    return DefaultIpam(local, global_, context.host_networks)  # type: ignore[arg-type]
