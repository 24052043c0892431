"""AddressSet: Docker's address bookkeeping without a bitmap."""

from __future__ import annotations

import ipaddress
import itertools
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libnetwork import errors
from libnetwork.ipam.allocator import AddressSet

ip = ipaddress.ip_address
net = ipaddress.ip_network


def check_invariants(aset: AddressSet) -> None:
    """Free runs are sorted, disjoint, merged, and account for every address."""
    runs = [(aset._start_of[end], end) for end in aset._ends]
    assert len(aset._end_of) == len(aset._start_of) == len(runs)
    assert all(aset._end_of[start] == end for start, end in runs)
    total = 0
    for start, end in runs:
        assert start <= end
        total += end - start + 1
    for (_, end), (next_start, _) in itertools.pairwise(runs):
        assert end + 1 < next_start, "adjacent or overlapping free runs"
    assert total == aset.free_count
    assert aset.interval_count <= len(aset) + 1


# -- reservations ---------------------------------------------------------------


def test_ipv4_reserves_network_and_broadcast():
    aset = AddressSet(net("10.0.0.0/29"))
    got = [aset.allocate_any() for _ in range(6)]
    assert got == [ip(f"10.0.0.{i}") for i in range(1, 7)]
    with pytest.raises(errors.NoAvailableAddress) as exc:
        aset.allocate_any()
    assert exc.value.status == 503
    assert exc.value.message == "no available addresses on this pool"
    assert ip("10.0.0.0") in aset and ip("10.0.0.7") in aset
    assert aset.is_reserved(ip("10.0.0.7"))


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        ("10.0.0.0/31", ["10.0.0.0", "10.0.0.1"]),
        ("10.0.0.5/32", ["10.0.0.5"]),
        ("2001:db8::/126", ["2001:db8::1", "2001:db8::2", "2001:db8::3"]),
        ("2001:db8::/128", []),
    ],
)
def test_point_to_point_and_ipv6_reservations(pool, expected):
    aset = AddressSet(net(pool))
    got = []
    with pytest.raises(errors.NoAvailableAddress):
        while True:
            got.append(str(aset.allocate_any()))
    assert got == expected


def test_ipv6_first_address_is_one():
    aset = AddressSet(net("fd00:1:2:3::/64"))
    assert aset.allocate_any() == ip("fd00:1:2:3::1")
    assert aset.is_reserved(ip("fd00:1:2:3::"))


def test_releasing_reserved_address_keeps_it_reserved():
    aset = AddressSet(net("10.0.0.0/30"))
    aset.release(ip("10.0.0.0"))
    aset.release(ip("10.0.0.3"))
    assert [aset.allocate_any(), aset.allocate_any()] == [ip("10.0.0.1"), ip("10.0.0.2")]
    with pytest.raises(errors.NoAvailableAddress):
        aset.allocate_any()


# -- lowest free, specific, release --------------------------------------------


def test_lowest_free_reuses_released_address_at_once():
    aset = AddressSet(net("172.18.0.0/16"))
    a, b, c = (aset.allocate_any() for _ in range(3))
    assert (a, b, c) == (ip("172.18.0.1"), ip("172.18.0.2"), ip("172.18.0.3"))
    aset.release(b)
    assert aset.allocate_any() == b
    assert aset.allocate_any() == ip("172.18.0.4")


def test_specific_address_in_use_and_out_of_range():
    aset = AddressSet(net("172.18.0.0/16"))
    assert aset.allocate(ip("172.18.3.4")) == ip("172.18.3.4")
    with pytest.raises(errors.AddressInUse) as exc:
        aset.allocate(ip("172.18.3.4"))
    assert (exc.value.status, exc.value.message) == (403, "Address already in use")
    for bad in ("172.19.0.1", "::1"):
        with pytest.raises(errors.InvalidParameter) as exc:
            aset.allocate(ip(bad))
        assert exc.value.message == "requested address is out of range"
        assert exc.value.status == 400
    with pytest.raises(errors.AddressInUse):
        aset.allocate(ip("172.18.0.0"))  # the network address is taken


