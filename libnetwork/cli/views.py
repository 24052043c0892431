"""What ``ls``, ``inspect`` and ``port`` print, from daemon JSON; no I/O.

The row contexts expose the fields that docker's formatter offers for
``--format`` (``.ID``, ``.Name``, ``.Label "k"`` ...), the inspect renderer
follows cli/command/inspect (raw JSON re-indented by four spaces, or a
template run on the typed value first and on the raw map as a fallback).
"""

import json

from ..gotemplate import TemplateError, go_time_string, parse
from . import gotypes
from .tables import list_format, natural_key, render, truncate_id

# ------------------------------------------------------------------ networks

NETWORK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
NETWORK_RAW = ("network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n",
               "network_id: {{.ID}}")
NETWORK_HEADER = {
    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
    "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


def _bool(value):
    return "true" if value else "false"


def _labels(labels):
    return ",".join("%s=%s" % (k, v) for k, v in sorted((labels or {}).items()))


class NetworkRow:
    """cli/command/network/formatter.go networkContext."""

    go_type_name = "*network.networkContext"

    def __init__(self, net, trunc=True):
        self.net = net
        self.trunc = trunc

    def ID(self):
        ident = self.net.get("Id", "")
        return truncate_id(ident) if self.trunc else ident

    def Name(self):
        return self.net.get("Name", "")

    def Driver(self):
        return self.net.get("Driver", "")

    def Scope(self):
        return self.net.get("Scope", "")

    def IPv4(self):
        return _bool(self.net.get("EnableIPv4", True))

    def IPv6(self):
        return _bool(self.net.get("EnableIPv6", False))

    def Internal(self):
        return _bool(self.net.get("Internal", False))

    def Labels(self):
        return _labels(self.net.get("Labels"))

    def Label(self, name):
        return (self.net.get("Labels") or {}).get(name, "")

    def CreatedAt(self):
        return go_time_string(self.net.get("Created", "0001-01-01T00:00:00Z"))

    def MarshalJSON(self):
        names = ("CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name", "Scope")
        return {n: getattr(self, n)() for n in names}


def network_list_text(networks, fmt="", quiet=False, trunc=True):
    """``network ls`` output: sorted naturally by name, docker's formats."""
    rows = sorted(networks or [], key=lambda n: natural_key(n.get("Name", "")))
    fmt = list_format(fmt or "table", quiet, NETWORK_TABLE, raw_default=NETWORK_RAW)
    return render(fmt, [NetworkRow(n, trunc) for n in rows], NETWORK_HEADER)


# ------------------------------------------------------------------ sandboxes

SANDBOX_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Networks}}"
SANDBOX_HEADER = {
    "ID": "SANDBOX ID", "Name": "NAME", "Networks": "NETWORKS", "Hostname": "HOSTNAME",
    "NetworkMode": "NETWORK MODE", "SandboxKey": "SANDBOX KEY", "CreatedAt": "CREATED AT",
    "Ports": "PORTS", "IPAddresses": "IP ADDRESSES",
}


class SandboxRow:
    """The ``sandbox ls`` row: like docker ps's container context."""

    go_type_name = "*sandbox.sandboxContext"

    def __init__(self, sbox, trunc=True):
        self.sbox = sbox
        self.trunc = trunc

    def ID(self):
        ident = self.sbox.get("Id", "")
        return truncate_id(ident) if self.trunc else ident

    def Name(self):
        return self.sbox.get("Name", "").lstrip("/")

    def Networks(self):
        # Connection order: it is the order of eth0, eth1, ... in the sandbox.
        return ",".join(self.sbox.get("Networks") or {})

    def Hostname(self):
        return self.sbox.get("Hostname", "")

    def NetworkMode(self):
        return self.sbox.get("NetworkMode", "")

    def SandboxKey(self):
        return self.sbox.get("SandboxKey", "")

    def CreatedAt(self):
        return go_time_string(self.sbox.get("Created", "0001-01-01T00:00:00Z"))

    def Ports(self):
        parts = []
        for port, bindings in (self.sbox.get("Ports") or {}).items():
            if not bindings:
                parts.append(port)
                continue
            for b in bindings:
                host = b.get("HostIp", "")
                host = "[%s]" % host if ":" in host else host
                parts.append("%s:%s->%s" % (host, b.get("HostPort", ""), port))
        return ", ".join(sorted(parts, key=natural_key))

    def IPAddresses(self):
        ips = []
        for ep in (self.sbox.get("Networks") or {}).values():
            for key in ("IPAddress", "GlobalIPv6Address"):
                if ep and ep.get(key):
                    ips.append(ep[key])
        return ",".join(ips)

    def MarshalJSON(self):
        return {n: getattr(self, n)() for n in sorted(SANDBOX_HEADER)}


