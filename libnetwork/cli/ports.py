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


class PortSpecError(ValueError):
    """A port specification docker would reject (message is docker's)."""


def _parse_uint16(text):
    """strconv.ParseUint(text, 10, 16) with Go's error text."""
    if text == "" or not text.isdigit() or not text.isascii():
        raise PortSpecError('strconv.ParseUint: parsing "%s": invalid syntax' % text)
    value = int(text)
    if value > 65535:
        raise PortSpecError('strconv.ParseUint: parsing "%s": value out of range' % text)
    return value


def parse_port_range(ports):
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


def split_proto_port(raw):
    """nat.SplitProtoPort: ``"80/udp"`` -> ("udp", "80"); no proto means tcp."""
    port, _, proto = raw.partition("/")
    if port == "":
        return "", ""
    return proto or "tcp", port


def _split_parts(raw):
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _valid_ip(text):
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_port_spec(raw):
    """nat.ParsePortSpec: one spec -> list of (port_key, {"HostIp","HostPort"})."""
    ip, host_port, container_port = _split_parts(raw)
    proto, container_port = split_proto_port(container_port)
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise PortSpecError("invalid proto: " + proto)
    if ip.startswith("["):
        if not ip.endswith("]") or ip.count("[") != 1:
            raise PortSpecError("invalid IP address %s: address %s:: missing port in address"
                                % (ip, ip))
        ip = ip[1:-1]
    if ip and not _valid_ip(ip):
        raise PortSpecError("invalid IP address: " + ip)
    if container_port == "":
        raise PortSpecError("no port specified: %s<empty>" % raw)
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
            raise PortSpecError("invalid ranges specified for container and host Ports: %s and %s"
                                % (container_port, host_port))
    count = end - start + 1
    mappings = []
    for i in range(count):
        hport = ""
        if host_port:
            hport = str(host_start + i)
            if count == 1 and host_start != host_end:
                hport += "-%d" % host_end
        mappings.append(("%d/%s" % (start + i, proto), {"HostIp": ip, "HostPort": hport}))
    return mappings


def to_standard_notation(specs):
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
                raise PortSpecError("invalid publish opts format (should be name=value but got '%s')"
                                    % param)
            params[key] = value
        out.append("%s:%s/%s" % (params.get("published", ""), params.get("target", ""),
                                 params["protocol"]))
    return out


def parse_port_specs(specs):
    """nat.ParsePortSpecs: -> (ExposedPorts {"80/tcp": {}}, PortBindings
    {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}), in the order given."""
    exposed = {}
    bindings = {}
    for spec in to_standard_notation(specs):
        for port, binding in parse_port_spec(spec):
            exposed.setdefault(port, {})
            bindings.setdefault(port, []).append(binding)
    return exposed, bindings


def parse_expose(specs, exposed):
    """--expose PORT[/PROTO] or RANGE[/PROTO], merged into ``exposed``."""
    for spec in specs:
        if ":" in spec:
            raise PortSpecError("invalid port format for --expose: %s" % spec)
        proto, port = split_proto_port(spec)
        try:
            start, end = parse_port_range(port)
        except PortSpecError as err:
            raise PortSpecError("invalid range format for --expose: %s, error: %s"
                                % (spec, err)) from None
        for p in range(start, end + 1):
            exposed.setdefault("%d/%s" % (p, proto), {})
    return exposed


def format_port_lines(ports):
    """``docker port`` lines: ``80/tcp -> 0.0.0.0:8080``, natural order."""
    from .tables import natural_key

    out = []
    for port, bindings in (ports or {}).items():
        for b in bindings or []:
            out.append("%s -> %s" % (port, join_host_port(b.get("HostIp", ""), b.get("HostPort", ""))))
    return sorted(out, key=natural_key)


def join_host_port(host, port):
    """net.JoinHostPort: brackets around IPv6 hosts."""
    if ":" in host:
        return "[%s]:%s" % (host, port)
    return "%s:%s" % (host, port)
