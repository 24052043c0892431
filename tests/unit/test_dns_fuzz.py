"""Random and mutated packets never make the answer logic raise, and answers stay well-formed."""

from __future__ import annotations

import ipaddress

from dnslib import EDNS0, DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libnetwork.dns.answer import FORWARD, respond
from libnetwork.dns.api import EndpointNames, NetworkNames, SandboxDNS
from libnetwork.dns.zone import Zones

NETWORK = NetworkNames("n", "dev", tuple(
    EndpointNames((f"svc{i}", "search"), ipaddress.IPv4Address(f"10.1.0.{i + 2}"),
                  ipaddress.IPv6Address(f"fd00::{i + 2}")) for i in range(40)))
ANSWERS = Zones().build([SandboxDNS("s", (NETWORK,))])["s"].answers

SEEDS = [bytes(DNSRecord.question(name, qtype).pack()) for name, qtype in (
    ("svc1", "A"), ("search", "A"), ("search", "AAAA"), ("svc2.dev", "AAAA"), ("3.0.1.10.in-addr.arpa", "PTR"),
    ("example.com", "MX"), ("svc1", "TXT"))]
_edns = DNSRecord.question("search")
_edns.add_ar(EDNS0(udp_len=1232))
SEEDS.append(bytes(_edns.pack()))


def check(data: bytes, tcp: bool) -> None:
    result = respond(ANSWERS, data, tcp=tcp)
    assert result is None or result is FORWARD or isinstance(result, bytes)
    if isinstance(result, bytes):
        assert result[:2] == data[:2]
        assert result[2] & 0x80  # always a response
        assert len(result) <= (65535 if tcp else 4096)
        if not tcp and len(data) >= 12 and not (data[2] & 0x80):
            # a well-formed query was answered: the answer must parse
            DNSRecord.parse(result)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.booleans())
def test_random_bytes(data, tcp):
    check(data, tcp)


@st.composite
def mutated(draw):
    packet = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(("flip", "set", "cut", "insert", "count")))
        position = draw(st.integers(0, max(0, len(packet) - 1)))
        if action == "flip" and packet:
            packet[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "set" and packet:
            packet[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del packet[position:]
        elif action == "insert":
            packet[position:position] = draw(st.binary(min_size=1, max_size=20))
        elif action == "count" and len(packet) >= 12:
            # header counts are what parsers trust most
            index = draw(st.sampled_from((4, 6, 8, 10)))
            packet[index:index + 2] = draw(st.integers(0, 65535)).to_bytes(2, "big")
    return bytes(packet)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_mutated_queries(data, tcp):
    check(data, tcp)


def test_compression_loop_in_question_gets_formerr():
    header = bytes.fromhex("abcd01000001000000000000")
    looping = header + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    result = respond(ANSWERS, looping)
    assert result is None or result is FORWARD or DNSRecord.parse(result).header.rcode == 1


def test_still_answers_after_the_storm():
    reply = DNSRecord.parse(respond(ANSWERS, SEEDS[0]))
    assert [str(rr.rdata) for rr in reply.rr] == ["10.1.0.3"]
