"""A small Go text/template: the language docker users write ``--format`` in.

Only the part of the language that format strings use is here: text,
``{{pipeline}}`` actions with field chains, variables, function calls and
pipes, ``if``/``else if``/``range``/``with``, ``break``/``continue``, trim
markers and comments, with Go's builtins and the functions docker adds.
No ``define``/``template``/``block``.  Values print as Go's ``fmt`` prints
them and errors read as Go's do, since users compare both with docker's.

- lexer.py      text and action tokens, literals decoded
- parser.py     the parse tree; names checked against functions and scopes
- functions.py  Go's builtins and docker's ``templates.basicFunctions``
- executor.py   running a tree against data
- values.py     Go's printing of values (fmt %v, encoding/json) and typed wrappers

Usage: ``parse("{{.Name}}").execute({"Name": "x"})``.  The modules avoid
importing ``typing`` at run time (``TYPE_CHECKING = False``): ``cnm`` loads
this package on every listing and must start fast.
"""

from __future__ import annotations

from .errors import TemplateError
from .executor import Template
from .functions import BASE_FUNCS, HEADER_FUNCS, FuncMap
from .values import (
    MISSING,
    GoStruct,
    GoTime,
    TypedMap,
    go_json,
    go_quote,
    go_string,
    go_time_string,
    is_true,
    type_name,
)

__all__ = [
    "BASE_FUNCS", "FuncMap", "GoStruct", "GoTime", "HEADER_FUNCS", "MISSING", "Template", "TemplateError",
    "TypedMap", "go_json", "go_quote", "go_string", "go_time_string", "is_true", "parse", "type_name",
]


def parse(src: str, funcs: FuncMap | None = None) -> Template:
    """Parse ``src`` (calling only ``funcs``, default BASE_FUNCS); raises TemplateError with Go's message."""
    return Template(src, funcs)
