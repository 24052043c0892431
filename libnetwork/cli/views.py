"""What ``ls``, ``inspect`` and ``port`` print, from daemon JSON; no I/O.

The row contexts expose the fields that docker's formatter offers for
``--format`` (``.ID``, ``.Name``, ``.Label "k"`` ...), the inspect renderer
follows cli/command/inspect (raw JSON re-indented by four spaces, or a
template run on the typed value first and on the raw map as a fallback).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from ..gotemplate import Template, TemplateError, go_time_string, parse
from . import gotypes
from .tables import list_format, natural_key, render, truncate_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    # A network or sandbox object as the daemon returns it.
    JSONObject = dict[str, Any]

# ------------------------------------------------------------------ networks

NETWORK_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
NETWORK_RAW = ("network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n",
               "network_id: {{.ID}}")
NETWORK_HEADER = {
    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
    "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


def _bool(value: object) -> str:
    return "true" if value else "false"


def _labels(labels: Mapping[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


class NetworkRow:
    """cli/command/network/formatter.go networkContext."""

    go_type_name = "*network.networkContext"

    def __init__(self, net: JSONObject, trunc: bool = True) -> None:
        self.net = net
        self.trunc = trunc

    def ID(self) -> str:
        ident = self.net.get("Id", "")
        return truncate_id(ident) if self.trunc else ident

    def Name(self) -> str:
        return self.net.get("Name", "")

    def Driver(self) -> str:
        return self.net.get("Driver", "")

    def Scope(self) -> str:
        return self.net.get("Scope", "")

    def IPv4(self) -> str:
        return _bool(self.net.get("EnableIPv4", True))

    def IPv6(self) -> str:
        return _bool(self.net.get("EnableIPv6", False))

    def Internal(self) -> str:
        return _bool(self.net.get("Internal", False))

    def Labels(self) -> str:
        return _labels(self.net.get("Labels"))

    def Label(self, name: str) -> str:
        return (self.net.get("Labels") or {}).get(name, "")

    def CreatedAt(self) -> str:
        return go_time_string(self.net.get("Created", "0001-01-01T00:00:00Z"))

    def MarshalJSON(self) -> dict[str, str]:
        names = ("CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name", "Scope")
        return {n: getattr(self, n)() for n in names}


def network_list_text(networks: Iterable[JSONObject] | None, fmt: str = "", quiet: bool = False,
                      trunc: bool = True) -> str:
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

    def __init__(self, sbox: JSONObject, trunc: bool = True) -> None:
        self.sbox = sbox
        self.trunc = trunc

    def ID(self) -> str:
        ident = self.sbox.get("Id", "")
        return truncate_id(ident) if self.trunc else ident

    def Name(self) -> str:
        return self.sbox.get("Name", "").lstrip("/")

    def Networks(self) -> str:
        # Connection order: it is the order of eth0, eth1, ... in the sandbox.
        return ",".join(self.sbox.get("Networks") or {})

    def Hostname(self) -> str:
        return self.sbox.get("Hostname", "")

    def NetworkMode(self) -> str:
        return self.sbox.get("NetworkMode", "")

    def SandboxKey(self) -> str:
        return self.sbox.get("SandboxKey", "")

    def CreatedAt(self) -> str:
        return go_time_string(self.sbox.get("Created", "0001-01-01T00:00:00Z"))

    def Ports(self) -> str:
        parts = []
        for port, bindings in (self.sbox.get("Ports") or {}).items():
            if not bindings:
                parts.append(port)
                continue
            for b in bindings:
                host = b.get("HostIp", "")
                host = f"[{host}]" if ":" in host else host
                parts.append(f"{host}:{b.get('HostPort', '')}->{port}")
        return ", ".join(sorted(parts, key=natural_key))

    def IPAddresses(self) -> str:
        ips = []
        for ep in (self.sbox.get("Networks") or {}).values():
            for key in ("IPAddress", "GlobalIPv6Address"):
                if ep and ep.get(key):
                    ips.append(ep[key])
        return ",".join(ips)

    def MarshalJSON(self) -> dict[str, str]:
        return {n: getattr(self, n)() for n in sorted(SANDBOX_HEADER)}


def _match(pattern: str, value: str) -> bool:
    """filters.Args.Match: exact, or an unanchored regular expression."""
    if pattern == value:
        return True
    import re

    try:
        return re.search(pattern, value) is not None
    except re.error:
        return False


def filter_sandboxes(sandboxes: Iterable[JSONObject], filters: Mapping[str, list[str]]) -> list[JSONObject]:
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
                raise ValueError(f"invalid filter '{key}'")
            if not keep:
                break
        if keep:
            out.append(sbox)
    return out


def sandbox_list_text(sandboxes: Iterable[JSONObject] | None, fmt: str = "", quiet: bool = False,
                      trunc: bool = True) -> str:
    rows = sorted(sandboxes or [], key=lambda s: natural_key(s.get("Name", "").lstrip("/")))
    fmt = list_format(fmt or "table", quiet, SANDBOX_TABLE)
    return render(fmt, [SandboxRow(s, trunc) for s in rows], SANDBOX_HEADER)


# ------------------------------------------------------------------ inspect

def indent_json(raw: str, indent: str = "    ") -> str:
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


def compact_json(raw: str) -> str:
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


def parse_inspect_format(fmt: str) -> Template | None:
    """Parse an inspect ``--format`` up front (docker exits 64 when it is bad).

    Returns None for the JSON outputs ("" and "json")."""
    if fmt in ("", "json"):
        return None
    try:
        return parse(fmt)
    except TemplateError as err:
        raise TemplateError(f"template parsing error: {err}") from None


def inspect_text(raws: list[str], fmt: str = "", go_type: str | None = None) -> tuple[str, list[str]]:
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
    assert tmpl is not None  # the two JSON outputs returned above
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
                errors.append(f"template parsing error: {err}")
                continue
        out.append(text + "\n")
    return ("".join(out) or "\n"), errors


# ------------------------------------------------------------------ port

def port_text(sbox: JSONObject, name: str, private_port: str = "") -> str:
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
            reason = "value out of range" if port.isdigit() else "invalid syntax"
            raise ValueError(f'Error: invalid port ({port}): strconv.ParseUint: parsing "{port}": {reason}')
        frontends = ports.get(f"{port}/{proto}")
        if not frontends:
            raise ValueError(f"Error: No public port '{private_port}' published for {name}")
        lines = sorted((join_host_port(f.get("HostIp", ""), f.get("HostPort", "")) for f in frontends),
                       key=natural_key)
    return "".join(line + "\n" for line in lines)
