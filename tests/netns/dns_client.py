"""A DNS client for the embedded-DNS tests, run inside a sandbox's namespace.

    python3 dns_client.py query NAME QTYPE [udp|tcp] [SERVER]   -> JSON answer
    python3 dns_client.py many NAME COUNT                       -> JSON list of answer orders
    python3 dns_client.py fuzz COUNT SEED                       -> random and mutated packets
"""

import json
import random
import socket
import struct
import sys

from dnslib import QTYPE, RCODE, DNSRecord

SERVER = "127.0.0.11"


def query(name, qtype, transport="udp", server=SERVER, timeout=8.0):
    request = DNSRecord.question(name, qtype)
    try:
        raw = request.send(server, 53, tcp=transport == "tcp", timeout=timeout)
    except TimeoutError:
        return {"error": "timeout"}
    reply = DNSRecord.parse(raw)
    return {"rcode": RCODE.get(reply.header.rcode), "tc": reply.header.tc,
            "id_ok": reply.header.id == request.header.id,
            "answers": [str(rr.rdata) for rr in reply.rr], "types": [QTYPE.get(rr.rtype) for rr in reply.rr],
            "ttls": [rr.ttl for rr in reply.rr]}


def many(name, count):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    orders = []
    for _ in range(count):
        request = DNSRecord.question(name)
        sock.sendto(request.pack(), (SERVER, 53))
        reply = DNSRecord.parse(sock.recv(4096))
        orders.append([str(rr.rdata) for rr in reply.rr])
    return orders


def fuzz(count, seed):
    rng = random.Random(seed)
    seeds = [bytes(DNSRecord.question(n, t).pack()) for n, t in (("web", "A"), ("search", "AAAA"), ("x.example", "MX"))]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(count):
        if i % 3 == 0:
            packet = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 700)))
        else:
            packet = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 6)):
                if not packet:
                    break
                pos = rng.randrange(len(packet))
                packet[pos] = rng.getrandbits(8)
            if rng.random() < 0.2:
                packet = packet[:rng.randrange(len(packet) + 1)]
            packet = bytes(packet)
        udp.sendto(packet, (SERVER, 53))
    # an oversized datagram, and TCP garbage: a short frame, a huge length, a stalled frame
    udp.sendto(b"\x00" * 9000, (SERVER, 53))
    for payload in (b"\x00\x05abc", b"\xff\xff" + b"x" * 100, struct.pack("!H", 12) + b"\x01\x02\x03"):
        tcp = socket.create_connection((SERVER, 53), timeout=5)
        tcp.sendall(payload)
        tcp.close()
    return {"sent": count}


def main():
    command = sys.argv[1]
    if command == "query":
        print(json.dumps(query(*sys.argv[2:])))
    elif command == "many":
        print(json.dumps(many(sys.argv[2], int(sys.argv[3]))))
    elif command == "fuzz":
        print(json.dumps(fuzz(int(sys.argv[2]), int(sys.argv[3]))))


if __name__ == "__main__":
    main()
