"""What ``node ls`` and ``node inspect --pretty`` print, from daemon JSON; no I/O.

Follows cli/command/node/formatter.go (docker CLI v26): the row context of
``node ls`` with its ``--format`` fields, the table that stars the local
node, and the human form of ``inspect --pretty``.  Words such as a node's
state go through ``command.PrettyPrint``, which upper-cases the first
letter and lower-cases the rest (so a join time ends in ``+0000 utc``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..gotemplate import go_time_string
from .tables import list_format, natural_key, render

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    # A swarm.Node, or /info's Swarm section, as the daemon returns it.
    JSONObject = Mapping[str, Any]

NODE_TABLE = ("table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}"
              "\t{{.ManagerStatus}}\t{{.EngineVersion}}")
NODE_RAW = ("node_id: {{.ID}}\\nhostname: {{.Hostname}}\\nstatus: {{.Status}}\\navailability: {{.Availability}}"
            "\\nmanager_status: {{.ManagerStatus}}\\n", "node_id: {{.ID}}")
NODE_HEADER = {
    "ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS", "Availability": "AVAILABILITY",
    "ManagerStatus": "MANAGER STATUS", "EngineVersion": "ENGINE VERSION", "TLSStatus": "TLS STATUS",
}
_TLS_FIELDS = ("TrustRoot", "CertIssuerSubject", "CertIssuerPublicKey")


def pretty_print(text: str) -> str:
    """command.PrettyPrint of a string: capitalizeFirst (one letter is lower-cased)."""
    if len(text) <= 1:
        return text.lower()
    return text[0].upper() + text[1:].lower()


def _tls(info: object) -> tuple[str, ...]:
    if not isinstance(info, Mapping):
        return ("",) * len(_TLS_FIELDS)
    return tuple(info.get(k) or "" for k in _TLS_FIELDS)


class NodeRow:
    """formatter.go nodeContext."""

    go_type_name = "*node.nodeContext"

    def __init__(self, node: JSONObject, swarm_info: JSONObject) -> None:
        self.node = node
        self.info = swarm_info

    def _get(self, *path: str) -> Any:
        value: Any = self.node
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    def ID(self) -> str:
        return self.node.get("ID", "")

    def Self(self) -> bool:
        return self.node.get("ID", "") == (self.info.get("NodeID") or "")

    def Hostname(self) -> str:
        return self._get("Description", "Hostname") or ""

    def Status(self) -> str:
        return pretty_print(self._get("Status", "State") or "")

    def Availability(self) -> str:
        return pretty_print(self._get("Spec", "Availability") or "")

    def ManagerStatus(self) -> str:
        status = self.node.get("ManagerStatus")
        if not isinstance(status, Mapping):
            return ""
        return pretty_print("Leader" if status.get("Leader") else status.get("Reachability") or "")

    def TLSStatus(self) -> str:
        cluster = self.info.get("Cluster")
        cluster_tls = _tls(cluster.get("TLSInfo") if isinstance(cluster, Mapping) else None)
        node_tls = _tls(self._get("Description", "TLSInfo"))
        if not isinstance(cluster, Mapping) or not any(cluster_tls) or not any(node_tls):
            return "Unknown"
        return "Ready" if node_tls == cluster_tls else "Needs Rotation"

    def EngineVersion(self) -> str:
        return self._get("Description", "Engine", "EngineVersion") or ""

    def MarshalJSON(self) -> dict[str, object]:
        # formatter.MarshalJSON: every field method, keys sorted.
        return {n: getattr(self, n)() for n in sorted(NODE_HEADER)}


def node_list_text(nodes: Iterable[JSONObject] | None, swarm_info: JSONObject, fmt: str = "",
                   quiet: bool = False) -> str:
    """``node ls``: sorted naturally by hostname, docker's formats."""
    rows = sorted(nodes or [], key=lambda n: natural_key((n.get("Description") or {}).get("Hostname") or ""))
    fmt = list_format(fmt or "table", quiet, NODE_TABLE, raw_default=NODE_RAW)
    return render(fmt, [NodeRow(n, swarm_info) for n in rows], NODE_HEADER)


def bytes_size(size: float) -> str:
    """go-units BytesSize: ``%.4g`` of the size in binary units (``23.54GiB``)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def _labels(labels: Mapping[str, str]) -> list[str]:
    return [f" - {k}={v}" if v else f" - {k}" for k, v in sorted(labels.items())]


def node_pretty_text(node: JSONObject) -> str:
    """``node inspect --pretty`` of one node (nodeInspectPrettyTemplate), without the final newline."""
    spec = node.get("Spec") or {}
    desc = node.get("Description") or {}
    status = node.get("Status") or {}
    lines = ["ID:\t\t\t" + node.get("ID", "")]
    if spec.get("Name"):
        lines.append("Name:\t\t\t" + spec["Name"])
    if spec.get("Labels"):
        lines += ["Labels:"] + _labels(spec["Labels"])
    lines += [
        "Hostname:              \t" + (desc.get("Hostname") or ""),
        "Joined at:             \t" + pretty_print(go_time_string(node.get("CreatedAt") or "0001-01-01T00:00:00Z")),
        "Status:",
        " State:\t\t\t" + pretty_print(status.get("State") or ""),
    ]
    if status.get("Message"):
        lines.append(" Message:              \t" + pretty_print(status["Message"]))
    lines.append(" Availability:         \t" + pretty_print(spec.get("Availability") or ""))
    if status.get("Addr"):
        lines.append(" Address:\t\t" + status["Addr"])
    manager = node.get("ManagerStatus")
    if isinstance(manager, Mapping):
        lines += ["Manager Status:",
                  " Address:\t\t" + (manager.get("Addr") or ""),
                  " Raft Status:\t\t" + pretty_print(manager.get("Reachability") or ""),
                  " Leader:\t\t" + ("Yes" if manager.get("Leader") else "No")]
    platform = desc.get("Platform") or {}
    resources = desc.get("Resources") or {}
    memory = resources.get("MemoryBytes") or 0
    lines += [
        "Platform:",
        " Operating System:\t" + (platform.get("OS") or ""),
        " Architecture:\t\t" + (platform.get("Architecture") or ""),
        "Resources:",
        " CPUs:\t\t\t" + str((resources.get("NanoCPUs") or 0) // 1_000_000_000),
        " Memory:\t\t" + (bytes_size(memory) if memory else ""),
    ]
    engine = desc.get("Engine") or {}
    plugins: dict[str, list[str]] = {}
    for plugin in engine.get("Plugins") or []:
        plugins.setdefault(plugin.get("Type") or "", []).append(plugin.get("Name") or "")
    if plugins:
        lines.append("Plugins:")
        for kind in sorted(plugins):
            names = ", ".join(plugins[kind])
            lines.append(f" {kind}:\t\t{names}" if names else f" {kind}:")
    lines.append("Engine Version:\t\t" + (engine.get("EngineVersion") or ""))
    if engine.get("Labels"):
        lines += ["Engine Labels:"] + _labels(engine["Labels"])
    tls = _tls(desc.get("TLSInfo"))
    if any(tls):
        lines += ["TLS Info:", " TrustRoot:", tls[0],
                  " Issuer Subject:\t" + tls[1],
                  " Issuer Public Key:\t" + tls[2]]
    return "\n".join(lines)
