"""The embedded resolver's answer logic: names, scoping, order, PTR, NODATA, errors."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from dnslib import EDNS0, OPCODE, QTYPE, RCODE, DNSHeader, DNSQuestion, DNSRecord

from libnetwork.dns.answer import FORWARD, respond, respond_fixed
from libnetwork.dns.api import TTL, EndpointNames, Link, NetworkNames, SandboxDNS
from libnetwork.dns.zone import Zones, encode_name

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


def endpoint(names, v4=None, v6=None):
    return EndpointNames(tuple(names), V4(v4) if v4 else None, V6(v6) if v6 else None)


DEV = NetworkNames("nid-dev", "dev", (
    endpoint(["web", "search", "aaaaaaaaaaaa", "webhost"], "10.1.0.2"),
    endpoint(["api", "search"], "10.1.0.3"),
    endpoint(["db"], "10.1.0.4", "fd00:1::4"),
))
PROD = NetworkNames("nid-prod", "prod", (
    endpoint(["shop", "search"], "10.2.0.2"),
    endpoint(["api"], "10.2.0.3"),
))


def views(*specs):
    return Zones().build(specs)


def ask(answers, name, qtype="A", tcp=False, edns=None):
    query = DNSRecord.question(name, qtype)
    if edns is not None:
        query.add_ar(EDNS0(udp_len=edns))
    response = respond(answers, bytes(query.pack()), tcp=tcp)
    if response is FORWARD or response is None:
        return response
    parsed = DNSRecord.parse(response)
    assert parsed.header.id == query.header.id
    assert parsed.header.qr == 1 and parsed.header.ra == 1
    return parsed


def addresses(reply):
    return [str(rr.rdata) for rr in reply.rr]


@pytest.fixture(scope="module")
def dev_only():
    return views(SandboxDNS("s-dev", (DEV,)))["s-dev"].answers


def test_names_aliases_short_id_and_hostname(dev_only):
    for name in ("web", "aaaaaaaaaaaa", "webhost"):
        reply = ask(dev_only, name)
        assert reply.header.rcode == RCODE.NOERROR
        assert addresses(reply) == ["10.1.0.2"]
        assert reply.rr[0].ttl == TTL


def test_names_are_case_insensitive_and_echo_the_question(dev_only):
    reply = ask(dev_only, "WeB")
    assert addresses(reply) == ["10.1.0.2"]
    assert str(reply.q.qname) == "WeB."
    assert addresses(ask(dev_only, "API.DEV")) == ["10.1.0.3"]


def test_name_dot_network(dev_only):
    assert addresses(ask(dev_only, "web.dev")) == ["10.1.0.2"]
    assert addresses(ask(dev_only, "search.dev.")) in (["10.1.0.2", "10.1.0.3"], ["10.1.0.3", "10.1.0.2"])
    assert ask(dev_only, "web.prod") is FORWARD


def test_shared_alias_is_answered_in_varying_order(dev_only):
    orders = {tuple(addresses(ask(dev_only, "search"))) for _ in range(200)}
    assert orders == {("10.1.0.2", "10.1.0.3"), ("10.1.0.3", "10.1.0.2")}


def test_many_endpoints_shuffled_and_all_present():
    many = NetworkNames("n", "big", tuple(endpoint(["svc"], f"10.9.0.{i}") for i in range(2, 12)))
    answers = views(SandboxDNS("s", (many,)))["s"].answers
    seen = set()
    for _ in range(100):
        got = addresses(ask(answers, "svc"))
        assert sorted(got) == sorted(f"10.9.0.{i}" for i in range(2, 12))
        seen.add(tuple(got))
    assert len(seen) > 5


def test_aaaa_and_nodata(dev_only):
    assert addresses(ask(dev_only, "db", "AAAA")) == ["fd00:1::4"]
    for name, qtype in (("web", "AAAA"), ("web", "MX"), ("web", "TXT"), ("db", "SRV")):
        reply = ask(dev_only, name, qtype)
        assert reply.header.rcode == RCODE.NOERROR and reply.rr == [], (name, qtype)


def test_unknown_names_and_types_are_forwarded(dev_only):
    assert ask(dev_only, "example.com") is FORWARD
    assert ask(dev_only, "nosuch", "MX") is FORWARD
    assert ask(dev_only, "9.9.9.9.in-addr.arpa", "PTR") is FORWARD


def test_ptr_answers_name_dot_network(dev_only):
    reply = ask(dev_only, "2.0.1.10.in-addr.arpa", "PTR")
    assert [str(rr.rdata) for rr in reply.rr] == ["web.dev."]
    v6 = ipaddress.IPv6Address("fd00:1::4").reverse_pointer
    assert [str(rr.rdata) for rr in ask(dev_only, v6, "PTR").rr] == ["db.dev."]


def test_scoping_and_connection_order():
    built = views(SandboxDNS("s-dev", (DEV,)), SandboxDNS("s-prod", (PROD,)),
                  SandboxDNS("s-both", (PROD, DEV)), SandboxDNS("s-both2", (DEV, PROD)))
    assert addresses(ask(built["s-prod"].answers, "search")) == ["10.2.0.2"]
    assert ask(built["s-prod"].answers, "web") is FORWARD
    assert ask(built["s-dev"].answers, "shop") is FORWARD
    # on both: the first connected network answers a name both have
    assert addresses(ask(built["s-both"].answers, "api")) == ["10.2.0.3"]
    assert addresses(ask(built["s-both2"].answers, "api")) == ["10.1.0.3"]
    assert addresses(ask(built["s-both"].answers, "api.dev")) == ["10.1.0.3"]
    assert addresses(ask(built["s-both"].answers, "web")) == ["10.1.0.2"]


def test_a_network_without_the_family_does_not_hide_the_next_one():
    only6 = NetworkNames("n6", "six", (endpoint(["x"], v6="fd00:6::2"),))
    only4 = NetworkNames("n4", "four", (endpoint(["x"], "10.4.0.2"),))
    answers = views(SandboxDNS("s", (only6, only4)))["s"].answers
    assert addresses(ask(answers, "x")) == ["10.4.0.2"]
    assert addresses(ask(answers, "x", "AAAA")) == ["fd00:6::2"]


def test_links_are_private_to_the_linking_sandbox():
    built = views(SandboxDNS("linker", (DEV,), links=(Link("db", "database"),)),
                  SandboxDNS("other", (DEV,)),
                  SandboxDNS("scoped", (DEV, PROD), links=(Link("api", "backend", network="prod"),)))
    assert addresses(ask(built["linker"].answers, "database")) == ["10.1.0.4"]
    assert addresses(ask(built["linker"].answers, "DATABASE", "AAAA")) == ["fd00:1::4"]
    assert ask(built["other"].answers, "database") is FORWARD
    assert addresses(ask(built["scoped"].answers, "backend")) == ["10.2.0.3"]


def test_edns_is_echoed_and_tcp_has_no_512_limit():
    many = NetworkNames("n", "big", tuple(endpoint(["svc"], f"10.9.{i // 250}.{i % 250 + 1}") for i in range(100)))
    answers = views(SandboxDNS("s", (many,)))["s"].answers
    udp = ask(answers, "svc")
    assert udp.header.tc == 1 and 0 < len(udp.rr) < 100
    assert len(udp.pack()) <= 512
    big = ask(answers, "svc", edns=4096)
    assert big.header.tc == 0 and len(big.rr) == 100
    assert any(rr.rtype == QTYPE.OPT for rr in big.ar)
    small_edns = ask(answers, "svc", edns=1232)
    assert small_edns.header.tc == 1 and len(small_edns.pack()) <= 1232
    tcp = ask(answers, "svc", tcp=True)
    assert tcp.header.tc == 0 and len(tcp.rr) == 100


def test_recursion_desired_and_checking_disabled_are_copied(dev_only):
    query = DNSRecord(DNSHeader(id=77, rd=0, cd=1), q=DNSQuestion("web"))
    reply = DNSRecord.parse(respond(dev_only, bytes(query.pack())))
    assert reply.header.rd == 0 and reply.header.cd == 1 and reply.header.id == 77


def raw_header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def test_errors(dev_only):
    question = encode_name("web") + b"\x00\x01\x00\x01"
    # a response is never answered (no loops)
    assert respond(dev_only, raw_header(flags=0x8100) + question) is None
    # too short for a header: dropped
    assert respond(dev_only, b"\x12\x34\x01") is None
    # opcode other than QUERY
    notify = DNSRecord.parse(respond(dev_only, raw_header(flags=0x2100 | (OPCODE.NOTIFY << 11)) + question))
    assert notify.header.rcode == RCODE.NOTIMP
    # two questions, no question
    for qd in (2, 0):
        reply = respond(dev_only, raw_header(qd=qd) + question)
        assert DNSRecord.parse(reply).header.rcode == RCODE.FORMERR
    # class CHAOS
    chaos = respond(dev_only, raw_header() + encode_name("web") + b"\x00\x01\x00\x03")
    assert DNSRecord.parse(chaos).header.rcode == RCODE.NOTIMP
    # truncated question
    assert DNSRecord.parse(respond(dev_only, raw_header() + question[:-3])).header.rcode == RCODE.FORMERR
    # trailing garbage after a well-formed question still parses as the question
    reply = respond(dev_only, raw_header() + question + b"garbage")
    assert reply is None or isinstance(reply, bytes) or reply is FORWARD


def test_unknown_edns_version_gets_badvers(dev_only):
    query = DNSRecord.question("web")
    query.add_ar(EDNS0(version=1))
    reply = DNSRecord.parse(respond(dev_only, bytes(query.pack())))
    opt = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT][0]
    assert (opt.ttl >> 24) & 0xFF == 1  # extended rcode 16 (BADVERS) = 1 << 4 | 0


def test_fixed_responses_are_those_that_never_vary(dev_only):
    assert respond_fixed(dev_only, bytes(DNSRecord.question("web").pack()))[1] is True
    assert respond_fixed(dev_only, bytes(DNSRecord.question("search").pack()))[1] is False


def test_views_share_tables_and_rebuild_only_what_changed():
    zones = Zones()
    first = zones.build([SandboxDNS("a", (DEV,)), SandboxDNS("b", (DEV,))])
    assert first["a"].answers is first["b"].answers
    again = zones.build([SandboxDNS("a", (DEV,)), SandboxDNS("b", (DEV,))])
    assert again["a"].answers is first["a"].answers
    changed = NetworkNames("nid-dev", "dev", DEV.endpoints[:1])
    after = zones.build([SandboxDNS("a", (changed,))])
    assert ask(after["a"].answers, "api") is FORWARD


def test_invalid_names_are_skipped():
    odd = NetworkNames("n", "odd", (endpoint(["x" * 64, "ok", "a..b"], "10.7.0.2"),))
    answers = views(SandboxDNS("s", (odd,)))["s"].answers
    assert addresses(ask(answers, "ok")) == ["10.7.0.2"]
    assert encode_name("x" * 64) is None and encode_name("a..b") is None
