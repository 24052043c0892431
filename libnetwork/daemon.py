"""``cnmd``: the daemon.  One asyncio process serving the API on a unix socket."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fcntl
import ipaddress
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import __version__, daemonconfig, logs
from .errors import CnmError

if TYPE_CHECKING:
    from aiohttp import web

    from .controller import Controller

log = logging.getLogger("cnmd")


def _pool(text: str) -> tuple[str, int]:
    """dockerd's --default-address-pool base=CIDR,size=N."""
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    try:
        base = str(ipaddress.ip_network(fields["base"]))
        size = int(fields["size"])
    except (KeyError, ValueError) as err:
        raise argparse.ArgumentTypeError(f"invalid default address pool {text!r}: {err}") from None
    return base, size


def _bip(text: str) -> str:
    try:
        interface = ipaddress.ip_interface(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid --bip {text!r}: expected an address with prefix, e.g. 172.17.0.1/16") from None
    if interface.version != 4:
        raise argparse.ArgumentTypeError("--bip must be IPv4")
    return str(interface)


def _flag_bool(text: str) -> bool:
    """Go's strconv.ParseBool, as dockerd's --icc=false."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid IP address {text!r}") from None


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid CIDR {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: expected seconds > 0")
    return value


def _address(text: str) -> tuple[str, int]:
    """dockerd's --metrics-addr HOST:PORT ([v6]:PORT for IPv6)."""
    try:
        return daemonconfig.address(text)
    except daemonconfig.ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _host(text: str) -> str:
    if not text.startswith("unix://"):
        raise argparse.ArgumentTypeError(f"unsupported host {text!r}: only unix:///path is served")
    return text[len("unix://"):]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cnmd", description="CNM networking daemon with a Docker-compatible API")
    parser.add_argument("--data-root", default="/var/lib/cnm", help="persistent state (default %(default)s)")
    parser.add_argument("--exec-root", default="/run/cnm", help="run-time state (default %(default)s)")
    parser.add_argument("-H", "--host", type=_host, default=None, help="unix:///path of the API socket "
                        "(default unix://<exec-root>/cnm.sock)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--bip", type=_bip, help="address and prefix of the default bridge (dockerd's --bip)")
    parser.add_argument("--default-address-pool", type=_pool, action="append", default=[],
                        metavar="base=CIDR,size=N", help="repeatable; replaces Docker's default pools")
    parser.add_argument("--mtu", type=int, default=1500, help="default MTU of bridge networks")
    parser.add_argument("--bridge-name", default="cnm0", help="device name of the default bridge network")
    parser.add_argument("--dns", action="append", default=[], metavar="IP",
                        help="upstream DNS server for every sandbox (repeatable; dockerd's --dns)")
    parser.add_argument("--resolv-conf", default="/etc/resolv.conf", metavar="PATH",
                        help="the host's resolv.conf: upstream servers, search domains, options (default %(default)s)")
    parser.add_argument("--icc", type=_flag_bool, nargs="?", const=True, default=True, metavar="BOOL",
                        help="traffic between sandboxes of the default bridge network (--icc=false: off)")
    parser.add_argument("--ip-masq", type=_flag_bool, nargs="?", const=True, default=True, metavar="BOOL",
                        help="masquerade traffic leaving the default bridge network")
    parser.add_argument("--iptables", type=_flag_bool, nargs="?", const=True, default=True, metavar="BOOL",
                        help="program the firewall (nftables); --iptables=false: no firewall at all")
    parser.add_argument("--ip", type=_ip, default="0.0.0.0", help="default host address of published ports")
    parser.add_argument("--fixed-cidr", type=_cidr, help="address range of sandboxes on the default bridge")
    parser.add_argument("--default-gateway", type=_ip, help="gateway sandboxes of the default bridge use")
    parser.add_argument("--config-file", metavar="PATH", help="dockerd-style JSON settings, re-read on SIGHUP")
    parser.add_argument("--cleanup", action="store_true",
                        help="remove every kernel object the daemon made (tables, bridges, namespaces) and exit")
    parser.add_argument("--plugin-dir", action="append", default=None, metavar="DIR",
                        help="where Docker plugins' .sock, .spec and .json files are looked for (repeatable; "
                        "default /run/docker/plugins, /etc/docker/plugins, /usr/lib/docker/plugins)")
    parser.add_argument("--plugin-timeout", type=_seconds, default=30.0, metavar="SECONDS",
                        help="how long a plugin may take to answer a call, and to come up (default %(default)s)")
    parser.add_argument("--metrics-addr", type=_address, default=None, metavar="HOST:PORT",
                        help="serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    parser.add_argument("--version", action="version", version=f"cnmd {__version__}")
    args = parser.parse_args(argv)
    args.config_values = {}
    if args.config_file:
        try:
            args.config_values = daemonconfig.load(args.config_file)
            daemonconfig.merge(args, parser, args.config_values)
        except daemonconfig.ConfigError as err:
            parser.exit(1, f"cnmd: {err}\n")
    return args


class AlreadyRunning(SystemExit):
    pass


def _lock_data_root(data_root: str):
    os.makedirs(data_root, exist_ok=True)
    handle = open(os.path.join(data_root, "cnmd.lock"), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        raise AlreadyRunning(f"cnmd: data root {data_root} is in use by cnmd (pid {holder}); "
                             "refusing to start a second daemon on it") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _raise_fd_limit() -> None:
    # One netlink socket stays open per sandbox namespace.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from .api.server import build_app
    from .cluster.orchestrator import Orchestrator
    from .cluster.scope import SwarmNetworks
    from .cluster.services import Services
    from .cluster.swarm import Swarm
    from .cluster.taskagent import TaskAgent
    from .controller import Controller, Settings
    from .endpoint_gossip import EndpointGossip
    from .ingress_mesh import IngressMesh
    from .service_lb import ServiceBalancer

    socket_path = args.host or os.path.join(args.exec_root, "cnm.sock")
    settings = Settings(
        data_root=args.data_root, exec_root=args.exec_root, bip=args.bip,
        default_address_pools=tuple(args.default_address_pool), mtu=args.mtu,
        default_bridge_name=args.bridge_name,
        iptables=args.iptables, icc=args.icc, ip_masq=args.ip_masq, default_binding_ip=args.ip,
        fixed_cidr=args.fixed_cidr, default_gateway=args.default_gateway,
        dns=tuple(args.dns), resolv_conf=args.resolv_conf,
        plugin_timeout=args.plugin_timeout,
    )
    if args.plugin_dir:
        settings = dataclasses.replace(settings, plugin_dirs=tuple(args.plugin_dir))
    controller = Controller(settings)
    cluster = Swarm(args.data_root)
    scope = SwarmNetworks(cluster)
    controller.attach_swarm(scope)
    services = Services(cluster, scope.allocator, is_local_network=lambda term: _is_local_network(controller, term))
    # Both follow the endpoint events, those the restore replays included.
    balancer, mesh = ServiceBalancer(controller), IngressMesh(controller)
    balancer.start()
    mesh.start()
    # Side by side: a restarted node is back in its swarm while the controller restores its networks.
    await asyncio.gather(controller.start(), cluster.start())
    gossip = EndpointGossip(controller, cluster,
                            lambda: cluster.state.data_path_addr if cluster.state is not None else None)
    gossip.start()
    mesh.resume()
    orchestrator = Orchestrator(cluster, services)
    orchestrator.start()
    agent = TaskAgent(cluster, services, controller, os.path.join(args.exec_root, "tasks"))
    agent.start()

    metrics_runner, stop_metrics = await _start_metrics(args, controller)
    runner = web.AppRunner(build_app(controller, cluster, services, metrics=metrics_runner is not None),
                           access_log=None, handle_signals=False)
    await runner.setup()
    os.makedirs(os.path.dirname(socket_path) or ".", exist_ok=True)
    if os.path.exists(socket_path):
        os.unlink(socket_path)  # a stale socket: the data-root lock says no daemon owns it
    site = web.UnixSite(runner, socket_path)
    await site.start()
    os.chmod(socket_path, 0o660)
    log.info("daemon started", extra={"version": __version__, "socket": socket_path,
                                      "data_root": args.data_root, "exec_root": args.exec_root})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.config_file:
        loop.add_signal_handler(signal.SIGHUP, _reload_config, args)
    await stop.wait()
    log.info("daemon stopping")
    await runner.cleanup()
    if metrics_runner is not None:
        await metrics_runner.cleanup()
    stop_metrics()
    await agent.close()
    await orchestrator.close()
    await mesh.close()
    await balancer.close()
    await gossip.close()
    await cluster.close()
    await controller.close()
    if os.path.exists(socket_path):
        os.unlink(socket_path)
    log.info("daemon stopped")


def _is_local_network(controller: Controller, term: str) -> bool:
    try:
        return bool(controller.find_network(term).scope == "local")
    except CnmError:
        return False


async def _start_metrics(args: argparse.Namespace,
                         controller: Controller) -> tuple[web.AppRunner | None, Callable[[], None]]:
    """The metrics site when --metrics-addr asks for one, and what stops its feeds."""
    if args.metrics_addr is None:
        return None, lambda: None
    from . import metrics

    host, port = args.metrics_addr
    unsubscribe = controller.events.subscribe(metrics.count_event)
    unregister = metrics.register_dns(controller.dns.resolver.query_counts)
    runner = await metrics.serve(host, port)
    log.info("metrics served", extra={"address": f"http://{host}:{port}/metrics"})

    def stop() -> None:
        unsubscribe()
        unregister()

    return runner, stop


def _reload_config(args: argparse.Namespace) -> None:
    try:
        args.config_values = daemonconfig.reload(args.config_file, args.config_values)
    except daemonconfig.ConfigError as err:
        log.error("configuration not reloaded", extra={"file": args.config_file, "error": str(err)})


def _cleanup(args: argparse.Namespace) -> None:
    from .cleanup import cleanup

    failures = cleanup(args.data_root, args.exec_root, args.bridge_name)
    for failure in failures:
        log.error("cleanup step failed", extra={"error": failure})
    sys.exit(1 if failures else 0)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logs.setup(args.log_level)
    try:
        lock = _lock_data_root(args.data_root)
    except AlreadyRunning as err:
        print(err.code, file=sys.stderr)
        sys.exit(1)
    if args.cleanup:
        try:
            _cleanup(args)
        finally:
            lock.close()
    _raise_fd_limit()
    try:
        asyncio.run(serve(args))
    except Exception:
        log.exception("daemon failed")
        sys.exit(1)
    finally:
        lock.close()


if __name__ == "__main__":
    main()
