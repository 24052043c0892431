"""The default IPAM driver: Docker's pools, pool IDs, overlap rules and replay."""

from __future__ import annotations

import contextlib
import ipaddress
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libnetwork import errors
from libnetwork.ipam import api, predefined
from libnetwork.ipam.default import DefaultIpam, create_driver

net = ipaddress.ip_network
ip = ipaddress.ip_address
LOCAL = api.LOCAL_ADDRESS_SPACE
GLOBAL = api.GLOBAL_ADDRESS_SPACE
GW = {api.REQUEST_ADDRESS_TYPE: api.GATEWAY_ADDRESS_TYPE}


def driver(**context) -> DefaultIpam:
    return create_driver(api.IpamContext(**context), ula_seed="")


def pool(d, space=LOCAL, subnet=None, ip_range=None, v6=False, options=None) -> api.Pool:
    return d.request_pool(
        api.PoolRequest(
            space,
            net(subnet) if subnet else None,
            net(ip_range) if ip_range else None,
            options or {},
            v6,
        )
    )


def addr(d, pool_id, address=None, options=None) -> str:
    return str(d.request_address(api.AddressRequest(pool_id, ip(address) if address else None, options or {})))


# -- contract ------------------------------------------------------------------


def test_implements_the_protocol_and_registers_as_entry_point():
    d = driver()
    assert isinstance(d, api.IpamDriver)
    assert d.capabilities() == api.Capabilities(restore_by_replay=True)
    assert d.default_address_spaces() == ("LocalDefault", "GlobalDefault")
    (ep,) = [e for e in entry_points(group="libnetwork.ipam") if e.name == "default"]
    assert ep.load() is create_driver


# -- default pools ---------------------------------------------------------------


def test_local_default_order_then_exhaustion():
    d = driver()
    got = [str(pool(d).pool) for _ in range(31)]
    assert got[:3] == ["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"]
    assert got[14] == "172.31.0.0/16"
    assert got[15:18] == ["192.168.0.0/20", "192.168.16.0/20", "192.168.32.0/20"]
    assert got[30] == "192.168.240.0/20"
    assert len(set(got)) == 31
    with pytest.raises(errors.InvalidParameter) as exc:
        pool(d)
    assert exc.value.status == 400
    assert exc.value.message == "all predefined address pools have been fully subnetted"


def test_pool_id_format_and_returned_prefix_length():
    d = driver()
    p = pool(d)
    assert p.pool_id == "LocalDefault/172.17.0.0/16"
    assert p.meta == {}
    assert addr(d, p.pool_id, options=GW) == "172.17.0.1/16"
    assert addr(d, p.pool_id) == "172.17.0.2/16"


def test_freed_default_pool_is_reused_first():
    d = driver()
    ids = [pool(d).pool_id for _ in range(3)]
    d.release_pool(ids[1])
    assert str(pool(d).pool) == "172.18.0.0/16"
    assert str(pool(d).pool) == "172.20.0.0/16"


def test_default_pick_skips_pools_overlapping_allocated_ones():
    d = driver()
    pool(d, subnet="172.17.200.0/24")
    with pytest.raises(errors.PoolOverlap):
        pool(d, subnet="172.16.0.0/15")
    assert str(pool(d).pool) == "172.18.0.0/16"


def test_default_pick_skips_explicit_pool_inside_a_slash20_chunk():
    d = driver(default_pools=((net("192.168.0.0/16"), 20),))
    pool(d, subnet="192.168.17.0/24")
    assert [str(pool(d).pool) for _ in range(2)] == ["192.168.0.0/20", "192.168.32.0/20"]


def test_default_pick_avoids_host_networks_read_at_call_time():
    host = [net("172.17.0.0/16"), ip("172.19.0.53")]
    d = driver(host_networks=lambda: host)
    assert str(pool(d).pool) == "172.18.0.0/16"
    assert str(pool(d).pool) == "172.20.0.0/16"
    host.clear()
    assert str(pool(d).pool) == "172.17.0.0/16"


def test_host_networks_do_not_block_explicit_or_global_pools():
    d = driver(host_networks=lambda: [net("10.0.0.0/8"), net("172.17.0.0/16")])
    assert str(pool(d, subnet="172.17.0.0/16").pool) == "172.17.0.0/16"
    assert str(pool(d, space=GLOBAL).pool) == "10.0.0.0/24"
    assert str(pool(d, space=GLOBAL).pool) == "10.0.1.0/24"


