"""A small upstream DNS server for the embedded-DNS tests, run inside a throwaway namespace.

    python3 dns_upstream.py ADDRESS LOGFILE MODE

MODE ``world``: ``outside.example`` A 198.51.100.7, ``big.example`` 80 A
records (too many for 512 bytes of UDP), NXDOMAIN for anything else.
MODE ``loopback``: ``loopback.example`` A 203.0.113.9, REFUSED for anything
else (so the resolver moves on to its next upstream).  Each query's source
address and name is appended to LOGFILE.
"""

import sys
import time

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Resolver(BaseResolver):
    def __init__(self, mode, log):
        self.mode, self.log = mode, log

    def resolve(self, request, handler):
        name = str(request.q.qname).rstrip(".").lower()
        with open(self.log, "a") as handle:
            handle.write(f"{handler.client_address[0]} {name} {handler.protocol}\n")
        reply = request.reply()
        if self.mode == "loopback":
            if name == "loopback.example":
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("203.0.113.9"), ttl=60))
            else:
                reply.header.rcode = RCODE.REFUSED
            return reply
        if name == "outside.example":
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("198.51.100.7"), ttl=60))
        elif name == "big.example":
            for i in range(80):
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(f"198.51.100.{i + 10}"), ttl=60))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        if handler.protocol == "udp" and len(reply.pack()) > 512:
            # As a real server truncates: the question stays, the answers go.
            reply = request.reply()
            reply.header.tc = 1
        return reply


def main():
    address, log, mode = sys.argv[1:4]
    resolver = Resolver(mode, log)
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
    servers = [DNSServer(resolver, address=address, port=53, tcp=tcp, logger=quiet) for tcp in (False, True)]
    for server in servers:
        server.start_thread()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
