"""Embedded DNS throughput and latency: cnmd's resolver against aardvark-dns and dnsmasq.

The same names (one per sandbox, as a container engine would register
them) are served by three resolvers, each in throwaway namespaces, and
queried by the same client, dnsperf, over the loopback of the namespace the
resolver listens in:

  cnmd       the daemon in a throwaway host namespace, a network with the
             sandboxes; dnsperf runs inside one of them against 127.0.0.11;
  aardvark   podman's resolver, given the same names in its config file,
             queried from a "container" address it knows;
  dnsmasq    the same names as an additional hosts file.

Each server gets a throughput run (dnsperf keeps 100 queries in flight for
the whole time) and a latency run at a fixed rate that every server
sustains (per-query latencies from dnsperf -v; p50 and p99).  Runs are
interleaved round by round; the best throughput and the median latencies
of the rounds are reported.
The server's own CPU time per answered query is printed too: on a shared
machine it varies less than queries per second do.

Needs root and the Debian packages dnsperf, aardvark-dns and dnsmasq-base
(not part of CI).  Usage:

    python3 labs/bench_dns.py [--names 20] [--seconds 10] [--rounds 3] [--rate 10000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from libnetwork.testing import add_netns, delete_netns, new_daemon, run_in

AARDVARK_PATHS = ("/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns")
SUBNET = "10.89.0"
LISTEN = f"{SUBNET}.1"
CLIENT = f"{SUBNET}.2"


def find_aardvark() -> str:
    for path in AARDVARK_PATHS:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("aardvark-dns")
    if not found:
        sys.exit("aardvark-dns not found: apt-get install aardvark-dns "
                 "(or apt-get download aardvark-dns && dpkg -x aardvark-dns_*.deb DIR)")
    return found


def need(tool: str) -> None:
    if not shutil.which(tool):
        sys.exit(f"{tool} not found: apt-get install {'dnsmasq-base' if tool == 'dnsmasq' else tool}")


def names_for(count: int) -> list[str]:
    return [f"svc{i:03d}" for i in range(count)]


def address_of(index: int) -> str:
    return f"{SUBNET}.{10 + index}"


def wait_for_answer(netns: str, server: str, name: str, source: str | None = None) -> None:
    argv = ["dig", "+short", "+time=1", "+tries=1", f"@{server}", name]
    if source:
        argv[1:1] = ["-b", source]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        result = run_in(netns, *argv, check=False)
        if result.returncode == 0 and result.stdout.strip():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server} in {netns} does not answer {name}")


def dnsperf(netns: str, server: str, queries: str, seconds: int, source: str | None = None,
            rate: int | None = None, verbose: bool = False) -> subprocess.CompletedProcess:
    argv = ["dnsperf", "-s", server, "-d", queries, "-l", str(seconds), "-c", "1", "-T", "1", "-q", "100"]
    if source:
        argv += ["-a", source]
    if rate:
        argv += ["-Q", str(rate)]
    if verbose:
        argv.append("-v")
    return run_in(netns, *argv, timeout=seconds + 60)


def _field(pattern: str, output: str) -> str:
    match = re.search(pattern, output)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in dnsperf's output:\n{output}")
    return match.group(1)


def parse_qps(output: str) -> tuple[float, float]:
    qps = float(_field(r"Queries per second:\s+([\d.]+)", output))
    lost = re.search(r"Queries lost:\s+(\d+)", output)
    return qps, float(lost.group(1)) if lost else 0.0


def parse_latencies(output: str) -> list[float]:
    # dnsperf -v: "> NOERROR svc001 A 0.000071"
    return [float(m.group(1)) for m in re.finditer(r"^> \S+ \S+ \S+ ([\d.]+)$", output, re.M)]


class Target:
    def __init__(self, label: str, netns: str, server: str, source: str | None = None, pid=None):
        self.label, self.netns, self.server, self.source = label, netns, server, source
        self.pid = pid                    # a callable: the server's pid, for its CPU time
        self.qps: list[float] = []
        self.lost = 0.0
        self.latencies: list[tuple[float, float]] = []   # (p50, p99) per round
        self.cpu_per_query: list[float] = []


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def completed(output: str) -> int:
    return int(_field(r"Queries completed:\s+(\d+)", output))


def start_cnmd(names: list[str], stack) -> Target:
    daemon = new_daemon()
    stack.append(daemon.cleanup)
    daemon.start()
    daemon.cnm("network", "create", "--subnet", f"{SUBNET}.0/24", "bench")
    for index, name in enumerate(names):
        daemon.cnm("sandbox", "create", "--name", name, "--network", "bench", "--ip", address_of(index))
    daemon.cnm("sandbox", "create", "--name", "client", "--network", "bench", "--ip", CLIENT)
    netns = daemon.sandbox_netns("client")
    wait_for_answer(netns, "127.0.0.11", names[0])

    def pid() -> int:
        assert daemon.process is not None
        return daemon.process.pid

    return Target("cnmd", netns, "127.0.0.11", pid=pid)


def _namespace_with_addresses(prefix: str, stack) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    path = add_netns(name)
    stack.append(lambda: delete_netns(name))
    run_in(path, "ip", "link", "set", "lo", "up")
    # A veth pair, not a dummy device: the CI kernel has no dummy module.
    run_in(path, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
    run_in(path, "ip", "link", "set", "d1", "up")
    run_in(path, "ip", "addr", "add", f"{LISTEN}/24", "dev", "d0")
    run_in(path, "ip", "addr", "add", f"{CLIENT}/24", "dev", "d0")
    run_in(path, "ip", "link", "set", "d0", "up")
    return path


def _spawn(netns: str, argv: list[str], log: str, stack) -> subprocess.Popen:
    handle = open(log, "w")
    process = subprocess.Popen(["nsenter", f"--net={netns}", *argv], stdout=handle, stderr=subprocess.STDOUT,
                               start_new_session=True)

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        handle.close()

    stack.append(stop)
    return process


def start_aardvark(names: list[str], workdir: str, stack) -> Target:
    netns = _namespace_with_addresses("bench-aardvark", stack)
    config = os.path.join(workdir, "aardvark")
    os.makedirs(config)
    lines = [LISTEN]
    lines += [f"{uuid.uuid4().hex}{uuid.uuid4().hex} {address_of(i)}  {name}" for i, name in enumerate(names)]
    lines.append(f"{uuid.uuid4().hex}{uuid.uuid4().hex} {CLIENT}  client")
    with open(os.path.join(config, "bench"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    process = _spawn(netns, [find_aardvark(), "--config", config, "-p", "53", "run"],
                     os.path.join(workdir, "aardvark.log"), stack)
    # aardvark-dns forks into the background: find it by its pid file to stop it after.
    pid_file = os.path.join(config, "aardvark.pid")

    def stop_daemonized() -> None:
        try:
            with open(pid_file) as handle:
                os.kill(int(handle.read().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass

    stack.append(stop_daemonized)
    wait_for_answer(netns, LISTEN, names[0], CLIENT)
    del process

    def pid() -> int:
        with open(pid_file) as handle:
            return int(handle.read().strip())

    return Target("aardvark-dns", netns, LISTEN, CLIENT, pid=pid)


def start_dnsmasq(names: list[str], workdir: str, stack) -> Target:
    netns = _namespace_with_addresses("bench-dnsmasq", stack)
    hosts = os.path.join(workdir, "dnsmasq.hosts")
    with open(hosts, "w") as handle:
        handle.writelines(f"{address_of(i)} {name}\n" for i, name in enumerate(names))
    process = _spawn(netns, ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
                   f"--listen-address={LISTEN}", "--bind-interfaces", "--except-interface=lo", "--port=53",
                   "--local-ttl=600", "--user=root", "--pid-file=", "--log-facility=-"],
           os.path.join(workdir, "dnsmasq.log"), stack)
    wait_for_answer(netns, LISTEN, names[0], CLIENT)
    return Target("dnsmasq", netns, LISTEN, CLIENT, pid=lambda: process.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=20, help="sandboxes (names) served (default %(default)s)")
    parser.add_argument("--seconds", type=int, default=10, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput runs per server, interleaved")
    parser.add_argument("--rate", type=int, default=10000, help="queries/s of the latency run")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (it creates throwaway network namespaces)")
    for tool in ("dnsperf", "dnsmasq", "dig"):
        need(tool)
    find_aardvark()

    names = names_for(args.names)
    workdir = tempfile.mkdtemp(prefix="bench-dns-")
    queries = os.path.join(workdir, "queries")
    with open(queries, "w") as handle:
        handle.writelines(f"{name} A\n" for name in names)
    stack: list = []
    try:
        targets = [start_cnmd(names, stack), start_aardvark(names, workdir, stack),
                   start_dnsmasq(names, workdir, stack)]
        for round_ in range(args.rounds):
            for target in targets:
                before = cpu_seconds(target.pid())
                result = dnsperf(target.netns, target.server, queries, args.seconds, target.source)
                cpu = (cpu_seconds(target.pid()) - before) / completed(result.stdout) * 1e6
                qps, lost = parse_qps(result.stdout)
                target.qps.append(qps)
                target.cpu_per_query.append(cpu)
                target.lost += lost
                result = dnsperf(target.netns, target.server, queries, 5, target.source, rate=args.rate, verbose=True)
                latencies = sorted(parse_latencies(result.stdout))
                target.latencies.append((_percentile(latencies, 0.50), _percentile(latencies, 0.99)))
                print(f"round {round_ + 1}: {target.label:13s} {qps:10.0f} q/s  lost {lost:.0f}  "
                      f"server CPU {cpu:5.1f} us/query  p99 {target.latencies[-1][1] * 1000:.3f} ms", flush=True)
        report(targets, args)
    finally:
        for step in reversed(stack):
            try:
                step()
            except Exception as err:  # cleanup keeps going: every namespace must go
                print(f"cleanup: {err}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(len(values) * fraction))]


def report(targets: list[Target], args) -> None:
    print()
    print(f"{args.names} names, A queries, dnsperf -c 1 -T 1 -q 100, {args.rounds} x {args.seconds}s "
          f"(best kept); latency at {args.rate} q/s for 5s per round (median of rounds)")
    print(f"{'server':14s} {'q/s (best)':>11s} {'q/s (median)':>13s} {'lost':>6s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'CPU us/q':>9s}")
    for t in targets:
        print(f"{t.label:14s} {max(t.qps):11.0f} {statistics.median(t.qps):13.0f} {t.lost:6.0f} "
              f"{statistics.median(p50 for p50, _ in t.latencies) * 1000:8.3f} "
              f"{statistics.median(p99 for _, p99 in t.latencies) * 1000:8.3f} "
              f"{min(t.cpu_per_query):9.1f}")
    ours = max(targets[0].qps)
    aardvark, dnsmasq = max(targets[1].qps), max(targets[2].qps)
    print()
    for label, theirs, target in (("aardvark-dns", aardvark, 1.5), ("dnsmasq", dnsmasq, 0.9)):
        verdict = "met" if ours >= target * theirs else "MISSED"
        print(f"{'cnmd / ' + label + ':':20} {ours / theirs:5.2f}x  (target >= {target}x)  {verdict}")


if __name__ == "__main__":
    main()