def _match(pattern, value):
    """filters.Args.Match: exact, or an unanchored regular expression."""
    if pattern == value:
        return True
    import re

    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def filter_sandboxes(sandboxes, filters):
    """Client-side ``--filter`` for sandboxes: name, id (prefix), network."""
    out = []
    for sbox in sandboxes:
        keep = True
        for key, values in filters.items():
            if key == "name":
                keep = any(_match(v, sbox.get("Name", "").lstrip("/")) for v in values)
            elif key == "id":
                keep = any(sbox.get("Id", "").startswith(v) for v in values)
            elif key == "network":
                names = set(sbox.get("Networks") or {})
                ids = {(ep or {}).get("NetworkID", "") for ep in (sbox.get("Networks") or {}).values()}
                keep = any(v in names or any(i and i.startswith(v) for i in ids) for v in values)
            else:
                raise ValueError("invalid filter '%s'" % key)
            if not keep:
                break
        if keep:
            out.append(sbox)
    return out


def sandbox_list_text(sandboxes, fmt="", quiet=False, trunc=True):
    rows = sorted(sandboxes or [], key=lambda s: natural_key(s.get("Name", "").lstrip("/")))
    fmt = list_format(fmt or "table", quiet, SANDBOX_TABLE)
    return render(fmt, [SandboxRow(s, trunc) for s in rows], SANDBOX_HEADER)


# ------------------------------------------------------------------ inspect

def indent_json(raw, indent="    "):
    """encoding/json.Indent: re-indent JSON text without re-encoding values."""
    out = []
    depth = 0
    need_indent = False
    in_string = escaped = False
    for ch in raw:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch in " \t\r\n":
            continue
        if need_indent and ch not in "}]":
            need_indent = False
            depth += 1
            out.append("\n" + indent * depth)
        if ch == '"':
            in_string = True
            out.append(ch)
        elif ch in "{[":
            need_indent = True
            out.append(ch)
        elif ch == ",":
            out.append(",\n" + indent * depth)
        elif ch == ":":
            out.append(": ")
        elif ch in "}]":
            if need_indent:
                need_indent = False
            else:
                depth -= 1
                out.append("\n" + indent * depth)
            out.append(ch)
        else:
            out.append(ch)
    return "".join(out)


def compact_json(raw):
    """encoding/json.Compact: drop insignificant whitespace."""
    out = []
    in_string = escaped = False
    for ch in raw:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch not in " \t\r\n":
            if ch == '"':
                in_string = True
            out.append(ch)
    return "".join(out)


def parse_inspect_format(fmt):
    """Parse an inspect ``--format`` up front (docker exits 64 when it is bad).

    Returns None for the JSON outputs ("" and "json")."""
    if fmt in ("", "json"):
        return None
    try:
        return parse(fmt)
    except TemplateError as err:
        raise TemplateError("template parsing error: %s" % err) from None


def inspect_text(raws, fmt="", go_type=None):
    """cli/command/inspect: render raw JSON documents.

    Returns ``(text, errors)``.  With a template, each element is rendered
    on its typed value (``go_type`` from gotypes.STRUCTS) and, if that fails,
    on the raw JSON with missingkey=error, as docker does.
    """
    if fmt == "":
        if not raws:
            return "[]\n", []
        return indent_json("[" + ",".join(raws) + "]") + "\n", []
    if fmt == "json":
        if not raws:
            return "[]\n", []
        return compact_json("[" + ",".join(raws) + "]") + "\n", []
    tmpl = parse_inspect_format(fmt)
    out = []
    errors = []
    for raw in raws:
        data = json.loads(raw)
        text = None
        if go_type is not None:
            try:
                text = tmpl.execute(gotypes.typed(data, go_type))
            except (TemplateError, gotypes.DecodeError):
                text = None
        if text is None:
            try:
                text = tmpl.execute(data, missing_error=True)
            except TemplateError as err:
                errors.append("template parsing error: %s" % err)
                continue
        out.append(text + "\n")
    return ("".join(out) or "\n"), errors


# ------------------------------------------------------------------ port

def port_text(sbox, name, private_port=""):
    """``docker port`` for a sandbox: all mappings, or one private port's.

    Raises ValueError with docker's message when the port is invalid or not
    published."""
    from .ports import format_port_lines, join_host_port

    ports = sbox.get("Ports")
    if ports is None:
        ports = (sbox.get("NetworkSettings") or {}).get("Ports") or {}
    if not private_port:
        lines = format_port_lines(ports)
    else:
        port, _, proto = private_port.partition("/")
        proto = proto or "tcp"
        if not port.isdigit() or int(port) > 65535:
            raise ValueError('Error: invalid port (%s): strconv.ParseUint: parsing "%s": %s'
                             % (port, port, "value out of range" if port.isdigit() else "invalid syntax"))
        frontends = ports.get("%s/%s" % (port, proto))
        if not frontends:
            raise ValueError("Error: No public port '%s' published for %s" % (private_port, name))
        lines = sorted((join_host_port(f.get("HostIp", ""), f.get("HostPort", "")) for f in frontends),
                       key=natural_key)
    return "".join(line + "\n" for line in lines)
