"""``cnm swarm ...``: the docker swarm commands against cnmd.

Requests and texts are those of the docker CLI (cli/command/swarm, v26, with
the wording CLI 28 prints in docs/reference/swarm-api.md's captures).  The
join commands it prints say ``docker swarm join``, as Docker's do: the
other node may run dockerd or cnmd, and ``cnm swarm join`` takes the same
arguments.
"""

from __future__ import annotations

from . import bodies
from .client import DaemonError, path_quote
from .errors import ClientError, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .flags import Opts
    from .main import Context

_ADVERTISE_HINTS = ("could not choose an IP address to advertise", "could not find the system's IP address")


def _join_command_text(ctx: Context, node_id: str, worker: bool, manager: bool) -> str:
    """printJoinCommand: the address is the manager's, from GET /nodes/{id}."""
    node = ctx.client.get("/nodes/" + path_quote(node_id)).json() or {}
    tokens = (ctx.client.get("/swarm").json() or {}).get("JoinTokens") or {}
    status = node.get("ManagerStatus")
    if not status:
        return ""
    addr = status.get("Addr", "")
    text = ""
    for role, wanted in (("worker", worker), ("manager", manager)):
        if wanted:
            token = tokens.get(role.capitalize(), "")
            text += (f"To add a {role} to this swarm, run the following command:\n\n"
                     f"    docker swarm join --token {token} {addr}\n\n")
    return text


def unlock_key_text(key: str) -> str:
    if not key:
        return ""
    return ("To unlock a swarm manager after it restarts, run the `docker swarm unlock`\n"
            f"command and provide the following key:\n\n    {key}\n\n"
            "Remember to store this key in a password manager, since without it you\n"
            "will not be able to restart the manager.\n")


def run_init(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    body = bodies.swarm_init_body(opts, changed)
    try:
        node_id = ctx.client.post("/swarm/init", body).json()
    except DaemonError as err:
        if any(hint in err.message for hint in _ADVERTISE_HINTS):
            raise StatusError(1, f"{err} - specify one with --advertise-addr") from None
        raise
    node_id = node_id if isinstance(node_id, str) else ""
    ctx.write(f"Swarm initialized: current node ({node_id}) is now a manager.\n\n")
    ctx.write(_join_command_text(ctx, node_id, worker=True, manager=False))
    ctx.write("To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.\n")
    if body["AutoLockManagers"]:
        try:
            key = (ctx.client.get("/swarm/unlockkey").json() or {}).get("UnlockKey", "")
        except DaemonError as err:
            raise StatusError(1, f"could not fetch unlock key: {err}") from None
        ctx.write(unlock_key_text(key))
    return 0


def run_join(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    ctx.client.post("/swarm/join", bodies.swarm_join_body(args[0], opts, changed))
    info = ctx.client.get("/info").json() or {}
    role = "manager" if (info.get("Swarm") or {}).get("ControlAvailable") else "worker"
    ctx.write(f"This node joined a swarm as a {role}.\n")
    return 0


def run_join_token(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    role = args[0]
    if role not in ("worker", "manager"):
        raise ClientError("unknown role " + role)
    if opts["rotate"]:
        swarm = ctx.client.get("/swarm").json() or {}
        # Go's url.Values.Encode: keys sorted, every flag spelled out.
        query = {
            "rotateManagerToken": _go_bool(role == "manager"),
            "rotateManagerUnlockKey": "false",
            "rotateWorkerToken": _go_bool(role == "worker"),
            "version": (swarm.get("Version") or {}).get("Index", 0),
        }
        ctx.client.post("/swarm/update", swarm.get("Spec") or {}, query)
        if not opts["quiet"]:
            ctx.write(f"Successfully rotated {role} join token.\n\n")
    # Read again: a rotation has changed the tokens.
    tokens = (ctx.client.get("/swarm").json() or {}).get("JoinTokens") or {}
    if opts["quiet"]:
        ctx.write(tokens.get(role.capitalize(), "") + "\n")
        return 0
    info = ctx.client.get("/info").json() or {}
    node_id = (info.get("Swarm") or {}).get("NodeID", "")
    ctx.write(_join_command_text(ctx, node_id, worker=role == "worker", manager=role == "manager"))
    return 0


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


def run_leave(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    ctx.client.post("/swarm/leave", query={"force": "1"} if opts["force"] else None)
    ctx.write("Node left the swarm.\n")
    return 0


def run_rotate_gossip_key(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    """Not docker's: the gossip key turns every 12 hours; this turns it now."""
    ctx.client.post("/swarm/gossip-key/rotate")
    ctx.write("Gossip key rotated on every node.\n")
    return 0


def run_inspect(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    """The ``docker swarm inspect`` of docker 1.12-1.13: GET /swarm as an inspect array."""
    from . import views

    try:
        views.parse_inspect_format(opts["format"])
    except views.TemplateError as err:
        raise StatusError(64, str(err)) from None
    raw = ctx.client.get("/swarm").text
    text, errors = views.inspect_text([raw], opts["format"])
    ctx.write(text)
    if errors:
        raise StatusError(1, "\n".join(errors))
    return 0