def test_address_spaces_are_separate():
    d = driver()
    pool(d, subnet="172.17.0.0/16")
    assert str(pool(d, space=GLOBAL, subnet="172.17.0.0/16").pool) == "172.17.0.0/16"
    with pytest.raises(errors.InvalidParameter, match="cannot find address space Nope"):
        pool(d, space="Nope")


def test_custom_default_pools_are_sorted_and_get_a_ula():
    d = driver(default_pools=((net("10.20.0.0/16"), 24), (net("10.10.0.0/16"), 24), (net("10.10.0.0/20"), 28)))
    assert [str(pool(d).pool) for _ in range(2)] == ["10.10.0.0/24", "10.10.1.0/24"]
    assert str(pool(d, v6=True).pool) == "fd42:98fc:1c14::/64"


def test_custom_ipv6_default_pool_replaces_the_ula():
    d = driver(default_pools=((net("10.10.0.0/16"), 24), (net("2001:db8::/56"), 64)))
    assert [str(pool(d, v6=True).pool) for _ in range(2)] == ["2001:db8::/64", "2001:db8:0:1::/64"]


def test_invalid_default_pool_is_refused():
    with pytest.raises(errors.InvalidParameter, match="smaller prefix"):
        driver(default_pools=((net("10.0.0.0/16"), 8),))


def test_ipv6_default_pools_are_ula_slash64s():
    d = driver()
    assert [str(pool(d, v6=True).pool) for _ in range(3)] == [
        "fd42:98fc:1c14::/64",
        "fd42:98fc:1c14:1::/64",
        "fd42:98fc:1c14:2::/64",
    ]
    with pytest.raises(errors.InvalidParameter, match="fully subnetted"):
        pool(d, space=GLOBAL, v6=True)


def test_ula_derivation_matches_docker_vectors(tmp_path: Path):
    # moby:v27.0.1:daemon/daemon_test.go TestDeriveULABaseNetwork
    assert str(predefined.ula_base("")) == "fd42:98fc:1c14::/48"
    assert str(predefined.ula_base("499d4bc0-b0b3-416f-b1ee-cf6486315593")) == "fd62:fb69:18af::/48"
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("abc123\n")
    assert predefined.host_id(machine_id) == "abc123"
    assert predefined.host_id(tmp_path / "missing") != ""
    d = create_driver(api.IpamContext(), ula_seed="499d4bc0-b0b3-416f-b1ee-cf6486315593")
    assert str(pool(d, v6=True).pool) == "fd62:fb69:18af::/64"


def test_first_free_subnet_is_linear_in_blockers_not_candidates():
    pools = predefined.normalise([(net("10.0.0.0/8"), 24)])
    taken = [net(f"10.{i}.0.0/16") for i in range(255)]  # all but 10.255/16
    assert str(predefined.first_free_subnet(pools, taken)) == "10.255.0.0/24"
    taken.append(net("10.255.0.0/17"))
    assert str(predefined.first_free_subnet(pools, taken)) == "10.255.128.0/24"


# -- explicit pools and overlap ---------------------------------------------------


def test_explicit_overlap_is_refused_with_docker_message():
    d = driver()
    pool(d, subnet="10.1.0.0/16")
    for subnet in ("10.1.0.0/16", "10.1.2.0/24", "10.0.0.0/8"):
        with pytest.raises(errors.PoolOverlap) as exc:
            pool(d, subnet=subnet)
        assert exc.value.status == 403
        assert exc.value.message == "Pool overlaps with other one on this address space"
    assert str(pool(d, subnet="10.2.0.0/16").pool) == "10.2.0.0/16"


def test_same_subnet_with_different_ip_ranges_coexists():
    d = driver()
    a = pool(d, subnet="172.30.0.0/16", ip_range="172.30.1.0/24")
    b = pool(d, subnet="172.30.0.0/16", ip_range="172.30.2.0/24")
    assert a.pool_id == "LocalDefault/172.30.0.0/16/172.30.1.0/24"
    assert b.pool_id == "LocalDefault/172.30.0.0/16/172.30.2.0/24"
    assert addr(d, a.pool_id, options=GW) == "172.30.1.0/16"  # the ip-range's first free address
    assert addr(d, a.pool_id) == "172.30.1.1/16"
    assert addr(d, b.pool_id) == "172.30.2.0/16"
    # One address set for the subnet: a static address taken through one is taken for both.
    assert addr(d, a.pool_id, "172.30.2.1") == "172.30.2.1/16"
    assert addr(d, b.pool_id) == "172.30.2.2/16"
    with pytest.raises(errors.AddressInUse):
        addr(d, b.pool_id, "172.30.1.1")
    with pytest.raises(errors.PoolOverlap):
        pool(d, subnet="172.30.0.0/16", ip_range="172.30.1.0/24")
    with pytest.raises(errors.PoolOverlap):
        pool(d, subnet="172.30.0.0/16")  # Docker: the whole subnet is refused once shared


