from dataclasses import dataclass

import pytest

from libnetwork import lookup
from libnetwork.api import filters
from libnetwork.errors import InvalidParameter, NotFound
from libnetwork.model import NetworkRecord


@dataclass
class Rec:
    id: str
    name: str


def test_network_lookup_order():
    recs = [Rec("abc123" + "0" * 58, "web"), Rec("abd999" + "0" * 58, "abc123")]
    # exact name beats ID prefix
    assert lookup.find_network(recs, "abc123").name == "abc123"
    assert lookup.find_network(recs, "abd").name == "abc123"
    assert lookup.find_network(recs, recs[0].id).name == "web"
    with pytest.raises(InvalidParameter, match="2 matches found based on ID prefix: network ab is ambiguous"):
        lookup.find_network(recs, "ab")
    with pytest.raises(NotFound, match="network zzz not found"):
        lookup.find_network(recs, "zzz")


def test_sandbox_lookup_accepts_slash_name():
    recs = [Rec("f00" + "1" * 61, "box")]
    assert lookup.find_sandbox(recs, "/box").id == recs[0].id
    assert lookup.find_sandbox(recs, "f00").name == "box"
    with pytest.raises(NotFound, match="No such container: other"):
        lookup.find_sandbox(recs, "other")


def _net(name, **kw):
    return NetworkRecord(id=kw.pop("id", name * 8), name=name, driver=kw.pop("driver", "bridge"),
                         created="2026-01-01T00:00:00.000000000Z", **kw)


def test_filters_both_encodings():
    assert filters.parse('{"name":{"a":true}}', filters.LIST_FILTERS) == {"name": ["a"]}
    assert filters.parse('{"name":["a"]}', filters.LIST_FILTERS) == {"name": ["a"]}
    with pytest.raises(InvalidParameter, match="invalid filter 'bogus'"):
        filters.parse('{"bogus":["a"]}', filters.LIST_FILTERS)


def test_network_matcher():
    nets = [_net("bridge", predefined=True), _net("dev", labels={"env": "ci"}), _net("prod")]
    used = {"prod"}

    def match(f: dict[str, list[str]]) -> list[str]:
        return [n.name for n in nets if filters.network_matcher(f, lambda n: n.name in used)(n)]

    assert match({"label": ["env=ci"]}) == ["dev"]
    assert match({"label": ["env"]}) == ["dev"]
    assert match({"type": ["builtin"]}) == ["bridge"]
    assert match({"dangling": ["true"]}) == ["dev"]
    assert match({"dangling": ["0"]}) == ["bridge", "prod"]
    assert match({"name": ["^d"]}) == ["dev"]
    with pytest.raises(InvalidParameter, match="must be"):
        match({"dangling": ["maybe"]})


def test_prune_keeper():
    keep = filters.prune_keeper({"label!": ["keep"]})
    assert keep(_net("a", labels={"keep": "1"}))
    assert not keep(_net("b"))
    keep = filters.prune_keeper({"until": ["2000-01-01T00:00:00Z"]})
    assert keep(_net("c"))
    with pytest.raises(InvalidParameter):
        filters.prune_keeper({"until": ["1h", "2h"]})
