"""Checks run while flags are parsed, as the docker CLI's option types do.

A failing check is a usage error (``invalid argument "x" for "--label"
flag: ...``, exit status 125), raised before any request is made.
"""

from __future__ import annotations

_WHITESPACE = " \t\n\v\f\r"


def validate_label(value: str) -> str:
    """opts.ValidateLabel."""
    key = value.partition("=")[0].lstrip(_WHITESPACE)
    if key == "":
        raise ValueError(f"invalid label '{value}': empty name")
    if any(ch in key for ch in _WHITESPACE):
        raise ValueError(f"label '{key}' contains whitespaces")
    return value


def validate_link(value: str) -> str:
    """opts.ValidateLink: ``name`` or ``name:alias``."""
    if value == "":
        raise ValueError("empty string specified for links")
    if len(value.split(":")) > 2:
        raise ValueError("bad format for links: " + value)
    return value


def validate_filter(value: str) -> str:
    """opts.FilterOpt.Set requires ``name=value``."""
    if value and "=" not in value:
        raise ValueError("bad format of filter (expected name=value)")
    return value


def validate_ip_address(value: str) -> str:
    """opts.ValidateIPAddress (--dns)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError("IP address is not correctly formatted: " + value) from None


def validate_dns_search(value: str) -> str:
    """opts.ValidateDNSSearch: a domain name, or "." for none."""
    domain = value.rstrip(".") if value != "." else value
    if value != "." and (not domain or len(domain) > 255 or domain.startswith(".") or domain.startswith("-")):
        raise ValueError(f"{value} is not a valid domain")
    return value


def validate_extra_host(value: str) -> str:
    """opts.ValidateExtraHost (--add-host): ``name:ip``, or ``name:host-gateway``."""
    import ipaddress

    name, sep, address = value.partition(":")
    if not sep or not name:
        raise ValueError(f"bad format for add-host: {value!r}")
    if address != "host-gateway":
        try:
            ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            raise ValueError(f"invalid IP address in add-host: {address!r}") from None
    return value
