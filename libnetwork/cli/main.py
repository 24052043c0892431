"""Entry point of ``cnm``: global flags, command dispatch, exit statuses.

Exit statuses follow the docker CLI: 0 success, 1 an error from the daemon
or a failed command, 125 a usage error (bad flag, wrong arguments), 126/127
when ``exec`` cannot start the command, 64 a bad inspect template.  Errors
are mapped here, once.
"""

import sys

from .client import Client, ConnectError, DaemonError, resolve_host
from .errors import StatusError
from .flags import HelpRequested, UsageError, check_nargs, parse_args

USAGE_STATUS = 125


class Context:
    """What a command needs from its surroundings: streams and the client."""

    def __init__(self, host, command, stdout=None, stderr=None, stdin=None):
        self.host = host
        self.command = command
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = Client(self.host)
        return self._client

    def write(self, text):
        self.stdout.write(text)

    def error(self, text):
        self.stderr.write(text + "\n")

    def flush(self):
        self.stdout.flush()
        self.stderr.flush()

    def confirm(self, message):
        """prompt.Confirm: ``message [y/N] ``; only y/Y (trimmed) is yes."""
        self.write(message + " [y/N] ")
        self.stdout.flush()
        line = self.stdin.readline()
        return line.strip().lower() == "y"

    def close(self):
        if self._client is not None:
            self._client.close()


def _run_target(spec):
    module_name, func_name = spec.split(":")
    from importlib import import_module

    module = import_module("." + module_name, __package__)
    return getattr(module, func_name)


def resolve(root, argv):
    """Walk the command tree; returns (command, opts, args, changed, global_opts)."""
    global_opts, rest, _ = parse_args(root, argv)
    if global_opts["version"]:
        return None, None, None, None, global_opts
    command = root
    args = rest
    while command.subcommands:
        if not args:
            raise HelpRequested(command)
        sub = command.find(args[0])
        if sub is None:
            if command is root:
                raise UsageError("'%s' is not a cnm command.\nSee 'cnm --help'" % args[0], command,
                                 kind="plain")
            raise UsageError("unknown command: %s %s" % (command.path, args[0]), command, kind="args")
        command = sub
        args = args[1:]
        if command.subcommands:
            _, args, _ = parse_args(command, args)  # a group's --help
    opts, args, changed = parse_args(command, args)
    check_nargs(command, args)
    return command, opts, args, changed, global_opts


def main(argv=None, stdout=None, stderr=None, stdin=None):
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


def run(argv, stdout=None, stderr=None, stdin=None):
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
        err.write("%s\n" % exc)
        return USAGE_STATUS
    ctx = Context(host, command, out, err, stdin)
    try:
        return _run_target(command.run)(ctx, opts, args, changed) or 0
    except UsageError as exc:
        err.write(exc.render() + "\n")
        return USAGE_STATUS
    except (DaemonError, ConnectError) as exc:
        err.write("%s\n" % exc)
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