def test_ip_range_skips_the_parent_overlap_check_like_docker():
    d = driver()
    pool(d, subnet="172.30.0.0/24")
    p = pool(d, subnet="172.30.0.0/16", ip_range="172.30.9.0/24")
    assert p.pool == net("172.30.0.0/16")


def test_master_then_child_and_release_order():
    d = driver()
    master = pool(d, subnet="10.5.0.0/16")
    child = pool(d, subnet="10.5.0.0/16", ip_range="10.5.7.0/24")
    addr(d, master.pool_id, "10.5.7.0")
    assert addr(d, child.pool_id) == "10.5.7.1/16"
    d.release_pool(master.pool_id)
    with pytest.raises(errors.NotFound):
        d.release_pool(master.pool_id)
    assert addr(d, child.pool_id) == "10.5.7.2/16"  # the subnet lives on for the child
    with pytest.raises(errors.PoolOverlap):
        pool(d, subnet="10.5.0.0/16")
    d.release_pool(child.pool_id)
    again = pool(d, subnet="10.5.0.0/16")
    assert addr(d, again.pool_id) == "10.5.0.1/16"  # a fresh address set


def test_ip_range_wider_than_subnet_means_the_subnet():
    d = driver()
    p = pool(d, subnet="10.6.0.0/24", ip_range="10.6.0.0/16")
    assert p.pool_id == "LocalDefault/10.6.0.0/24/10.6.0.0/24"
    assert addr(d, p.pool_id) == "10.6.0.1/24"


def test_bad_pool_requests():
    d = driver()
    with pytest.raises(errors.InvalidParameter, match="invalid address subpool"):
        pool(d, ip_range="10.0.0.0/24")
    with pytest.raises(errors.InvalidParameter, match="incompatible address families"):
        pool(d, subnet="10.0.0.0/16", ip_range="fd00::/64")
    with pytest.raises(errors.InvalidParameter, match="invalid address subpool"):
        pool(d, subnet="10.0.0.0/16", ip_range="10.1.0.0/24")


def test_explicit_ipv6_pool_uses_its_own_family():
    d = driver()
    p = pool(d, subnet="2001:db8:1::/64")  # v6 flag not set: the subnet decides
    assert addr(d, p.pool_id) == "2001:db8:1::1/64"


# -- addresses ------------------------------------------------------------------------


def test_static_address_may_lie_outside_the_ip_range():
    d = driver()
    p = pool(d, subnet="10.7.0.0/16", ip_range="10.7.8.0/24")
    assert addr(d, p.pool_id, "10.7.0.9") == "10.7.0.9/16"
    with pytest.raises(errors.InvalidParameter) as exc:
        addr(d, p.pool_id, "10.8.0.1")
    assert exc.value.message == "requested address is out of range"


def test_gateway_is_first_free_even_in_serial_pools():
    d = driver()
    p = pool(d, subnet="10.8.0.0/24", options={api.SERIAL_OPTION: "true"})
    assert addr(d, p.pool_id) == "10.8.0.1/24"
    assert addr(d, p.pool_id) == "10.8.0.2/24"
    d.release_address(p.pool_id, ip("10.8.0.1"))
    assert addr(d, p.pool_id) == "10.8.0.3/24"  # serial: not the freed .1
    assert addr(d, p.pool_id, options=GW) == "10.8.0.1/24"


def test_serial_option_per_request():
    d = driver()
    p = pool(d, subnet="10.9.0.0/24")
    serial = {api.SERIAL_OPTION: "true"}
    assert [addr(d, p.pool_id, options=serial) for _ in range(2)] == ["10.9.0.1/24", "10.9.0.2/24"]
    d.release_address(p.pool_id, ip("10.9.0.1"))
    assert addr(d, p.pool_id, options=serial) == "10.9.0.3/24"
    assert addr(d, p.pool_id) == "10.9.0.1/24"


def test_release_rules():
    d = driver()
    p = pool(d, subnet="10.10.0.0/24")
    d.release_address(p.pool_id, ip("10.10.0.77"))  # never allocated: fine
    with pytest.raises(errors.InvalidParameter, match="out of range"):
        d.release_address(p.pool_id, ip("10.11.0.1"))
    with pytest.raises(errors.NotFound) as exc:
        d.release_pool("LocalDefault/10.99.0.0/16")
    assert exc.value.status == 404
    with pytest.raises(errors.NotFound):
        d.request_address(api.AddressRequest("LocalDefault/10.99.0.0/16"))
    with pytest.raises(errors.NotFound):
        d.release_address("LocalDefault/10.10.0.0/24/10.10.0.0/25", ip("10.10.0.1"))
    for bad in ("garbage", "LocalDefault/10.0.0.0", "LocalDefault/x/16", "a/10.0.0.0/16/1"):
        with pytest.raises(errors.InvalidParameter, match="invalid pool id"):
            d.release_pool(bad)
    d.release_pool(p.pool_id)
    with pytest.raises(errors.NotFound):
        d.release_pool(p.pool_id)


