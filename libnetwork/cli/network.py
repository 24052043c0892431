"""``cnm network ...``: the docker network commands against cnmd.

Each function takes the run context, the parsed flags, the positional
arguments and the set of flags given explicitly, and returns an exit status.
Requests are those the docker CLI v28 sends (reference §2 and §7).
"""

from __future__ import annotations

from collections.abc import Mapping

from . import bodies
from .client import DaemonError, path_quote
from .errors import StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .flags import Opts
    from .main import Context

PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one container.\n"
                 "Are you sure you want to continue?")


def run_create(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    body = bodies.network_create_body(args[0], opts, changed)
    resp = ctx.client.post("/networks/create", body)
    ctx.write((resp.json() or {}).get("Id", "") + "\n")
    return 0


def run_ls(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    from . import views

    filters = bodies.filters_json(opts["filter"])
    nets = ctx.client.get("/networks", {"filters": filters}).json() or []
    ctx.write(views.network_list_text(nets, opts["format"], opts["quiet"], not opts["no_trunc"]))
    return 0


def inspect_objects(ctx: Context, kind: str, names: list[str], fmt: str, query: Mapping[str, object] | None = None,
                    go_type: str | None = None) -> int:
    """Shared by network/sandbox inspect: GET each, print, then the errors."""
    from . import views

    try:
        views.parse_inspect_format(fmt)
    except views.TemplateError as err:
        raise StatusError(64, str(err)) from None
    raws = []
    errors = []
    for name in names:
        try:
            raws.append(ctx.client.get(f"/{kind}/{path_quote(name)}", query).text)
        except DaemonError as err:
            errors.append(str(err))
    text, render_errors = views.inspect_text(raws, fmt, go_type)
    ctx.write(text)
    errors += render_errors
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def run_inspect(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    query = {"verbose": "true"} if opts["verbose"] else None
    return inspect_objects(ctx, "networks", args, opts["format"], query, "network.Inspect")


def run_rm(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    status = 0
    for name in args:
        try:
            ctx.client.delete("/networks/" + path_quote(name))
        except DaemonError as err:
            if opts["force"] and err.status == 404:
                continue
            ctx.error(str(err))
            status = 1
            continue
        ctx.write(name + "\n")
    return status


def run_prune(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    if not opts["force"] and not ctx.confirm(PRUNE_WARNING):
        return 0
    filters = bodies.filters_json(opts["filter"])
    report = ctx.client.post("/networks/prune", query={"filters": filters}).json() or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        ctx.write("Deleted Networks:\n" + "".join(n + "\n" for n in deleted) + "\n")
    return 0


def run_connect(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    body = bodies.network_connect_body(args[1], opts)
    ctx.client.post(f"/networks/{path_quote(args[0])}/connect", body)
    return 0


def run_disconnect(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    body = bodies.network_disconnect_body(args[1], opts["force"])
    ctx.client.post(f"/networks/{path_quote(args[0])}/disconnect", body)
    return 0
