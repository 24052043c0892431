"""``cnm sandbox ...``, ``cnm exec`` and ``cnm port``: sandboxes as containers.

A sandbox plays the part of a container (its network stack only), so these
commands follow ``docker run``/``ps``/``inspect``/``rm``/``exec``/``port``
where one exists, against cnmd's ``/sandboxes`` routes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from . import bodies
from .client import DaemonError, path_quote
from .errors import ClientError, StatusError
from .flags import UsageError
from .network import inspect_objects

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .flags import Opts
    from .main import Context


def run_create(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    try:
        body = bodies.sandbox_create_body(opts)
    except ClientError as err:
        # docker run reports its own parse errors with status 125.
        raise ClientError(err.message, status=125) from None
    resp = ctx.client.post("/sandboxes/create", body)
    ctx.write((resp.json() or {}).get("Id", "") + "\n")
    return 0


def run_ls(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    from . import views

    filters: dict[str, list[str]] = {}
    for item in opts["filter"]:
        key, _, value = item.partition("=")
        filters.setdefault(key.strip().lower(), []).append(value.strip())
    sandboxes = ctx.client.get("/sandboxes").json() or []
    try:
        sandboxes = views.filter_sandboxes(sandboxes, filters)
    except ValueError as err:
        raise ClientError(str(err)) from None
    ctx.write(views.sandbox_list_text(sandboxes, opts["format"], opts["quiet"], not opts["no_trunc"]))
    return 0


def run_inspect(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    return inspect_objects(ctx, "sandboxes", args, opts["format"])


def run_rm(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    """As docker rm: print each removed name; with -f a missing one is
    reported but does not fail the command."""
    query = {"force": "1"} if opts["force"] else None
    errors = []
    for name in args:
        try:
            if not name.strip("/"):
                raise ClientError("sandbox name cannot be empty")
            ctx.client.delete("/sandboxes/" + path_quote(name.strip("/")), query)
        except (DaemonError, ClientError) as err:
            if opts["force"] and isinstance(err, DaemonError) and err.status == 404:
                ctx.error(str(err))
                continue
            errors.append(str(err))
            continue
        ctx.write(name + "\n")
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0


def run_port(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    from . import views

    sbox = ctx.client.get("/sandboxes/" + path_quote(args[0])).json() or {}
    try:
        ctx.write(views.port_text(sbox, args[0], args[1] if len(args) > 1 else ""))
    except ValueError as err:
        raise ClientError(str(err)) from None
    return 0


def exec_env(assignments: Iterable[str], base: Mapping[str, str]) -> dict[str, str]:
    """-e K=V sets, -e K copies K from our environment (dropped if unset)."""
    env = dict(base)
    for item in assignments:
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
        elif key in base:
            env[key] = base[key]
    return env


def _resolve_user(spec: str) -> tuple[int, int, str]:
    """``name|uid[:group|gid]`` -> (uid, gid, home)."""
    import grp
    import pwd

    user, _, group = spec.partition(":")
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        uid, gid, home = entry.pw_uid, entry.pw_gid, entry.pw_dir
    except KeyError:
        if not user.isdigit():
            raise ClientError(f"unable to find user {user}: no matching entries in passwd file") from None
        uid, gid, home = int(user), int(user), "/"
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise ClientError(f"unable to find group {group}: no matching entries in group file") from None
    return uid, gid, home


def run_exec(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    """Enter the sandbox in this process and exec the command (see nsexec)."""
    from . import nsexec

    name, argv = args[0], args[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError(f"'{ctx.command.path}' requires at least 2 arguments",
                         ctx.command, kind="args")
    sbox = ctx.client.get("/sandboxes/" + path_quote(name)).json() or {}
    ctx.client.close()
    view = nsexec.SandboxView.from_sandbox(sbox)
    env = exec_env(opts["env"], os.environ) if opts["env"] else None
    user = _resolve_user(opts["user"]) if opts["user"] else None
    ctx.flush()
    try:
        nsexec.enter(view)
        if user is not None:
            uid, gid, _home = user
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        if opts["workdir"]:
            try:
                os.chdir(opts["workdir"])
            except OSError as err:
                raise StatusError(126, f"cnm exec: chdir to {opts['workdir']}: {err.strerror}") from None
        if env is None:
            os.execvp(argv[0], argv)
        os.execvpe(argv[0], argv, env)
    except nsexec.NamespaceError as err:
        raise StatusError(126, f"cnm exec: {err}") from None
    except FileNotFoundError:
        raise StatusError(127, f'cnm exec: exec: "{argv[0]}": executable file not found in $PATH') from None
    except PermissionError:
        raise StatusError(126, f'cnm exec: exec: "{argv[0]}": permission denied') from None
    except OSError as err:
        raise StatusError(126, f'cnm exec: exec: "{argv[0]}": {err.strerror or err}') from None
    return 0