def test_exhausted_pool_reports_no_available_addresses():
    d = driver()
    p = pool(d, subnet="10.12.0.0/30")
    addr(d, p.pool_id)
    addr(d, p.pool_id)
    with pytest.raises(errors.NoAvailableAddress) as exc:
        addr(d, p.pool_id)
    assert exc.value.status == 503


# -- replay --------------------------------------------------------------------------


def test_replay_rebuilds_the_same_ids_and_next_picks():
    live = driver()
    record: list[tuple[str, api.PoolRequest, str]] = []
    addresses: list[tuple[str, str, dict]] = []

    def create(request: api.PoolRequest, gateway: bool = True) -> str:
        p = live.request_pool(request)
        # The controller records the pool it got, so replay asks for it explicitly.
        replayed = api.PoolRequest(request.address_space, p.pool, request.sub_pool, request.options, request.v6)
        record.append((p.pool_id, replayed, p.pool_id))
        if gateway:
            g = live.request_address(api.AddressRequest(p.pool_id, options=GW))
            addresses.append((p.pool_id, str(g.ip), GW))
        return p.pool_id

    a = create(api.PoolRequest(LOCAL))
    b = create(api.PoolRequest(LOCAL, net("10.40.0.0/16"), net("10.40.3.0/24")))
    c = create(api.PoolRequest(LOCAL, v6=True))
    for pid in (a, a, b, c, b):
        got = live.request_address(api.AddressRequest(pid))
        addresses.append((pid, str(got.ip), {}))
    live.release_address(a, ip("172.17.0.2"))
    addresses.remove((a, "172.17.0.2", {}))

    restored = driver()
    for pool_id, request, _ in record:
        assert restored.request_pool(request).pool_id == pool_id
    for pid, address, options in addresses:
        restored.request_address(api.AddressRequest(pid, ip(address), options))
    for pid in (a, b, c, a):
        assert live.request_address(api.AddressRequest(pid)) == restored.request_address(api.AddressRequest(pid))
    assert live.request_pool(api.PoolRequest(LOCAL)) == restored.request_pool(api.PoolRequest(LOCAL))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["pool", "addr", "free", "drop"]), st.integers(0, 50)), max_size=60))
def test_replay_property(ops):
    """Whatever happened live, replaying what is held gives an equal driver."""
    live = driver(default_pools=((net("10.50.0.0/22"), 26),))
    pools: dict[str, api.PoolRequest] = {}
    held: dict[str, set[str]] = {}
    for kind, n in ops:
        ids = sorted(pools)
        if kind == "pool":
            try:
                p = live.request_pool(api.PoolRequest(LOCAL))
            except errors.InvalidParameter:
                continue
            pools[p.pool_id] = api.PoolRequest(LOCAL, p.pool)
            held[p.pool_id] = set()
        elif kind == "addr" and ids:
            pid = ids[n % len(ids)]
            with contextlib.suppress(errors.NoAvailableAddress):
                held[pid].add(str(live.request_address(api.AddressRequest(pid)).ip))
        elif kind == "free" and ids:
            pid = ids[n % len(ids)]
            if held[pid]:
                victim = sorted(held[pid])[n % len(held[pid])]
                live.release_address(pid, ip(victim))
                held[pid].discard(victim)
        elif kind == "drop" and ids:
            pid = ids[n % len(ids)]
            live.release_pool(pid)
            del pools[pid], held[pid]
    restored = driver(default_pools=((net("10.50.0.0/22"), 26),))
    for pid, request in pools.items():
        assert restored.request_pool(request).pool_id == pid
        for address in held[pid]:
            restored.request_address(api.AddressRequest(pid, ip(address)))
    for pid in sorted(pools):
        assert outcome(live.request_address, api.AddressRequest(pid)) == outcome(
            restored.request_address, api.AddressRequest(pid)
        )
    request = api.PoolRequest(LOCAL)
    assert outcome(live.request_pool, request) == outcome(restored.request_pool, request)


def outcome(call, *args):
    try:
        return call(*args)
    except errors.CnmError as exc:
        return type(exc), exc.message
