"""The overlay benchmark's pure parts: iperf3's JSON, percentiles, the table, a listening socket in
/proc/net/tcp, and the hand-built VXLAN's names and addresses (no kernel)."""

from __future__ import annotations

import json

import pytest

from libnetwork.labkit.measure import (
    IperfError,
    Row,
    format_table,
    iperf_bits_per_second,
    is_listening,
    median,
    percentile,
)
from libnetwork.labkit.underlay import Underlay
from libnetwork.labkit.vxlan import HandVxlan


def test_iperf_report_gives_what_the_receiver_got():
    report = {"start": {}, "end": {"sum_sent": {"bits_per_second": 9.9e9},
                                   "sum_received": {"bits_per_second": 9.5e9}}}
    assert iperf_bits_per_second(json.dumps(report)) == 9.5e9


@pytest.mark.parametrize("text, message", [
    (json.dumps({"start": {}, "end": {}, "error": "unable to connect to server: Connection refused"}),
     "Connection refused"),
    ("iperf3: error - unable to connect", "did not answer JSON"),
    (json.dumps({"end": {"sum_sent": {}}}), "end.sum_received.bits_per_second"),
])
def test_iperf_failures_say_why(text: str, message: str):
    with pytest.raises(IperfError, match=message):
        iperf_bits_per_second(text)


def test_percentiles_are_values_of_the_sample():
    values = [0.9, 0.1, 0.5, 0.3]
    assert median(values) == pytest.approx(0.4)
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert percentile(values, 50) == 0.3 and percentile(values, 100) == 0.9 and percentile(values, 0) == 0.1
    with pytest.raises(ValueError):
        median([])


def test_table_prints_units_and_the_peer():
    rows = [Row("iperf3 TCP 5 s, cnmd overlay", 3, [10.5e9, 10.7e9, 10.6e9], "Gbit/s", "0.970x the hand-built"),
            Row("connect -> first ping", 10, [0.120, 0.310], "ms"),
            Row("kill -9 -> name gone", 3, [], "s")]
    lines = format_table(rows).splitlines()
    assert lines[0].split("|")[1].strip() == "measure" and set(lines[1]) <= {"|", "-"}
    assert [cell.strip() for cell in lines[2].split("|")[1:-1]] == [
        "iperf3 TCP 5 s, cnmd overlay", "3", "3", "10.60", "10.70", "Gbit/s", "0.970x the hand-built"]
    assert [cell.strip() for cell in lines[3].split("|")[2:6]] == ["10", "2", "215", "310"]
    assert len(lines) == 4, "a measure without samples is left out"
    assert len({len(line) for line in lines}) == 1


def test_a_listening_socket_in_proc_net_tcp():
    text = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
            "   0: 00000000:1451 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
            "   1: 0201000A:9C4A 0301000A:1451 01 00000000:00000000 00:00000000 00000000     0        0 2\n")
    assert is_listening(text, 5201)
    assert not is_listening(text, 40010)  # 0x9C4A is a connected socket, not a listener
    assert not is_listening(text.splitlines()[0], 5201)


def test_hand_built_vxlan_names_its_namespaces_after_the_underlay():
    hand = HandVxlan(Underlay(3, "bx-"), ("node1", "node3"))
    a, b = hand.ends
    assert (a.bridge_ns, a.sandbox_ns, a.ip) == ("bx-hvb-node1", "bx-hvs-node1", "10.250.0.1")
    assert (b.node, b.ip, b.netns) == ("node3", "10.250.0.2", "/run/netns/bx-hvs-node3")
    assert not any(ns in Underlay(3, "bx-").all_netns() for ns in (a.bridge_ns, b.sandbox_ns))
