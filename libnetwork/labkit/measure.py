"""What the lab benchmarks measure with and how they print it: iperf3 runs, percentiles, a table.

Pure except for the iperf3 helpers, which run the binary in namespaces;
parsing and reporting are unit-tested without root.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

IPERF_PORT = 5201


class IperfError(RuntimeError):
    pass


def iperf_bits_per_second(report: str) -> float:
    """The receiver's throughput from ``iperf3 -J`` client output (what arrived, not what was sent)."""
    try:
        data = json.loads(report)
    except ValueError as error:
        raise IperfError(f"iperf3 did not answer JSON: {report[:200]!r}") from error
    if data.get("error"):
        raise IperfError(f"iperf3: {data['error']}")
    try:
        return float(data["end"]["sum_received"]["bits_per_second"])
    except (KeyError, TypeError) as error:
        raise IperfError("iperf3's report has no end.sum_received.bits_per_second") from error


def have_iperf3() -> bool:
    return shutil.which("iperf3") is not None


def start_iperf_server(netns: str, timeout: float = 15) -> subprocess.Popen[str]:
    """``iperf3 -s`` in a namespace, serving one client at a time until killed; listening when this returns."""
    proc = subprocess.Popen(["nsenter", f"--net={netns}", "iperf3", "-s", "-p", str(IPERF_PORT)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not listening(netns, IPERF_PORT):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            raise IperfError(f"iperf3 -s in {netns} is not listening: {err.strip() or 'no message'}")
        time.sleep(0.02)
    return proc


def listening(netns: str, port: int) -> bool:
    """Whether a TCP socket listens on port in the namespace (its /proc/net/tcp{,6}: no connection made,
    which an iperf3 server would take for a client)."""
    result = subprocess.run(["nsenter", f"--net={netns}", "cat", "/proc/net/tcp", "/proc/net/tcp6"], check=False,
                            capture_output=True, text=True, timeout=10)
    return is_listening(result.stdout, port)


def is_listening(proc_net_tcp: str, port: int) -> bool:
    """In /proc/net/tcp text: a socket whose local address has that port, in state 0A (LISTEN)."""
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[1].endswith(f":{port:04X}") and fields[3] == "0A":
            return True
    return False


def run_iperf_client(netns: str, server_ip: str, seconds: int, attempts: int = 40) -> float:
    """One TCP run of ``seconds`` from a namespace to a server; bits per second received.

    Whole seconds: iperf3 reads ``-t 0.5`` as 0, which means "until interrupted".

    The server may still be finishing the previous run: a run it refuses is
    tried again, every 50 ms.
    """
    argv = ["nsenter", f"--net={netns}", "iperf3", "-c", server_ip, "-p", str(IPERF_PORT), "-t", str(seconds),
            "-J"]
    last = ""
    for _ in range(attempts):
        result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=seconds + 30)
        if result.returncode == 0:
            return iperf_bits_per_second(result.stdout)
        last = result.stdout or result.stderr
        time.sleep(0.05)
    return iperf_bits_per_second(last)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence: always one of the values."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass(frozen=True)
class Row:
    """One line of a benchmark table: what, where, how many samples, the figures, and the peer's."""

    measure: str
    hosts: int
    samples: Sequence[float]
    unit: str
    peer: str = "-"

    @property
    def p50(self) -> float:
        return median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


def format_value(value: float, unit: str) -> str:
    if unit == "Gbit/s":
        return f"{value / 1e9:.2f}"
    if unit == "ms":
        return f"{value * 1000:.0f}"
    return f"{value:.2f}"


def format_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (prints well in a terminal and pastes into the README)."""
    header = ("measure", "hosts", "n", "p50", "max", "unit", "peer")
    lines = [header] + [
        (row.measure, str(row.hosts), str(len(row.samples)), format_value(row.p50, row.unit),
         format_value(row.max, row.unit), row.unit, row.peer)
        for row in rows if row.samples
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |"
           for line in lines]
    out.insert(1, "|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(out)
