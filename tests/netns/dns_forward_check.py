"""The forwarder's rules against scripted upstreams, run inside a throwaway namespace.

Upstreams on loopback: 127.0.0.2 answers SERVFAIL, 127.0.0.3 never answers,
127.0.0.4 answers, 127.0.0.5 answers from the wrong port (a forgery).
Prints one JSON object with what each check saw.
"""

import asyncio
import json
import socket
import threading

from dnslib import RCODE, DNSRecord

from libnetwork.dns.api import SandboxDNS, Upstream
from libnetwork.dns.forward import Forwarder
from libnetwork.dns.sockets import ResolverSockets


def serve(address, behaviour):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 53))
    liar = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    liar.bind((address, 54))

    def run():
        while True:
            data, client = sock.recvfrom(4096)
            request = DNSRecord.parse(data)
            reply = request.reply()
            if behaviour == "servfail":
                reply.header.rcode = RCODE.SERVFAIL
            elif behaviour == "silent":
                continue
            reply.add_answer(*__import__("dnslib").RR.fromZone(f"{request.q.qname} 60 A 192.0.2.{address[-1]}"))
            (liar if behaviour == "forged" else sock).sendto(reply.pack(), client)

    threading.Thread(target=run, daemon=True).start()


def fake_sockets():
    def udp(family=socket.AF_INET, address=("0.0.0.0", 0)):
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind(address)
        sock.setblocking(False)
        return sock

    listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    return ResolverSockets(udp=udp(), tcp=listen, upstream4=(udp(), udp()), upstream6=())


async def main():
    for address, behaviour in (("127.0.0.2", "servfail"), ("127.0.0.3", "silent"), ("127.0.0.4", "ok"),
                               ("127.0.0.5", "forged")):
        serve(address, behaviour)
    specs = {}
    forwarder = Forwarder(lambda: specs, timeout=0.5, max_concurrent=2)
    await forwarder.start()
    forwarder.add_sandbox("s", "/nonexistent", fake_sockets())
    seen = {}

    async def ask(upstreams, external=True, name="x.example"):
        specs["s"] = SandboxDNS("s", (), upstreams=tuple(Upstream(u) for u in upstreams), external_access=external)
        query = DNSRecord.question(name)
        raw = await forwarder.resolve("s", bytes(query.pack()), tcp=False)
        reply = DNSRecord.parse(raw)
        assert reply.header.id == query.header.id
        return {"rcode": RCODE.get(reply.header.rcode), "answers": [str(rr.rdata) for rr in reply.rr]}

    seen["servfail_then_next"] = await ask(["127.0.0.2", "127.0.0.4"])
    seen["silent_then_next"] = await ask(["127.0.0.3", "127.0.0.4"])
    seen["forged_only"] = await ask(["127.0.0.5"])
    seen["none_answers"] = await ask(["127.0.0.2", "127.0.0.3"])
    seen["fourth_is_never_tried"] = await ask(["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.4"])
    specs["s"] = SandboxDNS("s", (), upstreams=(Upstream("127.0.0.4", host_loopback=True),), external_access=False)
    seen["internal_skips_host_loopback"] = DNSRecord.parse(
        await forwarder.resolve("s", bytes(DNSRecord.question("y.example").pack()), tcp=False)).header.rcode

    # beyond the cap of concurrent forwarded queries: REFUSED at once
    specs["s"] = SandboxDNS("s", (), upstreams=(Upstream("127.0.0.3"),))
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(3)
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    for i in range(3):
        forwarder.forward_udp("s", listener, bytes(DNSRecord.question(f"q{i}.example").pack()),
                              client.getsockname())
    await asyncio.sleep(0.1)
    seen["outstanding"] = forwarder.outstanding
    codes = []
    for _ in range(3):
        data, _ = await asyncio.get_running_loop().run_in_executor(None, client.recvfrom, 4096)
        codes.append(RCODE.get(DNSRecord.parse(data).header.rcode))
    seen["cap"] = codes
    seen["outstanding_after"] = forwarder.outstanding
    await forwarder.close()
    print(json.dumps(seen))


asyncio.run(main())
