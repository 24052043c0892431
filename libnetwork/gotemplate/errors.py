"""The one error a template raises, with Go's wording."""

from __future__ import annotations


class TemplateError(Exception):
    """A template that does not parse, or fails while executing."""


def parse_error(src: str, pos: int, msg: str) -> TemplateError:
    """Go's parse error: ``template: :LINE: msg`` (the template has no name)."""
    line = src.count("\n", 0, pos) + 1
    return TemplateError(f"template: :{line}: {msg}")
