"""Forwarding rules with scripted upstreams: next server on SERVFAIL or silence, forged
answers ignored, at most three upstreams, host-loopback ones skipped for internal
networks, REFUSED beyond the cap of concurrent forwarded queries."""

from __future__ import annotations

import json
import os
import sys

from libnetwork.testing import run_in

HERE = os.path.dirname(os.path.abspath(__file__))


def test_forwarder_rules(namespace):
    netns = namespace("cnmf")
    run_in(netns, "ip", "link", "set", "lo", "up")
    result = run_in(netns, sys.executable, os.path.join(HERE, "dns_forward_check.py"), timeout=60)
    seen = json.loads(result.stdout)
    assert seen["servfail_then_next"] == {"rcode": "NOERROR", "answers": ["192.0.2.4"]}
    assert seen["silent_then_next"] == {"rcode": "NOERROR", "answers": ["192.0.2.4"]}
    assert seen["forged_only"] == {"rcode": "SERVFAIL", "answers": []}
    assert seen["none_answers"] == {"rcode": "SERVFAIL", "answers": []}
    assert seen["fourth_is_never_tried"] == {"rcode": "SERVFAIL", "answers": []}
    assert seen["internal_skips_host_loopback"] == 2  # SERVFAIL without asking
    assert seen["outstanding"] == 2
    assert sorted(seen["cap"]) == ["REFUSED", "SERVFAIL", "SERVFAIL"]
    assert seen["outstanding_after"] == 0
