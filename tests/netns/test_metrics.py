"""`cnmd --metrics-addr`: a Prometheus scrape after connects and DNS queries shows them, and they grow."""

from __future__ import annotations

import json
import os
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from libnetwork.testing import running_daemon

HERE = os.path.dirname(__file__)
ADDRESS = "127.0.0.1:9323"  # in the daemon's throwaway namespace: no clash with the machine's


@pytest.fixture(scope="module")
def metered():
    with running_daemon("--metrics-addr", ADDRESS) as daemon:
        yield daemon


def scrape(daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = daemon.run_on_host("curl", "-sf", f"http://{ADDRESS}/metrics").stdout
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def dns_queries(daemon, sandbox: str, name: str, count: int) -> None:
    answers = json.loads(daemon.run_in_sandbox(
        sandbox, sys.executable, os.path.join(HERE, "dns_client.py"), "many", name, str(count)).stdout)
    assert len(answers) == count and all(answers)


def test_scrape_shows_connects_dns_requests_and_firewall(metered):
    metered.docker("network", "create", "m-net")
    metered.cnm("sandbox", "create", "--name", "m-a", "--network", "m-net")
    metered.cnm("sandbox", "create", "--name", "m-b", "--network", "m-net")
    dns_queries(metered, "m-a", "m-b", 20)
    first = scrape(metered)

    assert value(first, "cnm_network_events_total", action="create", source="local") >= 1
    assert value(first, "cnm_network_events_total", action="connect", source="local") >= 2
    local_udp = {"transport": "udp", "path": "local"}
    assert value(first, "cnm_dns_queries_total", rcode="NOERROR", **local_udp) >= 20
    assert value(first, "cnm_dns_query_duration_seconds_count", **local_udp) >= 20
    assert value(first, "cnm_dns_query_duration_seconds_bucket", le="+Inf", **local_udp) >= 20
    assert value(first, "cnm_dns_query_duration_seconds_sum", **local_udp) > 0
    created = value(first, "cnm_api_request_duration_seconds_count", method="POST", route="/networks/create",
                    code="201")
    assert created >= 1
    assert value(first, "cnm_firewall_transactions_total", operation="add_network", result="ok") >= 1

    metered.docker("network", "connect", "m-net", "m-c", check=False)  # no such sandbox: a 404, counted
    metered.cnm("sandbox", "create", "--name", "m-c")
    metered.docker("network", "connect", "m-net", "m-c")
    metered.docker("network", "disconnect", "m-net", "m-c")
    dns_queries(metered, "m-b", "m-a", 30)
    second = scrape(metered)

    assert value(second, "cnm_network_events_total", action="connect", source="local") >= \
        value(first, "cnm_network_events_total", action="connect", source="local") + 2
    assert value(second, "cnm_network_events_total", action="disconnect", source="local") >= \
        value(first, "cnm_network_events_total", action="disconnect", source="local") + 1
    assert value(second, "cnm_dns_queries_total", rcode="NOERROR", **local_udp) >= \
        value(first, "cnm_dns_queries_total", rcode="NOERROR", **local_udp) + 30
    assert value(second, "cnm_api_request_duration_seconds_count", method="POST",
                 route="/networks/{id}/connect", code="404") == 1
    # Labelled by route template: no series per network ID or name.
    assert not any("m-net" in str(labels) for _, labels in second)


def test_no_metrics_site_without_the_flag(cnmd):
    refused = cnmd.run_on_host("curl", "-sf", f"http://{ADDRESS}/metrics", check=False)
    assert refused.returncode != 0