def test_dynamic_pick_skips_specific_allocations():
    aset = AddressSet(net("10.1.0.0/24"))
    aset.allocate(ip("10.1.0.1"))
    aset.allocate(ip("10.1.0.2"))
    assert aset.allocate_any() == ip("10.1.0.3")


def test_release_is_idempotent_but_checks_range():
    aset = AddressSet(net("10.1.0.0/24"))
    aset.release(ip("10.1.0.9"))
    a = aset.allocate_any()
    aset.release(a)
    aset.release(a)
    assert len(aset) == 2  # the two reserved ones
    with pytest.raises(errors.InvalidParameter, match="requested address is out of range"):
        aset.release(ip("10.2.0.1"))


def test_membership_of_foreign_objects_is_false():
    aset = AddressSet(net("10.1.0.0/24"))
    assert "10.1.0.0" not in aset
    assert ip("::") not in aset


# -- sub-range (--ip-range) ------------------------------------------------------


def test_dynamic_picks_come_from_the_range_static_ones_anywhere():
    aset = AddressSet(net("172.18.0.0/16"))
    rng = net("172.18.5.0/30")
    assert aset.allocate_any(rng) == ip("172.18.5.0")  # only the pool's own ends are reserved
    assert aset.allocate_any(rng) == ip("172.18.5.1")
    assert aset.allocate(ip("172.18.9.9")) == ip("172.18.9.9")
    aset.allocate_any(rng)
    aset.allocate_any(rng)
    with pytest.raises(errors.NoAvailableAddress):
        aset.allocate_any(rng)
    assert aset.allocate_any() == ip("172.18.0.1")


def test_range_outside_pool_is_rejected():
    aset = AddressSet(net("172.18.0.0/16"))
    with pytest.raises(errors.InvalidParameter):
        aset.allocate_any(net("172.19.0.0/24"))
    with pytest.raises(errors.InvalidParameter):
        aset.allocate_any(net("fd00::/64"))


# -- serial ------------------------------------------------------------------------


def test_serial_continues_after_last_pick_and_wraps():
    aset = AddressSet(net("10.0.0.0/29"))  # usable .1-.6
    picks = [aset.allocate_any(serial=True) for _ in range(4)]
    assert picks == [ip(f"10.0.0.{i}") for i in (1, 2, 3, 4)]
    aset.release(ip("10.0.0.2"))
    assert aset.allocate_any(serial=True) == ip("10.0.0.5")  # not the freed .2
    assert aset.allocate_any(serial=True) == ip("10.0.0.6")
    assert aset.allocate_any(serial=True) == ip("10.0.0.2")  # wrapped
    with pytest.raises(errors.NoAvailableAddress):
        aset.allocate_any(serial=True)


def test_serial_in_range_wraps_inside_the_range():
    aset = AddressSet(net("10.0.0.0/24"))
    rng = net("10.0.0.8/30")
    got = [aset.allocate_any(rng, serial=True) for _ in range(4)]
    assert got == [ip(f"10.0.0.{i}") for i in (8, 9, 10, 11)]
    aset.release(ip("10.0.0.9"))
    assert aset.allocate_any(rng, serial=True) == ip("10.0.0.9")


def test_specific_allocations_do_not_move_the_serial_cursor():
    aset = AddressSet(net("10.0.0.0/24"))
    aset.allocate_any(serial=True)
    aset.allocate(ip("10.0.0.50"))
    assert aset.allocate_any(serial=True) == ip("10.0.0.2")


# -- memory ----------------------------------------------------------------------


def test_huge_pools_cost_nothing_until_used():
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sets = [AddressSet(net("10.0.0.0/8")), AddressSet(net("fd00::/64")), AddressSet(net("fd00::/32"))]
        for aset in sets:
            for _ in range(100):
                aset.allocate_any()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used < 200_000, used
    assert all(aset.interval_count == 1 for aset in sets)


def test_fragmented_slash8_memory_follows_allocations():
    aset = AddressSet(net("10.0.0.0/8"))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, 20_001):
            aset.allocate(ip(int(ip("10.0.0.0")) + i * 613))  # scattered
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert aset.interval_count <= len(aset) + 1
    assert used < 20_000 * 250, used  # a few hundred bytes per address, not 2 MB of bitmap
    check_invariants(aset)


