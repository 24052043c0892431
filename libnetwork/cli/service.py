"""``cnm service ...``: the docker service commands against cnmd.

Requests and texts are the docker CLI's (cli/command/service, v26-28):
``scale`` and ``update`` read the service, change its Spec and post it back
with the version read; ``ps`` names tasks ``SERVICE.SLOT`` and nodes by
hostname.  ``create`` and ``scale`` print what ``--detach`` prints: this
client does not follow the tasks until they converge.
"""

from __future__ import annotations

from datetime import UTC

from .client import DaemonError, path_quote
from .errors import ClientError, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .flags import Opts
    from .main import Context

DEFAULT_IMAGE = "cnm-task"
PROTOCOLS = ("tcp", "udp", "sctp")


def _port_number(text: str, what: str, low: int) -> int:
    if not text.isdigit() or not low <= int(text) <= 65535:
        raise ValueError(f"invalid {what}: {text}")
    return int(text)


def parse_publish(value: str) -> dict[str, Any]:
    """opts.PortOpt.Set: ``[PUBLISHED:]TARGET[/PROTO]`` or ``mode=..,target=..,published=..,protocol=..``."""
    if "=" in value:
        port: dict[str, Any] = {"Protocol": "tcp", "PublishMode": "ingress"}
        for field in value.split(","):
            key, sep, text = field.partition("=")
            key = key.strip().lower()
            if not sep:
                raise ValueError(f"invalid field {field} must be a key=value pair")
            if key == "mode":
                if text not in ("ingress", "host"):
                    raise ValueError(f"invalid publish mode value ({text}): must be either 'ingress' or 'host'")
                port["PublishMode"] = text
            elif key == "protocol":
                if text not in PROTOCOLS:
                    raise ValueError(f"invalid protocol value '{text}'")
                port["Protocol"] = text
            elif key == "target":
                port["TargetPort"] = _port_number(text, "target port", 1)
            elif key == "published":
                port["PublishedPort"] = _port_number(text, "published port", 0)
            else:
                raise ValueError(f"invalid field key {key}")
        if "TargetPort" not in port:
            raise ValueError("missing mandatory field \"target\"")
        return {"Protocol": port["Protocol"], "TargetPort": port["TargetPort"],
                **({"PublishedPort": port["PublishedPort"]} if port.get("PublishedPort") else {}),
                "PublishMode": port["PublishMode"]}
    ports, _, protocol = value.partition("/")
    protocol = protocol or "tcp"
    if protocol not in PROTOCOLS:
        raise ValueError(f"invalid proto: {protocol}")
    published, sep, target = ports.rpartition(":")
    result: dict[str, Any] = {"Protocol": protocol, "TargetPort": _port_number(target, "containerPort", 1)}
    if sep:
        result["PublishedPort"] = _port_number(published, "hostPort", 0)
    result["PublishMode"] = "ingress"
    return result


def validate_publish(value: str) -> str:
    parse_publish(value)
    return value


def _mode(opts: Opts, changed: set[str]) -> dict[str, Any]:
    mode = opts["mode"]
    if mode == "global":
        if "replicas" in changed:
            raise ClientError("replicas can only be used with replicated or replicated-job mode")
        return {"Global": {}}
    if mode != "replicated":
        raise ClientError(f"Unknown mode: {mode}, only replicated and global supported")
    return {"Replicated": {"Replicas": opts["replicas"] if "replicas" in changed else 1}}


