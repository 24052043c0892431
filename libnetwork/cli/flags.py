"""Command-line parsing with the docker CLI's (cobra/pflag) rules.

argparse differs from pflag in ways users of docker notice: ``--ipv6=false``
on a boolean flag, comma-separated ``--alias a,b``, ``-o k=v`` maps, flags
stopping at the first argument of ``exec``, and the error texts and exit
status 125 of a usage error.  This module parses by pflag's rules and
renders docker-style help, from a declarative description of each command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    # Parsed flags by dest: a bool, str or int, or a list of str for the repeatable kinds.
    Opts = dict[str, Any]

__all__ = ["Command", "Flag", "HelpRequested", "UsageError", "parse_args"]

_TYPE_NAMES = {"bool": "", "string": "string", "int": "int", "uint32": "uint32", "uint64": "uint64",
               "list": "list", "slice": "strings", "map": "map", "filter": "filter"}
_UINT_BITS = {"uint32": 32, "uint64": 64}
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class UsageError(Exception):
    """Wrong flags or arguments: printed with the usage line, exit status 125.

    ``kind`` picks docker's wording: "flag" (pflag errors), "args" (cobra's
    argument-count errors), "plain" (an unknown top-level command)."""

    def __init__(self, message: str, command: Command, kind: str = "flag") -> None:
        super().__init__(message)
        self.message = message
        self.command = command
        self.kind = kind

    def render(self) -> str:
        cmd = self.command
        if self.kind == "plain":
            return f"{cmd.root_name}: {self.message}"
        if self.kind == "flag":
            return f"{self.message}\n\nUsage:  {cmd.use_line}\n\nRun '{cmd.path} --help' for more information"
        return (f"{cmd.root_name}: {self.message}\n\nUsage:  {cmd.use_line}\n\n"
                f"Run '{cmd.path} --help' for more information")


class HelpRequested(Exception):
    """``-h``/``--help`` was given: print the command's help, exit 0."""

    def __init__(self, command: Command) -> None:
        super().__init__(command.path)
        self.command = command


class Flag:
    """One flag. ``kind``: bool, string, int, uint32, uint64, list (repeatable),
    slice (repeatable, comma-separated), map (repeatable ``k=v``), filter."""

    def __init__(self, long: str, short: str | None = None, kind: str = "bool", default: Any = None, help: str = "",
                 validator: Callable[[str], str] | None = None, dest: str | None = None,
                 metavar: str | None = None, hidden: bool = False) -> None:
        self.long = long
        self.short = short
        self.kind = kind
        self.default = default
        self.help = help
        self.validator = validator
        self.dest = dest or long.replace("-", "_")
        self.metavar = metavar
        self.hidden = hidden

    def display_name(self) -> str:
        if self.short:
            return f"-{self.short}, --{self.long}"
        return "--" + self.long

    def initial(self) -> Any:
        if self.kind in ("list", "slice", "map", "filter"):
            return list(self.default or [])
        if self.kind == "bool":
            return bool(self.default)
        if self.kind in ("int", "uint32", "uint64"):
            return self.default or 0
        return self.default if self.default is not None else ""


