"""The template package on its own: what Go's text/template says where the CLI's tests do not look."""

import pytest

from libnetwork.gotemplate import TemplateError, parse


@pytest.mark.parametrize("template, message", [
    # Go: lex.go lexNumber -> errorf("bad number syntax: %q", ...)
    ("{{ 0x }}", 'template: :1: bad number syntax: "0x"'),
    ("{{1.2.3}}", 'template: :1: bad number syntax: "1.2.3"'),
    ("a\n{{ printf \"%d\" 0b2 }}", 'template: :2: bad number syntax: "0b2"'),
])
def test_bad_number_is_a_template_error(template, message):
    with pytest.raises(TemplateError) as err:
        parse(template)
    assert str(err.value) == message


@pytest.mark.parametrize("template, expected", [
    ("{{0x1F}} {{0o17}} {{0b11}} {{1_000}} {{-2}} {{1e3}} {{'a'}}", "31 15 3 1000 -2 1000 97"),
])
def test_number_literals(template, expected):
    assert parse(template).execute({}) == expected