def create_spec(opts: Opts, args: list[str], changed: set[str]) -> dict[str, Any]:
    """The ServiceSpec the docker CLI would send for these flags (the fields it always sets included)."""
    container: dict[str, Any] = {"Image": opts["image"] or DEFAULT_IMAGE}
    labels = dict(item.partition("=")[::2] for item in opts["container_label"])
    if labels:
        container["Labels"] = labels
    if args:
        container["Args"] = list(args)
    if opts["hostname"]:
        container["Hostname"] = opts["hostname"]
    if opts["env"]:
        container["Env"] = list(opts["env"])
    container |= {"Init": False, "DNSConfig": {}}
    template: dict[str, Any] = {"ContainerSpec": container, "Resources": {"Limits": {}, "Reservations": {}},
                                "Placement": {}}
    if opts["network"]:
        template["Networks"] = [_network(n) for n in opts["network"]]
    template["ForceUpdate"] = 0
    endpoint: dict[str, Any] = {"Mode": opts["endpoint_mode"] or "vip"}
    if opts["publish"]:
        endpoint["Ports"] = [parse_publish(p) for p in opts["publish"]]
    return {"Name": opts["name"], "Labels": dict(item.partition("=")[::2] for item in opts["label"]),
            "TaskTemplate": template, "Mode": _mode(opts, changed), "EndpointSpec": endpoint}


def _network(value: str) -> dict[str, Any]:
    """``--network NAME`` or ``--network name=NAME,alias=A,...``."""
    if "=" not in value:
        return {"Target": value}
    target = ""
    aliases = []
    for field in value.split(","):
        key, _, text = field.partition("=")
        if key == "name":
            target = text
        elif key == "alias":
            aliases.append(text)
        else:
            raise ClientError(f"invalid field key {key}")
    return {"Target": target, **({"Aliases": aliases} if aliases else {})}