class Command:
    """A command: flags, argument count, and either a runner or subcommands.

    ``run`` is ``"module:function"`` inside this package, imported only when
    the command runs.  ``nargs`` is ``(min, max)``, ``max`` None = unbounded.
    """

    def __init__(self, name: str, use: str, short: str, flags: Iterable[Flag] = (),
                 nargs: tuple[int, int | None] = (0, 0), run: str | None = None, interspersed: bool = True,
                 aliases: Iterable[str] = (), subcommands: Iterable[Command] = (), group: str = "",
                 long: str = "", hidden: bool = False) -> None:
        self.name = name
        self.hidden = hidden
        self.use = use
        self.short = short
        self.long = long
        self.flags = list(flags)
        self.nargs = nargs
        self.run = run
        self.interspersed = interspersed
        self.aliases = tuple(aliases)
        self.subcommands: list[Command] = []
        self.parent: Command | None = None
        self.group = group
        for sub in subcommands:
            self.add(sub)
        if self.subcommands:
            # A group's own flags end at its subcommand's name.
            self.interspersed = False

    def add(self, sub: Command) -> Command:
        sub.parent = self
        self.subcommands.append(sub)
        return sub

    def find(self, name: str) -> Command | None:
        for sub in self.subcommands:
            if name == sub.name or name in sub.aliases:
                return sub
        return None

    @property
    def root_name(self) -> str:
        cmd = self
        while cmd.parent is not None:
            cmd = cmd.parent
        return cmd.name

    @property
    def path(self) -> str:
        names = []
        cmd: Command | None = self
        while cmd is not None:
            names.append(cmd.name)
            cmd = cmd.parent
        return " ".join(reversed(names))

    @property
    def use_line(self) -> str:
        prefix = self.parent.path + " " if self.parent is not None else ""
        return prefix + self.use

    def lookup_long(self, name: str) -> Flag | None:
        for flag in self.flags:
            if flag.long == name:
                return flag
        return None

    def lookup_short(self, ch: str) -> Flag | None:
        for flag in self.flags:
            if flag.short == ch:
                return flag
        return None

    def help_text(self) -> str:
        """Docker-style help: usage, description, options/commands."""
        out = ["", "Usage:  " + self.use_line, ""]
        out.append(self.long or self.short)
        if self.aliases:
            prefix = self.parent.path + " " if self.parent is not None else ""
            out += ["", "Aliases:", "  " + ", ".join([self.path] + [prefix + a for a in self.aliases])]
        shown = [sub for sub in self.subcommands if not sub.hidden]
        if shown:
            groups: dict[str, list[Command]] = {}
            for sub in shown:
                groups.setdefault(sub.group or "Commands", []).append(sub)
            width = max(len(s.name) for s in shown) + 3
            for title, subs in groups.items():
                out += ["", title + ":"]
                out += [f"  {s.name.ljust(width)}{s.short}" for s in subs]
        visible = [f for f in self.flags if not f.hidden]
        if visible:
            out += ["", ("Global Options:" if self.parent is None else "Options:")]
            rows = []
            for flag in visible:
                left = f"  -{flag.short}, --{flag.long}" if flag.short else "      --" + flag.long
                type_name = flag.metavar or _TYPE_NAMES[flag.kind]
                if type_name:
                    left += " " + type_name
                text = flag.help
                if flag.kind == "string" and flag.default:
                    # pflag quotes the default of a string flag only, not of a custom type's.
                    quoted = f'"{flag.default}"' if type_name == "string" else flag.default
                    text += f" (default {quoted})"
                elif flag.kind in _UINT_BITS or flag.kind == "int":
                    if flag.default:
                        text += f" (default {flag.default})"
                elif flag.kind == "bool" and flag.default:
                    text += " (default true)"
                rows.append((left, text))
            width = max(len(r[0]) for r in rows) + 3
            for left, text in rows:
                # Continuation lines of a multi-line help text stay in the column.
                out.append(left.ljust(width) + text.replace("\n", "\n" + " " * width))
        if self.subcommands:
            out += ["", f"Run '{self.path} COMMAND --help' for more information on a command."]
        return "\n".join(out) + "\n"


def _parse_bool(flag: Flag, value: str, command: Command) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError(f'invalid argument "{value}" for "{flag.display_name()}" flag: '
                     f'strconv.ParseBool: parsing "{value}": invalid syntax', command)


