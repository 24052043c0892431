"""Docker's JSON bodies parsed at the API edge: what would break a record later is refused now."""

from __future__ import annotations

import pytest

from libnetwork.api import parse
from libnetwork.errors import InvalidParameter


def test_port_bindings_are_strings() -> None:
    create = parse.sandbox_create({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}})
    assert create.port_bindings == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    with pytest.raises(InvalidParameter, match="PortBindings"):
        parse.sandbox_create({"PortBindings": {"80/tcp": [{"HostPort": 8080}]}})


def test_ipam_options_echo_null_when_absent() -> None:
    assert parse.network_create({"Name": "n"}).ipam_options is None
    assert parse.network_create({"Name": "n", "IPAM": {"Options": {}}}).ipam_options == {}
    assert parse.network_create({"Name": "n", "IPAM": {"Options": {"a": "b"}}}).ipam_options == {"a": "b"}
