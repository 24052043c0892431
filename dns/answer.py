"""Query bytes in, response bytes out: the pure answer logic of the resolver.

``respond`` returns the response to send, ``FORWARD`` when the question is
not ours (the caller forwards the query unchanged), or None to drop it.

The fast path handles the shape nearly every stub resolver sends (one
question, no answer/authority records, at most an EDNS0 OPT) with byte
slicing and one dictionary lookup.  Everything else goes through dnslib,
which decides between an answer, NODATA, FORMERR, NOTIMP and forwarding.
Nothing here may raise on any input: a malformed packet gets FORMERR when
it has a header to answer, and is dropped otherwise.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Mapping

from dnslib import OPCODE, QTYPE, DNSRecord

from .api import MAX_EDNS_PAYLOAD, TCP_PAYLOAD, UDP_PAYLOAD
from .zone import A_IN, NODATA, QCLASS_IN, Answer


class _Forward:
    def __repr__(self) -> str:
        return "FORWARD"


FORWARD = _Forward()

_ONE_QUESTION = b"\x00\x01\x00\x00\x00\x00"        # QDCOUNT=1, ANCOUNT=0, NSCOUNT=0
_OPT_HEAD = b"\x00\x00\x29"                         # root name, TYPE=OPT
# Our OPT: 4096-byte payload, no extended rcode, version 0, no flags, no options.
_OPT = _OPT_HEAD + struct.pack("!H", MAX_EDNS_PAYLOAD) + b"\x00\x00\x00\x00\x00\x00"
_BADVERS_OPT = _OPT_HEAD + struct.pack("!H", MAX_EDNS_PAYLOAD) + b"\x01\x00\x00\x00\x00\x00"
# Response flags: QR and RA always, RD and CD copied from the query (as miekg/dns SetReply).
_FLAGS = tuple(bytes((0x80 | (i & 1), 0x80 | ((i & 2) << 3))) for i in range(4))
_RCODE_FORMERR, _RCODE_NOTIMP = 1, 4

_choice = random.Random().randrange


def respond(answers: Mapping[bytes, Answer], data: bytes, tcp: bool = False):
    """The response to ``data`` from one sandbox's answers (see the module doc)."""
    return respond_fixed(answers, data, tcp)[0]


def respond_fixed(answers: Mapping[bytes, Answer], data: bytes, tcp: bool = False):
    """(response, fixed): ``fixed`` when the same query bytes always get the same response
    bytes (after the ID) from these answers, so the response may be cached."""
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:10] != _ONE_QUESTION:
        return _slow(answers, data, tcp), False
    end = data.find(b"\x00", 12)
    qend = end + 5
    if end < 0 or qend > n:
        return _slow(answers, data, tcp), False
    answer = answers.get(data[12:qend].lower())
    if answer is None:
        return _slow(answers, data, tcp), False
    ar = data[10:12]
    if ar == b"\x00\x00" and qend == n:
        edns = 0
        limit = TCP_PAYLOAD if tcp else UDP_PAYLOAD
    elif (ar == b"\x00\x01" and data[qend:qend + 3] == _OPT_HEAD and n >= qend + 11 and data[qend + 6] == 0
          and qend + 11 + int.from_bytes(data[qend + 9:qend + 11], "big") == n):
        edns = 1
        limit = TCP_PAYLOAD if tcp else min(max(int.from_bytes(data[qend + 3:qend + 5], "big"), UDP_PAYLOAD),
                                            MAX_EDNS_PAYLOAD)
    else:
        return _slow(answers, data, tcp), False
    variants = answer.variants
    body = variants[0] if len(variants) == 1 else variants[_choice(len(variants))]
    response = b"".join((data[:2], _FLAGS[(data[2] & 1) | ((data[3] >> 3) & 2)], answer.counts[edns],
                         data[12:qend], body, _OPT if edns else b""))
    if len(response) > limit:
        return _build(data[:4], data[12:qend], answer, body, edns, limit), False
    return response, len(variants) == 1


def _build(head: bytes, question: bytes, answer: Answer, body: bytes, edns: int, limit: int,
           opt: bytes = _OPT) -> bytes:
    """A response, truncated (TC set, whole records dropped) when it exceeds ``limit``."""
    flags = bytearray(_FLAGS[(head[2] & 1) | ((head[3] >> 3) & 2)])
    fixed = 12 + len(question) + (len(opt) if edns else 0)
    count = answer.count
    if fixed + len(body) > limit and answer.rr_size:
        count = max(0, (limit - fixed) // answer.rr_size)
        body = body[:count * answer.rr_size]
        flags[0] |= 0x02
    counts = struct.pack("!HHHH", 1, count, 0, 1 if edns else 0)
    return b"".join((head[:2], bytes(flags), counts, question, body, opt if edns else b""))


def error(data: bytes, rcode: int) -> bytes | None:
    """A header-only response with ``rcode``, or None when there is no header to answer."""
    if len(data) < 12 or data[2] & 0x80:
        return None
    flags = bytes(((data[2] & 0x79) | 0x80, 0x80 | (data[3] & 0x10) | rcode))
    return data[:2] + flags + b"\x00" * 8


def _slow(answers: Mapping[bytes, Answer], data: bytes, tcp: bool):
    if len(data) < 12 or data[2] & 0x80:
        return None  # no header, or a response: answering either could start a loop
    try:
        request = DNSRecord.parse(data)
    except Exception:  # dnslib raises many kinds on garbage; every one means FORMERR
        return error(data, _RCODE_FORMERR)
    if request.header.opcode != OPCODE.QUERY:
        return error(data, _RCODE_NOTIMP)
    if len(request.questions) != 1:
        return error(data, _RCODE_FORMERR)
    question = request.questions[0]
    if question.qclass != QCLASS_IN:
        return error(data, _RCODE_NOTIMP)
    opts = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
    if len(opts) > 1:
        return error(data, _RCODE_FORMERR)
    edns = 1 if opts else 0
    labels = question.qname.label
    try:
        wire = b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"
    except (TypeError, ValueError):
        return error(data, _RCODE_FORMERR)
    if len(wire) > 255 or any(len(label) > 63 or not label for label in labels):
        return error(data, _RCODE_FORMERR)
    qtype = struct.pack("!HH", question.qtype, question.qclass)
    if edns and (opts[0].ttl >> 16) & 0xFF != 0:
        # RFC 6891 6.1.3: an EDNS version we do not speak gets BADVERS (extended rcode 16 = 1 << 4).
        return _build(data[:4], wire + qtype, NODATA, b"", 1, TCP_PAYLOAD, _BADVERS_OPT)
    answer = answers.get(wire.lower() + qtype)
    if answer is None:
        if question.qtype in (QTYPE.A, QTYPE.AAAA, QTYPE.PTR) or answers.get(wire.lower() + A_IN) is None:
            return FORWARD
        answer = NODATA
    if tcp:
        limit = TCP_PAYLOAD
    elif edns:
        limit = min(max(opts[0].rclass, UDP_PAYLOAD), MAX_EDNS_PAYLOAD)
    else:
        limit = UDP_PAYLOAD
    variants = answer.variants
    body = variants[0] if len(variants) == 1 else variants[_choice(len(variants))]
    return _build(data[:4], wire + qtype, answer, body, edns, limit)
