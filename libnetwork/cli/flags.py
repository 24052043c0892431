"""Command-line parsing with the docker CLI's (cobra/pflag) rules.

argparse differs from pflag in ways users of docker notice: ``--ipv6=false``
on a boolean flag, comma-separated ``--alias a,b``, ``-o k=v`` maps, flags
stopping at the first argument of ``exec``, and the error texts and exit
status 125 of a usage error.  This module parses by pflag's rules and
renders docker-style help, from a declarative description of each command.
"""

__all__ = ["Command", "Flag", "HelpRequested", "UsageError", "parse_args"]

_TYPE_NAMES = {"bool": "", "string": "string", "int": "int", "list": "list",
               "slice": "strings", "map": "map", "filter": "filter"}
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class UsageError(Exception):
    """Wrong flags or arguments: printed with the usage line, exit status 125.

    ``kind`` picks docker's wording: "flag" (pflag errors), "args" (cobra's
    argument-count errors), "plain" (an unknown top-level command)."""

    def __init__(self, message, command, kind="flag"):
        super().__init__(message)
        self.message = message
        self.command = command
        self.kind = kind

    def render(self):
        cmd = self.command
        if self.kind == "plain":
            return "%s: %s" % (cmd.root_name, self.message)
        if self.kind == "flag":
            return "%s\n\nUsage:  %s\n\nRun '%s --help' for more information" % (
                self.message, cmd.use_line, cmd.path)
        return "%s: %s\n\nUsage:  %s\n\nRun '%s --help' for more information" % (
            cmd.root_name, self.message, cmd.use_line, cmd.path)


class HelpRequested(Exception):
    """``-h``/``--help`` was given: print the command's help, exit 0."""

    def __init__(self, command):
        super().__init__(command.path)
        self.command = command


class Flag:
    """One flag. ``kind``: bool, string, int, list (repeatable), slice
    (repeatable, comma-separated), map (repeatable ``k=v``), filter."""

    def __init__(self, long, short=None, kind="bool", default=None, help="",
                 validator=None, dest=None, metavar=None, hidden=False):
        self.long = long
        self.short = short
        self.kind = kind
        self.default = default
        self.help = help
        self.validator = validator
        self.dest = dest or long.replace("-", "_")
        self.metavar = metavar
        self.hidden = hidden

    def display_name(self):
        if self.short:
            return "-%s, --%s" % (self.short, self.long)
        return "--" + self.long

    def initial(self):
        if self.kind in ("list", "slice", "map", "filter"):
            return list(self.default or [])
        if self.kind == "bool":
            return bool(self.default)
        if self.kind == "int":
            return self.default or 0
        return self.default if self.default is not None else ""


