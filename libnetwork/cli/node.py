"""``cnm node ...``: the docker node commands against cnmd.

Requests, texts and the order of both are those of the docker CLI
(cli/command/node, v26): updates read the node, change its Spec and post it
back with the version read, to the node's ID; ``self`` names the local node
in ``inspect`` (from GET /info).
"""

from __future__ import annotations

from . import bodies
from .client import DaemonError, path_quote
from .errors import ClientError, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .flags import Opts
    from .main import Context


def run_ls(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    from .nodeviews import node_list_text

    filters = bodies.filters_json(opts["filter"])
    nodes = ctx.client.get("/nodes", {"filters": filters}).json() or []
    swarm_info: dict[str, Any] = {}
    if nodes and not opts["quiet"]:
        # Only to star the local node, so docker asks only when it will print a table.
        swarm_info = (ctx.client.get("/info").json() or {}).get("Swarm") or {}
    ctx.write(node_list_text(nodes, swarm_info, opts["format"], opts["quiet"]))
    return 0


def _reference(ctx: Context, ref: str) -> str:
    """node.Reference: ``self`` is the NodeID in /info."""
    if ref != "self":
        return ref
    node_id = ((ctx.client.get("/info").json() or {}).get("Swarm") or {}).get("NodeID") or ""
    if not node_id:
        # Not a manager, most likely: a swarm route gives the precise error.
        ctx.client.get("/nodes")
        raise ClientError("node ID not found in /info")
    return node_id


def _get_node(ctx: Context, ref: str) -> str:
    return ctx.client.get("/nodes/" + path_quote(_reference(ctx, ref))).text


def run_inspect(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    from . import views

    fmt = "pretty" if opts["pretty"] else opts["format"]
    if fmt.startswith("pretty") and fmt != "pretty":
        raise ClientError("cannot supply extra formatting options to the pretty template")
    if fmt == "pretty":
        return _inspect_pretty(ctx, args)
    try:
        views.parse_inspect_format(fmt)
    except views.TemplateError as err:
        raise StatusError(64, str(err)) from None
    raws = []
    errors = []
    for ref in args:
        try:
            raws.append(_get_node(ctx, ref))
        except (DaemonError, ClientError) as err:
            errors.append(str(err))
    text, render_errors = views.inspect_text(raws, fmt, "swarm.Node")
    ctx.write(text)
    errors += render_errors
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def _inspect_pretty(ctx: Context, refs: list[str]) -> int:
    """Docker renders every node first: the first error prints nothing but itself."""
    import json

    from .nodeviews import node_pretty_text

    texts = []
    for ref in refs:
        try:
            texts.append(node_pretty_text(json.loads(_get_node(ctx, ref))) + "\n")
        except (DaemonError, ClientError) as err:
            raise StatusError(1, str(err)) from None
    ctx.write("".join(texts))
    return 0


def run_rm(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    errors = []
    for name in args:
        try:
            ctx.client.delete("/nodes/" + path_quote(name), {"force": "1"} if opts["force"] else None)
        except DaemonError as err:
            errors.append(str(err))
            continue
        ctx.write(name + "\n")
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def run_promote(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    return _update_roles(ctx, args, "manager", "Node {} promoted to a manager in the swarm.\n")


def run_demote(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    return _update_roles(ctx, args, "worker", "Manager {} demoted in the swarm.\n")


def _update_roles(ctx: Context, names: list[str], role: str, done: str) -> int:
    for name in names:
        node = ctx.client.get("/nodes/" + path_quote(name)).json() or {}
        spec = dict(node.get("Spec") or {})
        if spec.get("Role") == role:
            # docker names the node by its ID here, and by the argument on success.
            ctx.write(f"Node {node.get('ID', '')} is already a {role}.\n")
            continue
        spec["Role"] = role
        _post_spec(ctx, node, bodies.node_spec_body(spec))
        ctx.write(done.format(name))
    return 0


def _post_spec(ctx: Context, node: dict[str, Any], spec: dict[str, Any]) -> None:
    version = (node.get("Version") or {}).get("Index", 0)
    ctx.client.post(f"/nodes/{path_quote(node.get('ID', ''))}/update", spec, {"version": version})


def run_update(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    name = args[0]
    node = ctx.client.get("/nodes/" + path_quote(name)).json() or {}
    spec = bodies.node_update_spec(node.get("Spec") or {}, opts, changed)
    _post_spec(ctx, node, spec)
    ctx.write(name + "\n")
    return 0
