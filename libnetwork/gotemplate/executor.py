"""Running a parsed template against data, with Go's semantics and error texts.

Data is plain JSON (dicts, lists, scalars), :class:`GoStruct` for values
that were decoded into a typed Go struct, or any object exposing
capitalised attributes or methods (rows a caller builds for ``ls``), and
dicts may offer methods through ``template_methods``/``template_method``.
Errors name the line, column and operand as Go does:
``template: :1:4: executing "" at <.Foo>: map has no entry for key "Foo"``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .errors import TemplateError
from .functions import BASE_FUNCS, FuncMap, Lazy
from .parser import (
    Action,
    Break,
    Command,
    Continue,
    Control,
    Dot,
    Field,
    Function,
    Nil,
    Node,
    Paren,
    Pipe,
    Text,
    Variable,
    parse,
)
from .values import MISSING, GoStruct, GoTime, go_string, is_true, type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from .parser import Operand

__all__ = ["Template"]


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    def __init__(self, pos: int, msg: str) -> None:
        super().__init__(msg)
        self.pos = pos
        self.msg = msg


class _NoFinal:
    """No value piped in from the previous command."""


_NOFINAL = _NoFinal()


class Template:
    """A parsed template; :meth:`execute` renders it against data."""

    def __init__(self, src: str, funcs: FuncMap | None = None) -> None:
        self.src = src
        self.tree = parse(src, funcs or BASE_FUNCS)

    def execute(self, data: object, missing_error: bool = False, funcs: FuncMap | None = None) -> str:
        """Render; ``missing_error`` is Go's ``missingkey=error`` option."""
        run = _Run(self.src, data, missing_error, funcs or BASE_FUNCS)
        try:
            run.walk(self.tree, data)
        except (_Break, _Continue):
            pass
        return "".join(run.out)


def _plain_type_error(err: TypeError) -> str:
    text = str(err)
    return text.split(") ", 1)[-1] if ") " in text else text


