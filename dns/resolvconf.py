"""What a sandbox with the embedded resolver sees in /etc/resolv.conf, and its upstreams.

Docker's rules (libnetwork sandbox_dns_unix.go and internal/resolvconf):
the nameservers become ``127.0.0.11`` and turn into the resolver's upstream
servers, noted in an ``# ExtServers: [...]`` comment; the host's loopback
(and zone-scoped) servers are queried from the host's namespace and shown as
``host(<ip>)``; ``ndots:0`` is added unless an ndots option is already set;
the sandbox's ``--dns``/``--dns-search``/``--dns-option`` replace the
host's servers, search domains and options.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from libnetwork.etcfiles import ResolvConf

from .api import DEFAULT_UPSTREAMS, RESOLVER_ADDRESS, Upstream


def _host_loopback(server: str) -> bool:
    if "%" in server:
        return True  # a zone-scoped address only means something in the host's namespace
    return ipaddress.ip_address(server).is_loopback


def _valid(server: str) -> bool:
    try:
        ipaddress.ip_address(server.split("%", 1)[0])
    except ValueError:
        return False
    return True


def upstreams(host: ResolvConf, daemon_dns: Sequence[str] = (),
              sandbox_dns: Sequence[str] = ()) -> tuple[Upstream, ...]:
    """The sandbox's upstream servers, in the order they are tried."""
    # 127.0.0.11 asked from the sandbox would be this resolver asking itself, forever.
    overrides = [s for s in (sandbox_dns or daemon_dns) if _valid(s) and s != RESOLVER_ADDRESS]
    if overrides:
        # --dns servers are the user's choice: queried from the sandbox, even a loopback one.
        return tuple(Upstream(s) for s in dict.fromkeys(overrides))
    servers = [s for s in host.nameservers if _valid(s)]
    if not servers:
        servers = list(DEFAULT_UPSTREAMS)
    return tuple(Upstream(s, host_loopback=_host_loopback(s)) for s in dict.fromkeys(servers))


def embedded_resolv_conf(host: ResolvConf, servers: Sequence[Upstream], dns_search: Sequence[str] = (),
                         dns_options: Sequence[str] = ()) -> ResolvConf:
    search = tuple(dns_search) if dns_search else host.search
    if search == (".",):
        search = ()  # docker's --dns-search . means no search domains
    options = list(dns_options) if dns_options else list(host.options)
    if not any(o.startswith("ndots:") for o in options):
        options.append("ndots:0")
    comment = "# ExtServers: [" + " ".join(str(s) for s in servers) + "]"
    return ResolvConf((RESOLVER_ADDRESS,), search, tuple(options), (comment,))
