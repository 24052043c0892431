"""Checks run while flags are parsed, as the docker CLI's option types do.

A failing check is a usage error (``invalid argument "x" for "--label"
flag: ...``, exit status 125), raised before any request is made.
"""

from __future__ import annotations

_WHITESPACE = " \t\n\v\f\r"


def validate_label(value: str) -> str:
    """opts.ValidateLabel."""
    key = value.partition("=")[0].lstrip(_WHITESPACE)
    if key == "":
        raise ValueError(f"invalid label '{value}': empty name")
    if any(ch in key for ch in _WHITESPACE):
        raise ValueError(f"label '{key}' contains whitespaces")
    return value


def validate_link(value: str) -> str:
    """opts.ValidateLink: ``name`` or ``name:alias``."""
    if value == "":
        raise ValueError("empty string specified for links")
    if len(value.split(":")) > 2:
        raise ValueError("bad format for links: " + value)
    return value


def validate_filter(value: str) -> str:
    """opts.FilterOpt.Set requires ``name=value``."""
    if value and "=" not in value:
        raise ValueError("bad format of filter (expected name=value)")
    return value


def validate_ip_address(value: str) -> str:
    """opts.ValidateIPAddress (--dns)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError("IP address is not correctly formatted: " + value) from None


def validate_dns_search(value: str) -> str:
    """opts.ValidateDNSSearch: a domain name, or "." for none."""
    domain = value.rstrip(".") if value != "." else value
    if value != "." and (not domain or len(domain) > 255 or domain.startswith(".") or domain.startswith("-")):
        raise ValueError(f"{value} is not a valid domain")
    return value


def validate_extra_host(value: str) -> str:
    """opts.ValidateExtraHost (--add-host): ``name:ip``, or ``name:host-gateway``."""
    import ipaddress

    name, sep, address = value.partition(":")
    if not sep or not name:
        raise ValueError(f"bad format for add-host: {value!r}")
    if address != "host-gateway":
        try:
            ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            raise ValueError(f"invalid IP address in add-host: {address!r}") from None
    return value


def _split_host_port(hostport: str) -> tuple[str, str]:
    """net.SplitHostPort, for the cases a listen address takes."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or hostport[end + 1:end + 2] != ":":
            raise ValueError(hostport)
        return hostport[1:end], hostport[end + 2:]
    host, sep, port = hostport.rpartition(":")
    if not sep or ":" in host:
        raise ValueError(hostport)
    return host, port


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def node_addr(value: str, default: str = "0.0.0.0:2377") -> str:
    """opts.ParseTCPAddr as swarm's NodeAddrOption uses it: ``<ip|interface>[:port]``
    with the default's host and port filled in, returned without ``tcp://``."""
    if value in ("", "tcp://"):
        return default
    addr = value.removeprefix("tcp://")
    if "://" in addr or addr == "":
        raise ValueError(f"invalid proto, expected tcp: {value}")
    default_host, default_port = _split_host_port(default)
    if addr.endswith("]:"):
        addr += default_port
    hostport, slash, path = addr.partition("/")
    try:
        host, port = _split_host_port(hostport)
    except ValueError:
        try:
            host, port = _split_host_port(_join_host_port(hostport, default_port))
        except ValueError:
            raise ValueError(f"invalid bind address format: {value}") from None
    host = host or default_host
    port = port or default_port
    if not port.isdigit() or int(port) == 0:
        raise ValueError(f"invalid bind address format: {value}")
    return _join_host_port(host, port) + slash + path


def validate_cidr_list(value: str) -> str:
    """swarm's ipNetSlice (--default-addr-pool): comma-separated CIDRs, each
    normalised to its network address as net.IPNet.String() prints it."""
    import ipaddress

    if value == "":
        return value
    out = []
    for item in value.translate({ord(q): None for q in "\"'`"}).split(","):
        text = item.strip()
        addr, sep, bits = text.partition("/")
        try:
            if not sep or not bits.isdigit():
                raise ValueError(text)
            ipaddress.ip_address(addr)
            out.append(str(ipaddress.ip_network(f"{addr}/{bits}", strict=False)))
        except ValueError:
            raise ValueError(f"invalid string being converted to CIDR: {item}") from None
    return ",".join(out)


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_duration(value: str) -> int:
    """time.ParseDuration in nanoseconds (``90s``, ``1h30m``, ``1.5h``)."""
    import re

    text = value
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f'time: invalid duration "{value}"')
    from fractions import Fraction

    total = sum(Fraction(n) * _DURATION_UNITS[u] for n, u in parts)
    return sign * int(total)


def validate_duration(value: str) -> str:
    parse_duration(value)
    return value
