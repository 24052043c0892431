"""Docker's list output: ``--format`` handling, table alignment, natural sort.

The docker CLI renders ``ls`` through one formatter (cli/command/formatter):
a ``table`` prefix selects a header row and column alignment by Go's
text/tabwriter (min width 10, padding 3, spaces), ``json`` means
``{{json .}}``, and the literal two-character sequences ``\\t`` and ``\\n``
in a format become a tab and a newline.  Output that scripts parse depends
on these details, so they are reproduced here rather than approximated.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from ..gotemplate import HEADER_FUNCS, TemplateError, parse

TABLE_KEY = "table"
RAW_KEY = "raw"
JSON_KEY = "json"


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-terminated cells as Go's tabwriter.NewWriter(w, 10, 1, 3, ' ', 0).

    Columns are computed per block of consecutive lines that have a cell in
    that column; the last cell of a line is not part of any column.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    _format_block(lines, [], 0, len(lines), out, minwidth, padding)
    return "\n".join(out)


def _format_block(lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str], minwidth: int,
                  padding: int) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write_lines(lines, widths, line0, this, out)
        line0 = this
        width = minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        widths.append(width)
        _format_block(lines, widths, line0, this, out, minwidth, padding)
        widths.pop()
        line0 = this
    _write_lines(lines, widths, line0, line1, out)


def _write_lines(lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]) -> None:
    for line in lines[line0:line1]:
        parts = []
        for j, cell in enumerate(line):
            parts.append(cell)
            if j < len(widths):
                parts.append(" " * (widths[j] - len(cell)))
        out.append("".join(parts))


def natural_less(a: str, b: str) -> bool:
    """fvbommel/sortorder.NaturalLess: digit runs compare as numbers."""
    i = j = 0
    while i < len(a) and j < len(b):
        c1, c2 = a[i], b[j]
        d1, d2 = "0" <= c1 <= "9", "0" <= c2 <= "9"
        if d1 != d2:
            return d1
        if not d1:
            if c1 != c2:
                return c1 < c2  # code point order is UTF-8 byte order
            i += 1
            j += 1
            continue
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        nz1, nz2 = i, j
        while i < len(a) and "0" <= a[i] <= "9":
            i += 1
        while j < len(b) and "0" <= b[j] <= "9":
            j += 1
        if i - nz1 != j - nz2:
            return i - nz1 < j - nz2
        if a[nz1:i] != b[nz2:j]:
            return a[nz1:i] < b[nz2:j]
        if nz1 != nz2:
            return nz1 < nz2
    return len(a) < len(b)


def _natural_cmp(a: str, b: str) -> int:
    if natural_less(a, b):
        return -1
    if natural_less(b, a):
        return 1
    return 0


natural_key = functools.cmp_to_key(_natural_cmp)


def truncate_id(ident: str) -> str:
    """formatter.TruncateID: drop an ``algo:`` prefix, keep 12 characters."""
    _, sep, rest = ident.partition(":")
    if sep:
        ident = rest
    return ident[:12]


class HeaderContext(dict[str, str]):
    """formatter.SubHeaderContext: field name -> column title, plus ``Label``."""

    template_methods = ("Label",)

    def template_method(self, name: str, *args: object) -> str:
        if name == "Label" and len(args) == 1:
            last = str(args[0]).split(".")[-1]
            return last.replace("-", " ").replace("_", " ")
        raise TemplateError(f"wrong number of args for {name}")


def list_format(source: str, quiet: bool, table_default: str, quiet_default: str = "{{.ID}}",
                raw_default: tuple[str, str] | None = None) -> str:
    """Pick the effective format as docker's newFormat does for ``ls``."""
    if source == TABLE_KEY:
        return quiet_default if quiet else table_default
    if source == RAW_KEY and raw_default is not None:
        return raw_default[1] if quiet else raw_default[0]
    return source


def render(fmt: str, rows: Iterable[object], header: Mapping[str, str]) -> str:
    """formatter.Context.Write: one line per row, a header and alignment for tables.

    ``rows`` are template data objects; ``header`` maps field names to column
    titles.  Raises TemplateError (message prefixed as docker does).
    """
    is_table = fmt.startswith(TABLE_KEY)
    if is_table:
        fmt = fmt[len(TABLE_KEY):]
    elif fmt == JSON_KEY:
        fmt = "{{json .}}"
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    try:
        tmpl = parse(fmt)
        body = "".join(tmpl.execute(row) + "\n" for row in rows)
    except TemplateError as err:
        raise TemplateError(f"template parsing error: {err}") from None
    if not is_table:
        return body
    try:
        head = tmpl.execute(HeaderContext(header), funcs=HEADER_FUNCS)
    except TemplateError:
        # Go ignores the header's execution error and keeps what was written.
        head = ""
    return tabwrite(head + "\n" + body)