def run_create(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    spec = create_spec(opts, args, changed)
    answer = ctx.client.post("/services/create", spec).json() or {}
    for warning in answer.get("Warnings") or ():
        ctx.error(warning)
    ctx.write(str(answer.get("ID", "")) + "\n")
    return 0


def run_ls(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    from . import bodies
    from .serviceviews import service_list_text

    query: dict[str, Any] = {"filters": bodies.filters_json(opts["filter"])}
    if not opts["quiet"]:
        query["status"] = "true"
    services = ctx.client.get("/services", query).json() or []
    ctx.write(service_list_text(services, opts["format"], opts["quiet"]))
    return 0


def _get_service(ctx: Context, ref: str, defaults: bool = True) -> str:
    return ctx.client.get("/services/" + path_quote(ref), {"insertDefaults": "true"} if defaults else None).text


def run_inspect(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    import json

    from . import views
    from .serviceviews import service_pretty_text

    fmt = "pretty" if opts["pretty"] else opts["format"]
    raws = []
    errors = []
    for ref in args:
        try:
            raws.append(_get_service(ctx, ref))
        except DaemonError as err:
            if err.status != 404:
                raise
            errors.append(f"Error: no such service: {ref}")
    if fmt == "pretty":
        if errors:
            raise StatusError(1, errors[0])
        ctx.write("".join(service_pretty_text(s, _network_names(ctx, s)) for s in map(json.loads, raws)))
        return 0
    try:
        views.parse_inspect_format(fmt)
    except views.TemplateError as err:
        raise StatusError(64, str(err)) from None
    text, render_errors = views.inspect_text(raws, fmt)
    ctx.write(text)
    if errors or render_errors:
        raise StatusError(1, "\n".join(errors + render_errors))
    return 0


def _network_names(ctx: Context, service: dict[str, Any]) -> dict[str, str]:
    template = (service.get("Spec") or {}).get("TaskTemplate") or {}
    names = {}
    for target in template.get("Networks") or ():
        ident = target.get("Target", "")
        try:
            names[ident] = (ctx.client.get("/networks/" + path_quote(ident)).json() or {}).get("Name", ident)
        except DaemonError:
            names[ident] = ident
    return names


def _find_services(ctx: Context, refs: list[str]) -> list[dict[str, Any]]:
    """The docker CLI's lookup for ``ps``: exact ID, exact name, then ID prefix, among all services."""
    services = ctx.client.get("/services").json() or []
    found = []
    for ref in refs:
        match = next((s for s in services if s.get("ID") == ref), None) \
            or next((s for s in services if (s.get("Spec") or {}).get("Name") == ref), None) \
            or next((s for s in services if s.get("ID", "").startswith(ref)), None)
        if match is None:
            raise ClientError(f"no such service: {ref}")
        found.append(match)
    return found


def run_ps(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    import json
    from datetime import datetime

    from . import bodies
    from .serviceviews import task_list_text

    services = _find_services(ctx, args)
    extra = json.loads(bodies.filters_json(opts["filter"]) or "{}")
    extra["service"] = {s["ID"]: True for s in services}
    tasks = ctx.client.get("/tasks", {"filters": json.dumps(extra, sort_keys=True)}).json() or []
    node_names: dict[str, str] = {}
    for node_id in sorted({t.get("NodeID", "") for t in tasks} - {""}):
        try:
            node = ctx.client.get("/nodes/" + path_quote(node_id)).json() or {}
            node_names[node_id] = (node.get("Description") or {}).get("Hostname", node_id)
        except DaemonError:
            node_names[node_id] = node_id
    names = {s["ID"]: (s.get("Spec") or {}).get("Name", "") for s in services}
    ctx.write(task_list_text(tasks, names, node_names, datetime.now(UTC), opts["format"], opts["quiet"],
                             trunc=not opts["no_trunc"]))
    return 0


def _post_update(ctx: Context, service: dict[str, Any], spec: dict[str, Any]) -> None:
    version = (service.get("Version") or {}).get("Index", 0)
    answer = ctx.client.post(f"/services/{path_quote(service.get('ID', ''))}/update", spec,
                             {"version": version}).json() or {}
    for warning in answer.get("Warnings") or ():
        ctx.error(warning)


def parse_scale(arg: str) -> tuple[str, int]:
    name, sep, count = arg.partition("=")
    if not sep or not name:
        raise StatusError(1, f"invalid scale specifier '{arg}'.\nSee 'cnm service scale --help'.")
    if not count.isdigit():
        raise ClientError(f'{name}: invalid replicas value {count}: strconv.ParseUint: parsing "{count}": '
                          "invalid syntax")
    return name, int(count)


def run_scale(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    import json

    wanted = [parse_scale(a) for a in args]
    errors = []
    for name, count in wanted:
        try:
            service = json.loads(_get_service(ctx, name, defaults=False))
            spec = dict(service.get("Spec") or {})
            if "Replicated" not in (spec.get("Mode") or {}):
                raise ClientError("scale can only be used with replicated or replicated-job mode")
            spec["Mode"] = {"Replicated": {"Replicas": count}}
            _post_update(ctx, service, spec)
        except (DaemonError, ClientError) as err:
            errors.append(f"{name}: {err}")
            continue
        ctx.write(f"{name} scaled to {count}\n")
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def run_update(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    import json

    name = args[0]
    service = json.loads(_get_service(ctx, name, defaults=False))
    spec = json.loads(json.dumps(service.get("Spec") or {}))
    container = spec.setdefault("TaskTemplate", {}).setdefault("ContainerSpec", {})
    if "replicas" in changed:
        if "Replicated" not in (spec.get("Mode") or {}):
            raise ClientError("replicas can only be used with replicated or replicated-job mode")
        spec["Mode"] = {"Replicated": {"Replicas": opts["replicas"]}}
    if "image" in changed:
        container["Image"] = opts["image"]
    if opts["env_add"]:
        keys = {e.partition("=")[0] for e in opts["env_add"]}
        container["Env"] = [e for e in container.get("Env") or () if e.partition("=")[0] not in keys] \
            + list(opts["env_add"])
    if opts["publish_add"]:
        ports = spec.setdefault("EndpointSpec", {"Mode": "vip"}).setdefault("Ports", [])
        ports += [parse_publish(p) for p in opts["publish_add"]]
    if "force" in changed and opts["force"]:
        spec["TaskTemplate"]["ForceUpdate"] = int(spec["TaskTemplate"].get("ForceUpdate", 0)) + 1
    _post_update(ctx, service, spec)
    ctx.write(name + "\n")
    return 0


def run_rm(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    errors = []
    for name in args:
        try:
            ctx.client.delete("/services/" + path_quote(name))
        except DaemonError as err:
            errors.append(str(err))
            continue
        ctx.write(name + "\n")
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0
