"""``-p/--publish`` and ``--expose`` parsing, as docker run does it.

A port of go-connections/nat ParsePortSpecs (the version vendored by the
docker CLI v28) and of the CLI's long-syntax and --expose handling, so that
``cnm sandbox create -p ...`` accepts exactly what ``docker run -p`` accepts
and sends the same ``ExposedPorts``/``PortBindings`` maps.  Pure functions.

Forms: ``80``, ``8080:80``, ``127.0.0.1:8080:80``, ``127.0.0.1::80``,
``[::1]:8080:80``, ``8000-8005:80-85``, ``8000-8010:80`` (a host range to
pick from), any of them with ``/tcp``, ``/udp`` or ``/sctp``, and the long
syntax ``published=8080,target=80,protocol=udp``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# "80/tcp" -> [{"HostIp": ..., "HostPort": ...}], as docker's PortBindings.
Bindings = dict[str, list[dict[str, str]]]
# "80/tcp" -> {}, as docker's ExposedPorts.
Exposed = dict[str, dict[str, str]]


class PortSpecError(ValueError):
    """A port specification docker would reject (message is docker's)."""


def _parse_uint16(text: str) -> int:
    """strconv.ParseUint(text, 10, 16) with Go's error text."""
    if text == "" or not text.isdigit() or not text.isascii():
        raise PortSpecError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value > 65535:
        raise PortSpecError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def parse_port_range(ports: str) -> tuple[int, int]:
    """nat.ParsePortRange: ``"80"`` -> (80, 80), ``"80-85"`` -> (80, 85)."""
    if ports == "":
        raise PortSpecError("empty string specified for ports")
    if "-" not in ports:
        start = _parse_uint16(ports)
        return start, start
    parts = ports.split("-")
    start = _parse_uint16(parts[0])
    end = _parse_uint16(parts[1])
    if end < start:
        raise PortSpecError("invalid range specified for port: " + ports)
    return start, end


def split_proto_port(raw: str) -> tuple[str, str]:
    """nat.SplitProtoPort: ``"80/udp"`` -> ("udp", "80"); no proto means tcp."""
    port, _, proto = raw.partition("/")
    if port == "":
        return "", ""
    return proto or "tcp", port


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _valid_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_port_spec(raw: str) -> list[tuple[str, dict[str, str]]]:
    """nat.ParsePortSpec: one spec -> list of (port_key, {"HostIp","HostPort"})."""
    ip, host_port, container_port = _split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise PortSpecError("invalid proto: " + proto)
    if ip.startswith("["):
        if not ip.endswith("]") or ip.count("[") != 1:
            raise PortSpecError(f"invalid IP address {ip}: address {ip}:: missing port in address")
        ip = ip[1:-1]
    if ip and not _valid_ip(ip):
        raise PortSpecError("invalid IP address: " + ip)
    if container_port == "":
        raise PortSpecError(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except PortSpecError:
        raise PortSpecError("invalid containerPort: " + container_port) from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except PortSpecError:
            raise PortSpecError("invalid hostPort: " + host_port) from None
        # A host range with a single container port is a range to pick from.
        if end - start != host_end - host_start and end != start:
            raise PortSpecError(
                f"invalid ranges specified for container and host Ports: {container_port} and {host_port}")
    count = end - start + 1
    mappings = []
    for i in range(count):
        hport = ""
        if host_port:
            hport = str(host_start + i)
            if count == 1 and host_start != host_end:
                hport += f"-{host_end}"
        mappings.append((f"{start + i}/{proto}", {"HostIp": ip, "HostPort": hport}))
    return mappings


def to_standard_notation(specs: Iterable[str]) -> list[str]:
    """The CLI's convertToStandardNotation: long syntax -> ``published:target/proto``."""
    out = []
    for spec in specs:
        if "=" not in spec:
            out.append(spec)
            continue
        params = {"protocol": "tcp"}
        for param in spec.split(","):
            key, sep, value = param.partition("=")
            if not sep or not key:
                raise PortSpecError(f"invalid publish opts format (should be name=value but got '{param}')")
            params[key] = value
        out.append(f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}")
    return out


def parse_port_specs(specs: Iterable[str]) -> tuple[Exposed, Bindings]:
    """nat.ParsePortSpecs: -> (ExposedPorts {"80/tcp": {}}, PortBindings
    {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}), in the order given."""
    exposed: Exposed = {}
    bindings: Bindings = {}
    for spec in to_standard_notation(specs):
        for port, binding in parse_port_spec(spec):
            exposed.setdefault(port, {})
            bindings.setdefault(port, []).append(binding)
    return exposed, bindings


def parse_expose(specs: Iterable[str], exposed: Exposed) -> Exposed:
    """--expose PORT[/PROTO] or RANGE[/PROTO], merged into ``exposed``."""
    for spec in specs:
        if ":" in spec:
            raise PortSpecError(f"invalid port format for --expose: {spec}")
        proto, port = split_proto_port(spec)
        try:
            start, end = parse_port_range(port)
        except PortSpecError as err:
            raise PortSpecError(f"invalid range format for --expose: {spec}, error: {err}") from None
        for p in range(start, end + 1):
            exposed.setdefault(f"{p}/{proto}", {})
    return exposed


def format_port_lines(ports: Mapping[str, list[dict[str, str]] | None] | None) -> list[str]:
    """``docker port`` lines: ``80/tcp -> 0.0.0.0:8080``, natural order."""
    from .tables import natural_key

    out = []
    for port, bindings in (ports or {}).items():
        for b in bindings or []:
            out.append(f"{port} -> {join_host_port(b.get('HostIp', ''), b.get('HostPort', ''))}")
    return sorted(out, key=natural_key)


def join_host_port(host: str, port: str) -> str:
    """net.JoinHostPort: brackets around IPv6 hosts."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"