def _store(opts: Opts, flag: Flag, value: str, command: Command) -> None:
    if flag.validator is not None:
        try:
            value = flag.validator(value)
        except ValueError as err:
            raise UsageError(f'invalid argument "{value}" for "{flag.display_name()}" flag: {err}', command) from None
    kind = flag.kind
    if kind == "bool":
        opts[flag.dest] = _parse_bool(flag, value, command)
    elif kind == "int":
        try:
            opts[flag.dest] = int(value, 10)
        except ValueError:
            raise UsageError(f'invalid argument "{value}" for "{flag.display_name()}" flag: strconv.ParseInt: parsing '
                             f'"{value}": invalid syntax',
                             command) from None
    elif kind == "slice":
        if value != "":
            opts[flag.dest].extend(value.split(","))
    elif kind in _UINT_BITS:
        opts[flag.dest] = _parse_uint(flag, value, _UINT_BITS[kind], command)
    elif kind in ("list", "map", "filter"):
        opts[flag.dest].append(value)
    else:
        opts[flag.dest] = value


def _parse_uint(flag: Flag, value: str, bits: int, command: Command) -> int:
    """strconv.ParseUint(value, 10, bits) with Go's error texts."""
    reason = ""
    if not value.isdigit() or not value.isascii():
        reason = "invalid syntax"
    elif int(value) >= 1 << bits:
        reason = "value out of range"
    if reason:
        raise UsageError(f'invalid argument "{value}" for "{flag.display_name()}" flag: strconv.ParseUint: parsing '
                         f'"{value}": {reason}', command)
    return int(value)


def parse_args(command: Command, argv: Sequence[str], help_short: bool = True) -> tuple[Opts, list[str], set[str]]:
    """Parse ``argv`` for ``command`` as pflag does.

    Returns ``(opts, args, changed)``: flag values by dest, positional
    arguments, and the set of dests given on the command line.  Raises
    UsageError or HelpRequested.
    """
    opts = {f.dest: f.initial() for f in command.flags}
    changed: set[str] = set()
    args: list[str] = []
    i = 0
    help_short = help_short and command.lookup_short("h") is None
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            args.append(arg)
            if not command.interspersed:
                args.extend(argv[i:])
                break
            continue
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            flag = command.lookup_long(name)
            if flag is None:
                if name == "help":
                    raise HelpRequested(command)
                raise UsageError("unknown flag: --" + name, command)
            if flag.kind == "bool":
                value = value if eq else "true"
            elif not eq:
                if i >= len(argv):
                    raise UsageError("flag needs an argument: --" + name, command)
                value = argv[i]
                i += 1
            _store(opts, flag, value, command)
            changed.add(flag.dest)
            continue
        shorts = arg[1:]
        while shorts:
            ch = shorts[0]
            flag = command.lookup_short(ch)
            if flag is None:
                if ch == "h" and help_short:
                    raise HelpRequested(command)
                raise UsageError(f"unknown shorthand flag: '{ch}' in -{shorts}", command)
            if flag.kind == "bool":
                if shorts[1:2] == "=":
                    value, shorts = shorts[2:], ""
                else:
                    value, shorts = "true", shorts[1:]
            else:
                if shorts[1:2] == "=":
                    value = shorts[2:]
                elif len(shorts) > 1:
                    value = shorts[1:]
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: '{ch}' in -{shorts}", command)
                shorts = ""
            _store(opts, flag, value, command)
            changed.add(flag.dest)
    return opts, args, changed


def check_nargs(command: Command, args: Sequence[str]) -> None:
    """Cobra's ExactArgs / RequiresMinArgs / RequiresMaxArgs / NoArgs messages."""
    low, high = command.nargs
    n = len(args)
    if low <= n and (high is None or n <= high):
        return

    def plural(k: int) -> str:
        return "argument" if k == 1 else "arguments"

    if high == 0:
        msg = f"'{command.path}' accepts no arguments"
    elif low == high:
        msg = f"'{command.path}' requires {low} {plural(low)}"
    elif high is None:
        msg = f"'{command.path}' requires at least {low} {plural(low)}"
    elif low == 0:
        msg = f"'{command.path}' requires at most {high} {plural(high)}"
    else:
        msg = f"'{command.path}' requires at least {low} and at most {high} {plural(high)}"
    raise UsageError(msg, command, kind="args")
