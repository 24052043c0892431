"""Entry point of ``cnm``: global flags, command dispatch, exit statuses.

Exit statuses follow the docker CLI: 0 success, 1 an error from the daemon
or a failed command, 125 a usage error (bad flag, wrong arguments), 126/127
when ``exec`` cannot start the command, 64 a bad inspect template.  Errors
are mapped here, once.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .client import Client, ConnectError, DaemonError, resolve_host
from .errors import StatusError
from .flags import Command, HelpRequested, UsageError, check_nargs, parse_args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from .flags import Opts

    # What a command's module exports as its runner: (ctx, opts, args, changed) -> exit status.
    Runner = Callable[["Context", Opts, list[str], set[str]], int | None]

USAGE_STATUS = 125


class Context:
    """What a command needs from its surroundings: streams and the client."""

    def __init__(self, host: str, command: Command, stdout: TextIO | None = None, stderr: TextIO | None = None,
                 stdin: TextIO | None = None) -> None:
        self.host = host
        self.command = command
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.host)
        return self._client

    def write(self, text: str) -> None:
        self.stdout.write(text)

    def error(self, text: str) -> None:
        self.stderr.write(text + "\n")

    def flush(self) -> None:
        self.stdout.flush()
        self.stderr.flush()

    def confirm(self, message: str) -> bool:
        """prompt.Confirm: ``message [y/N] ``; only y/Y (trimmed) is yes."""
        self.write(message + " [y/N] ")
        self.stdout.flush()
        line = self.stdin.readline()
        return line.strip().lower() == "y"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _run_target(spec: str) -> Runner:
    module_name, func_name = spec.split(":")
    from importlib import import_module

    module = import_module("." + module_name, __package__)
    runner: Runner = getattr(module, func_name)
    return runner


def resolve(root: Command, argv: Sequence[str]) -> tuple[Command | None, Opts, list[str], set[str], Opts]:
    """Walk the command tree; returns (command, opts, args, changed, global_opts).

    With ``--version`` the command is None: none runs."""
    global_opts, rest, _ = parse_args(root, argv)
    if global_opts["version"]:
        return None, {}, [], set(), global_opts
    command = root
    args = rest
    while command.subcommands:
        if not args:
            raise HelpRequested(command)
        sub = command.find(args[0])
        if sub is None:
            if command is root:
                raise UsageError(f"'{args[0]}' is not a cnm command.\nSee 'cnm --help'", command,
                                 kind="plain")
            raise UsageError(f"unknown command: {command.path} {args[0]}", command, kind="args")
        command = sub
        args = args[1:]
        if command.subcommands:
            _, args, _ = parse_args(command, args)  # a group's --help
    opts, args, changed = parse_args(command, args)
    check_nargs(command, args)
    return command, opts, args, changed, global_opts


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None,
         stdin: TextIO | None = None) -> int:
    """Run ``cnm`` with ``argv`` (default sys.argv[1:]); returns/exits the status."""
    if argv is None:
        argv = sys.argv[1:]
    if stdout is not None or stderr is not None:
        return run(argv, stdout, stderr, stdin)
    try:
        status = run(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # `cnm network ls | head -1`: the reader left; exit quietly, and keep
        # the interpreter's final flush from complaining again.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    sys.exit(status)


def run(argv: Sequence[str], stdout: TextIO | None = None, stderr: TextIO | None = None,
        stdin: TextIO | None = None) -> int:
    from .commands import root_command

    out = stdout or sys.stdout
    err = stderr or sys.stderr
    root = root_command()
    try:
        command, opts, args, changed, global_opts = resolve(root, argv)
    except HelpRequested as req:
        out.write(req.command.help_text())
        return 0
    except UsageError as exc:
        err.write(exc.render() + "\n")
        return USAGE_STATUS
    if command is None:
        from .system import version_line

        out.write(version_line())
        return 0

    try:
        host = resolve_host(global_opts["host"])
        Client(host)  # validate the address before running anything
    except ValueError as exc:
        err.write(f"{exc}\n")
        return USAGE_STATUS
    # resolve() stops only at a leaf, and every leaf names its runner.
    assert command.run is not None
    ctx = Context(host, command, out, err, stdin)
    try:
        return _run_target(command.run)(ctx, opts, args, changed) or 0
    except UsageError as exc:
        err.write(exc.render() + "\n")
        return USAGE_STATUS
    except (DaemonError, ConnectError) as exc:
        err.write(f"{exc}\n")
        return 1
    except StatusError as exc:
        if exc.message:
            err.write(exc.message + "\n")
        return exc.status
    except KeyboardInterrupt:
        return 130
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