class Command:
    """A command: flags, argument count, and either a runner or subcommands.

    ``run`` is ``"module:function"`` inside this package, imported only when
    the command runs.  ``nargs`` is ``(min, max)``, ``max`` None = unbounded.
    """

    def __init__(self, name, use, short, flags=(), nargs=(0, 0), run=None,
                 interspersed=True, aliases=(), subcommands=(), group="", long=""):
        self.name = name
        self.use = use
        self.short = short
        self.long = long
        self.flags = list(flags)
        self.nargs = nargs
        self.run = run
        self.interspersed = interspersed
        self.aliases = tuple(aliases)
        self.subcommands = []
        self.parent = None
        self.group = group
        for sub in subcommands:
            self.add(sub)
        if self.subcommands:
            # A group's own flags end at its subcommand's name.
            self.interspersed = False

    def add(self, sub):
        sub.parent = self
        self.subcommands.append(sub)
        return sub

    def find(self, name):
        for sub in self.subcommands:
            if name == sub.name or name in sub.aliases:
                return sub
        return None

    @property
    def root_name(self):
        cmd = self
        while cmd.parent is not None:
            cmd = cmd.parent
        return cmd.name

    @property
    def path(self):
        names = []
        cmd = self
        while cmd is not None:
            names.append(cmd.name)
            cmd = cmd.parent
        return " ".join(reversed(names))

    @property
    def use_line(self):
        prefix = self.parent.path + " " if self.parent is not None else ""
        return prefix + self.use

    def lookup_long(self, name):
        for flag in self.flags:
            if flag.long == name:
                return flag
        return None

    def lookup_short(self, ch):
        for flag in self.flags:
            if flag.short == ch:
                return flag
        return None

    def help_text(self):
        """Docker-style help: usage, description, options/commands."""
        out = ["", "Usage:  " + self.use_line, ""]
        out.append(self.long or self.short)
        if self.aliases:
            out += ["", "Aliases:", "  " + ", ".join(
                [self.path] + [self.parent.path + " " + a for a in self.aliases])]
        if self.subcommands:
            groups = {}
            for sub in self.subcommands:
                groups.setdefault(sub.group or "Commands", []).append(sub)
            width = max(len(s.name) for s in self.subcommands) + 3
            for title, subs in groups.items():
                out += ["", title + ":"]
                out += ["  %s%s" % (s.name.ljust(width), s.short) for s in subs]
        visible = [f for f in self.flags if not f.hidden]
        if visible:
            out += ["", ("Global Options:" if self.parent is None else "Options:")]
            rows = []
            for flag in visible:
                left = ("  -%s, --%s" % (flag.short, flag.long)) if flag.short else (
                    "      --" + flag.long)
                type_name = flag.metavar or _TYPE_NAMES[flag.kind]
                if type_name:
                    left += " " + type_name
                text = flag.help
                if flag.kind == "string" and flag.default:
                    text += ' (default "%s")' % flag.default
                elif flag.kind == "bool" and flag.default:
                    text += " (default true)"
                rows.append((left, text))
            width = max(len(r[0]) for r in rows) + 3
            for left, text in rows:
                # Continuation lines of a multi-line help text stay in the column.
                out.append(left.ljust(width) + text.replace("\n", "\n" + " " * width))
        if self.subcommands:
            out += ["", "Run '%s COMMAND --help' for more information on a command." % self.path]
        return "\n".join(out) + "\n"


def _parse_bool(flag, value, command):
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise UsageError('invalid argument "%s" for "%s" flag: strconv.ParseBool: parsing "%s": '
                     "invalid syntax" % (value, flag.display_name(), value), command)


def _store(opts, flag, value, command):
    if flag.validator is not None:
        try:
            value = flag.validator(value)
        except ValueError as err:
            raise UsageError('invalid argument "%s" for "%s" flag: %s'
                             % (value, flag.display_name(), err), command) from None
    kind = flag.kind
    if kind == "bool":
        opts[flag.dest] = _parse_bool(flag, value, command)
    elif kind == "int":
        try:
            opts[flag.dest] = int(value, 10)
        except ValueError:
            raise UsageError('invalid argument "%s" for "%s" flag: strconv.ParseInt: parsing '
                             '"%s": invalid syntax' % (value, flag.display_name(), value),
                             command) from None
    elif kind == "slice":
        if value != "":
            opts[flag.dest].extend(value.split(","))
    elif kind in ("list", "map", "filter"):
        opts[flag.dest].append(value)
    else:
        opts[flag.dest] = value


def parse_args(command, argv, help_short=True):
    """Parse ``argv`` for ``command`` as pflag does.

    Returns ``(opts, args, changed)``: flag values by dest, positional
    arguments, and the set of dests given on the command line.  Raises
    UsageError or HelpRequested.
    """
    opts = {f.dest: f.initial() for f in command.flags}
    changed = set()
    args = []
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
                raise UsageError("unknown shorthand flag: '%s' in -%s" % (ch, shorts), command)
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
                    raise UsageError("flag needs an argument: '%s' in -%s" % (ch, shorts), command)
                shorts = ""
            _store(opts, flag, value, command)
            changed.add(flag.dest)
    return opts, args, changed


def check_nargs(command, args):
    """Cobra's ExactArgs / RequiresMinArgs / RequiresMaxArgs / NoArgs messages."""
    low, high = command.nargs
    n = len(args)
    if low <= n and (high is None or n <= high):
        return

    def plural(k):
        return "argument" if k == 1 else "arguments"

    if high == 0:
        msg = "'%s' accepts no arguments" % command.path
    elif low == high:
        msg = "'%s' requires %d %s" % (command.path, low, plural(low))
    elif high is None:
        msg = "'%s' requires at least %d %s" % (command.path, low, plural(low))
    elif low == 0:
        msg = "'%s' requires at most %d %s" % (command.path, high, plural(high))
    else:
        msg = "'%s' requires at least %d and at most %d %s" % (
            command.path, low, high, plural(high))
    raise UsageError(msg, command, kind="args")
