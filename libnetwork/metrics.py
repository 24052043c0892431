"""The daemon's Prometheus metrics, served at ``/metrics`` on ``cnmd --metrics-addr`` (dockerd's flag).

Everything is registered in this module's ``REGISTRY`` (not the library's
global one), so an embedding process chooses whether to export it.  What is
counted where:

* API request latency: ``middleware``, labelled by route template, never by
  raw path (network IDs would make a series per network);
* network changes (create, connect, disconnect, destroy): ``count_event``
  on the core's event bus;
* DNS queries by answer code, and their latency: ``DnsCollector`` reads the
  resolver's plain counters (dns/stats.py) at scrape time, because the UDP
  thread's hot path cannot afford a metrics call per query;
* firewall transactions: firewall/nft.py; plugin call errors: v1plugins/client.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .dns.stats import LATENCY_SLOTS, RCODE_NAMES, QueryCounts
from .events import LOCAL, Event

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

API_REQUEST_SECONDS = Histogram(
    "cnm_api_request_duration_seconds", "Engine API requests by method, route template and status code",
    ["method", "route", "code"], registry=REGISTRY)
NETWORK_EVENTS = Counter(
    "cnm_network_events", "Network changes: create, connect, disconnect, destroy; source local or remote",
    ["action", "source"], registry=REGISTRY)
FIREWALL_TRANSACTIONS = Counter(
    "cnm_firewall_transactions", "nftables transactions by operation and result (ok, error)",
    ["operation", "result"], registry=REGISTRY)
FIREWALL_SECONDS = Histogram(
    "cnm_firewall_transaction_duration_seconds", "Time of one nftables transaction, by operation",
    ["operation"], registry=REGISTRY)
PLUGIN_CALL_ERRORS = Counter(
    "cnm_plugin_call_errors",
    "Failed calls to out-of-process plugins: error (it answered one), not_implemented (404), unavailable",
    ["plugin", "method", "kind"], registry=REGISTRY)

# DNS latency slots exported as buckets: every other power of two of nanoseconds,
# 1 us to 4 s (slot i holds answers faster than 2**i ns).
_DNS_BUCKET_SLOTS = tuple(range(10, 33, 2))


def count_event(event: Event) -> None:
    # A node ID as a label would make a series per node: local or remote is what matters here.
    NETWORK_EVENTS.labels(event.action, "local" if event.source == LOCAL else "remote").inc()


def route_template(request: web.Request) -> str:
    """``/networks/{id}/connect`` for ``/v1.45/networks/3f2a.../connect``."""
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical.removeprefix("/v{version}")


@web.middleware
async def middleware(request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        API_REQUEST_SECONDS.labels(request.method, route_template(request), str(status)).observe(
            time.perf_counter() - start)


class DnsCollector(Collector):
    """The resolver's query counts (see dns/stats.py), read when Prometheus scrapes."""

    def __init__(self, counts: Callable[[], Iterable[QueryCounts]]):
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        queries = CounterMetricFamily("cnm_dns_queries", "Embedded DNS answers by transport, path "
                                      "(local answer or forwarded upstream) and answer code",
                                      labels=["transport", "path", "rcode"])
        latency = HistogramMetricFamily("cnm_dns_query_duration_seconds", "Embedded DNS time from question "
                                        "to answer sent, by transport and path", labels=["transport", "path"])
        merged: dict[tuple[str, str], tuple[list[int], list[int], int]] = {}
        for counts in self._counts():
            # Copies first: the serving thread keeps writing while we read.
            rcodes, slots, total_ns = list(counts.rcodes), list(counts.latency), counts.latency_ns
            key = (counts.transport, counts.path)
            if key in merged:
                old_rcodes, old_slots, old_ns = merged[key]
                rcodes = [a + b for a, b in zip(old_rcodes, rcodes, strict=True)]
                slots = [a + b for a, b in zip(old_slots, slots, strict=True)]
                total_ns += old_ns
            merged[key] = (rcodes, slots, total_ns)
        for (transport, path), (rcodes, slots, total_ns) in sorted(merged.items()):
            for code, count in enumerate(rcodes):
                if count or code == 0:
                    queries.add_metric([transport, path, RCODE_NAMES[code]], count)
            buckets, cumulative, below = [], 0, 0
            for slot in _DNS_BUCKET_SLOTS:
                cumulative += sum(slots[below:slot + 1])
                below = slot + 1
                buckets.append((f"{2 ** slot / 1e9:.9g}", cumulative))
            buckets.append(("+Inf", cumulative + sum(slots[below:LATENCY_SLOTS])))
            latency.add_metric([transport, path], buckets, total_ns / 1e9)
        yield queries
        yield latency


def register_dns(counts: Callable[[], Iterable[QueryCounts]]) -> Callable[[], None]:
    """Export the resolver's counts; answers the unregister."""
    collector = DnsCollector(counts)
    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve(host: str, port: int) -> web.AppRunner:
    """``/metrics`` on its own TCP site in the daemon's namespace; the caller cleans the runner up."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