def test_slash64_scattered_and_exhausted_range():
    aset = AddressSet(net("2001:db8::/64"))
    high = ip("2001:db8::ffff:ffff:ffff:fff0")
    aset.allocate(high)
    rng = net("2001:db8::ffff:ffff:ffff:fff0/126")
    assert aset.allocate_any(rng) == ip("2001:db8::ffff:ffff:ffff:fff1")
    assert aset.allocate_any() == ip("2001:db8::1")
    check_invariants(aset)


# -- properties ----------------------------------------------------------------------

POOLS = ["10.9.8.0/27", "10.9.8.0/30", "10.9.8.0/31", "fd00::/122"]

op_strategy = st.one_of(
    st.tuples(st.just("any"), st.booleans(), st.booleans()),  # (kind, use range, serial)
    st.tuples(st.just("specific"), st.integers(0, 63), st.booleans()),
    st.tuples(st.just("release"), st.integers(0, 63), st.booleans()),
)


class Model:
    """A naive bitmap twin of AddressSet for small pools."""

    def __init__(self, pool):
        self.pool = pool
        self.size = pool.num_addresses
        self.used: set[int] = set()
        if pool.version == 6:
            self.reserved = {0}
        elif pool.prefixlen <= 30:
            self.reserved = {0, self.size - 1}
        else:
            self.reserved = set()
        self.used |= self.reserved
        self.cursor = 0

    def any(self, lo, hi, serial):
        order = list(range(lo, hi + 1))
        if serial and lo < self.cursor <= hi:
            order = list(range(self.cursor, hi + 1)) + list(range(lo, self.cursor))
        for o in order:
            if o not in self.used:
                self.used.add(o)
                self.cursor = o + 1
                return o
        return None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(POOLS), st.data(), st.lists(op_strategy, max_size=120))
def test_matches_naive_model(pool_text, data, ops):
    pool = net(pool_text)
    aset = AddressSet(pool)
    model = Model(pool)
    base = int(pool.network_address)
    range_len = data.draw(st.integers(pool.prefixlen, pool.max_prefixlen))
    index = data.draw(st.integers(0, (1 << (range_len - pool.prefixlen)) - 1))
    rng = ipaddress.ip_network((base + (index << (pool.max_prefixlen - range_len)), range_len))
    lo = int(rng.network_address) - base
    hi = lo + rng.num_addresses - 1
    handed: set[int] = set()
    for kind, arg, flag in ops:
        if kind == "any":
            within = rng if arg else None
            expected = model.any(lo if arg else 0, hi if arg else model.size - 1, flag)
            if expected is None:
                with pytest.raises(errors.NoAvailableAddress):
                    aset.allocate_any(within, serial=flag)
            else:
                got = int(aset.allocate_any(within, serial=flag)) - base
                assert got == expected
                assert got not in handed, "duplicate address handed out"
                handed.add(got)
                if arg:
                    assert lo <= got <= hi
        elif kind == "specific":
            o = arg % model.size
            address = ipaddress.ip_address(base + o)
            if o in model.used:
                with pytest.raises(errors.AddressInUse):
                    aset.allocate(address)
            else:
                aset.allocate(address)
                model.used.add(o)
                handed.add(o)
        else:
            o = arg % model.size
            aset.release(ipaddress.ip_address(base + o))
            if o not in model.reserved:
                model.used.discard(o)
                handed.discard(o)
        assert len(aset) == len(model.used)
        check_invariants(aset)
    for o in range(model.size):
        assert (ipaddress.ip_address(base + o) in aset) == (o in model.used)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, (1 << 24) - 2), min_size=1, max_size=300, unique=True))
def test_released_addresses_are_reusable_in_a_slash8(ordinals):
    pool = net("10.0.0.0/8")
    aset = AddressSet(pool)
    base = int(pool.network_address)
    for o in ordinals:
        aset.allocate(ip(base + o))
    for o in ordinals:
        aset.release(ip(base + o))
    assert len(aset) == 2 and aset.interval_count == 1
    for o in ordinals:
        aset.allocate(ip(base + o))
    assert aset.allocate_any() == ip(base + min(set(range(1, len(ordinals) + 2)) - set(ordinals)))
    check_invariants(aset)