class _Run:
    def __init__(self, src: str, data: object, missing_error: bool, funcs: FuncMap) -> None:
        self.src = src
        self.missing_error = missing_error
        self.funcs = funcs
        self.out: list[str] = []
        self.vars: list[tuple[str, object]] = [("$", data)]

    # -- errors
    def fail(self, pos: int, msg: str) -> NoReturn:
        raise _ExecError(pos, msg)

    def error_text(self, err: _ExecError) -> str:
        line = self.src.count("\n", 0, err.pos) + 1
        col = err.pos - (self.src.rfind("\n", 0, err.pos) + 1)
        return f'template: :{line}:{col}: executing "" at <{self._node_text(err.pos)}>: {err.msg}'

    def _node_text(self, pos: int) -> str:
        end = pos
        depth = 0
        src = self.src
        while end < len(src):
            ch = src[end]
            if ch == "(":
                depth += 1
            elif ch == ")":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (src.startswith("}}", end) or ch in " |\t\n"):
                break
            end += 1
        return src[pos:end]

    # -- walking
    def walk(self, nodes: list[Node], dot: object) -> None:
        try:
            for node in nodes:
                self.walk_node(node, dot)
        except _ExecError as err:
            raise TemplateError(self.error_text(err)) from None

    def walk_node(self, node: Node, dot: object) -> None:
        if isinstance(node, Text):
            self.out.append(node.text)
        elif isinstance(node, Action):
            value = self.eval_pipe(dot, node.pipe)
            if not node.pipe.decl:
                self.out.append(go_string(value))
        elif isinstance(node, Control):
            if node.kind == "range":
                self.walk_range(node, dot)
                return
            mark = len(self.vars)
            value = self.eval_pipe(dot, node.pipe)
            if is_true(value):
                self.walk_list(node.body, value if node.kind == "with" else dot)
            else:
                self.walk_list(node.else_body, dot)
            del self.vars[mark:]
        elif isinstance(node, Break):
            raise _Break()
        elif isinstance(node, Continue):
            raise _Continue()

    def walk_list(self, nodes: list[Node], dot: object) -> None:
        mark = len(self.vars)
        for node in nodes:
            self.walk_node(node, dot)
        del self.vars[mark:]

    def walk_range(self, node: Control, dot: object) -> None:
        pipe = node.pipe
        mark = len(self.vars)
        decl = pipe.decl
        # The declared variables are set per element, not to the ranged value.
        value = self.eval_pipe(dot, Pipe([], False, pipe.cmds, pipe.pos))
        pairs: list[tuple[object, object]]
        if isinstance(value, dict):
            pairs = [(k, value[k]) for k in sorted(value)]
        elif isinstance(value, (list, tuple)):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        elif value is None or value is MISSING:
            pairs = []
        else:
            self.fail(pipe.pos, f"range can't iterate over {go_string(value)}")
        if not pairs:
            self.walk_list(node.else_body, dot)
            del self.vars[mark:]
            return
        for key, elem in pairs:
            inner = len(self.vars)
            if len(decl) == 1:
                self.set_var(decl[0], elem, pipe.is_decl)
            elif len(decl) == 2:
                self.set_var(decl[0], key, pipe.is_decl)
                self.set_var(decl[1], elem, pipe.is_decl)
            try:
                self.walk_list(node.body, elem)
            except _Break:
                del self.vars[inner:]
                break
            except _Continue:
                pass
            del self.vars[inner:]
        del self.vars[mark:]

    def set_var(self, name: str, value: object, declare: bool) -> None:
        if declare:
            self.vars.append((name, value))
            return
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        self.vars.append((name, value))

    def get_var(self, name: str, pos: int) -> object:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        self.fail(pos, f"undefined variable: {name}")

    # -- pipelines
    def eval_pipe(self, dot: object, pipe: Pipe) -> object:
        value: object = _NOFINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        if pipe.decl:
            self.set_var(pipe.decl[0], value, pipe.is_decl)
        return value

    def eval_command(self, dot: object, cmd: Command, final: object) -> object:
        first = cmd[0]
        args = cmd[1:]
        if isinstance(first, Field):
            return self.eval_chain(dot, dot, first.names, first.pos, args, final)
        if isinstance(first, Variable):
            value = self.get_var(first.name, first.pos)
            if first.names:
                return self.eval_chain(dot, value, first.names, first.pos, args, final)
            self.no_args(first, args, final)
            return value
        if isinstance(first, Function):
            return self.eval_func(dot, first.name, first.pos, args, final)
        if isinstance(first, Paren):
            value = self.eval_pipe(dot, first.pipe)
            if first.names:
                return self.eval_chain(dot, value, first.names, first.pos, args, final)
            self.no_args(first, args, final)
            return value
        if isinstance(first, Dot):
            self.no_args(first, args, final)
            return dot
        if isinstance(first, Nil):
            self.fail(first.pos, "nil is not a command")
        self.no_args(first, args, final)
        return first.value

    def no_args(self, node: Operand, args: Command, final: object) -> None:
        if args or final is not _NOFINAL:
            self.fail(node.pos, f"can't give argument to non-function {self._node_text(node.pos)}")

    def eval_arg(self, dot: object, node: Operand) -> object:
        if isinstance(node, Field):
            return self.eval_chain(dot, dot, node.names, node.pos, [], _NOFINAL)
        if isinstance(node, (Variable, Paren)):
            if isinstance(node, Variable):
                value = self.get_var(node.name, node.pos)
            else:
                value = self.eval_pipe(dot, node.pipe)
            return self.eval_chain(dot, value, node.names, node.pos, [], _NOFINAL) if node.names else value
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Nil):
            return None
        if isinstance(node, Function):
            return self.eval_func(dot, node.name, node.pos, [], _NOFINAL)
        return node.value

    def eval_func(self, dot: object, name: str, pos: int, args: Command, final: object) -> object:
        fn = self.funcs[name]
        if isinstance(fn, Lazy):
            thunks: list[Callable[[], object]] = [partial(self.eval_arg, dot, a) for a in args]
            if final is not _NOFINAL:
                thunks.append(lambda: final)
            if not thunks:
                self.fail(pos, f"wrong number of args for {name}: want at least 1 got 0")
            return fn.fn(*thunks)
        values = [self.eval_arg(dot, a) for a in args]
        if final is not _NOFINAL:
            values.append(final)
        try:
            return fn(*values)
        except TemplateError as err:
            self.fail(pos, str(err))
        except TypeError as err:
            self.fail(pos, f"error calling {name}: {_plain_type_error(err)}")
        except (AttributeError, ValueError) as err:
            self.fail(pos, f"error calling {name}: {err}")

    def eval_chain(self, dot: object, receiver: object, names: list[str], pos: int, args: Command,
                   final: object) -> object:
        for name in names[:-1]:
            receiver = self.eval_field(receiver, name, pos, [], _NOFINAL)
        return self.eval_field(receiver, names[-1], pos, [self.eval_arg(dot, a) for a in args], final)

    def eval_field(self, receiver: object, name: str, pos: int, args: list[object], final: object) -> object:
        has_args = bool(args) or final is not _NOFINAL
        if final is not _NOFINAL:
            args = args + [final]
        if receiver is MISSING:
            if self.missing_error:
                self.fail(pos, f'nil data; no entry for key "{name}"')
            return MISSING
        if receiver is None:
            self.fail(pos, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, GoStruct):
            if name in receiver.values:
                if has_args:
                    self.fail(pos, f"{name} has arguments but cannot be invoked as function")
                return receiver.values[name]
            self.fail(pos, f"can't evaluate field {name} in type {receiver.type_name}")
        if isinstance(receiver, dict):
            method = getattr(receiver, "template_method", None)
            if method is not None and name in getattr(receiver, "template_methods", ()):
                return method(name, *args)
            if has_args:
                self.fail(pos, f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if self.missing_error:
                self.fail(pos, f'map has no entry for key "{name}"')
            return MISSING
        if isinstance(receiver, (str, int, float, bool, list, tuple, GoTime)):
            self.fail(pos, f"can't evaluate field {name} in type {type_name(receiver)}")
        # A row context: exported (capitalised) attributes and methods only.
        if name[:1].isupper():
            attr = getattr(type(receiver), name, None)
            if attr is not None:
                value = getattr(receiver, name)
                if callable(value):
                    try:
                        return value(*args)
                    except TypeError as err:
                        self.fail(pos, f"wrong number of args for {name}: {_plain_type_error(err)}")
                if has_args:
                    self.fail(pos, f"{name} has arguments but cannot be invoked as function")
                return value
        self.fail(pos, f"can't evaluate field {name} in type {type_name(receiver)}")
