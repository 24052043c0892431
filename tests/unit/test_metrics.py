"""Metrics without a daemon: DNS counts exported at scrape time, request latency by route template, the flag."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from libnetwork import daemon, events, metrics
from libnetwork.api.server import build_app
from libnetwork.cluster.swarm import Swarm


def _samples(collector) -> dict:
    registry = CollectorRegistry()
    registry.register(collector)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples}


def test_dns_counts_become_counters_and_a_histogram():
    udp = metrics.QueryCounts("udp", "local")
    udp.count_batch(3, 3 * 3_000)      # 3 us each: slot 12, below the 4.096 us bucket
    udp.rcodes[0] += 3
    udp.count(3, 2_000_000)             # NXDOMAIN in 2 ms
    again = metrics.QueryCounts("udp", "local")  # a second serving path of the same kind adds up
    again.count(0, 500)
    samples = _samples(metrics.DnsCollector(lambda: [udp, again]))
    labels = (("path", "local"), ("transport", "udp"))
    assert samples[("cnm_dns_queries_total", (("path", "local"), ("rcode", "NOERROR"), ("transport", "udp")))] == 4
    assert samples[("cnm_dns_queries_total", (("path", "local"), ("rcode", "NXDOMAIN"), ("transport", "udp")))] == 1

    def bucket(le: str) -> float:
        return samples[("cnm_dns_query_duration_seconds_bucket", tuple(sorted((*labels, ("le", le)))))]

    assert bucket("1.024e-06") == 1
    assert bucket("4.096e-06") == 4
    assert bucket("0.001048576") == 4
    assert bucket("0.004194304") == 5 and bucket("+Inf") == 5
    assert samples[("cnm_dns_query_duration_seconds_count", labels)] == 5
    assert abs(samples[("cnm_dns_query_duration_seconds_sum", labels)] - (9_000 + 2_000_000 + 500) / 1e9) < 1e-12


def test_request_latency_is_labelled_by_route_template():
    async def run():
        app = build_app(SimpleNamespace(events=events.EventBus(), networks={}, sandboxes={}),
                        Swarm("/nonexistent"), metrics=True)
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            before = _count("GET", "/swarm", "503")
            assert (await client.get("/v1.45/swarm")).status == 503
            assert (await client.get("/swarm")).status == 503
            assert (await client.get("/no/such/route")).status == 404
            assert _count("GET", "/swarm", "503") == before + 2
            assert _count("GET", "unmatched", "404") >= 1
        finally:
            await client.close()

    asyncio.run(run())


def _count(method: str, route: str, code: str) -> float:
    return metrics.REGISTRY.get_sample_value("cnm_api_request_duration_seconds_count",
                                             {"method": method, "route": route, "code": code}) or 0.0


def test_event_counts_tell_local_from_remote():
    net = events.NetworkRef(id="n" * 64, name="n", driver="overlay")
    ep = events.EndpointRef(id="e" * 64, network_id=net.id, sandbox_id="s" * 64, name="s")

    def value(source: str) -> float:
        return metrics.REGISTRY.get_sample_value("cnm_network_events_total",
                                                 {"action": "connect", "source": source}) or 0.0

    local, remote = value("local"), value("remote")
    metrics.count_event(events.EndpointJoined(net, ep))
    metrics.count_event(events.EndpointJoined(net, ep, source="node-7"))
    assert (value("local"), value("remote")) == (local + 1, remote + 1)


@pytest.mark.parametrize("text, address", [
    ("127.0.0.1:9323", ("127.0.0.1", 9323)), ("[::1]:9323", ("::1", 9323)), (":9323", ("", 9323)),
])
def test_metrics_addr_flag(text, address):
    assert daemon.parse_args(["--metrics-addr", text]).metrics_addr == address
    assert daemon.parse_args([]).metrics_addr is None


@pytest.mark.parametrize("text", ["9323", "localhost", "host:port", "1.2.3.4:70000"])
def test_metrics_addr_flag_errors(text, capsys):
    with pytest.raises(SystemExit):
        daemon.parse_args(["--metrics-addr", text])
    assert "expected HOST:PORT" in capsys.readouterr().err


def test_metrics_addr_in_the_config_file(tmp_path):
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"metrics-addr": "127.0.0.1:9400"}))
    assert daemon.parse_args(["--config-file", str(config)]).metrics_addr == ("127.0.0.1", 9400)
