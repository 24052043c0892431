"""Checks run while flags are parsed, as the docker CLI's option types do.

A failing check is a usage error (``invalid argument "x" for "--label"
flag: ...``, exit status 125), raised before any request is made.
"""

_WHITESPACE = " \t\n\v\f\r"


def validate_label(value):
    """opts.ValidateLabel."""
    key = value.partition("=")[0].lstrip(_WHITESPACE)
    if key == "":
        raise ValueError("invalid label '%s': empty name" % value)
    if any(ch in key for ch in _WHITESPACE):
        raise ValueError("label '%s' contains whitespaces" % key)
    return value


def validate_link(value):
    """opts.ValidateLink: ``name`` or ``name:alias``."""
    if value == "":
        raise ValueError("empty string specified for links")
    if len(value.split(":")) > 2:
        raise ValueError("bad format for links: " + value)
    return value


def validate_filter(value):
    """opts.FilterOpt.Set requires ``name=value``."""
    if value and "=" not in value:
        raise ValueError("bad format of filter (expected name=value)")
    return value
