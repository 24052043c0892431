"""Docker's rules for sandboxes and networks, without a kernel."""

from __future__ import annotations

import re

import pytest

from libnetwork import rules
from libnetwork.drivers.api import Capabilities
from libnetwork.errors import Forbidden, InvalidParameter, NotFound, Unavailable
from libnetwork.model import SandboxRecord
from libnetwork.requests import NetworkAttachment

PLAIN = Capabilities()
HOST = Capabilities(exclusive=True, uses_host_namespace=True)
NULL = Capabilities(exclusive=True)
DRIVERS = {"bridge": PLAIN, "front": PLAIN, "host": HOST, "none": NULL}


def sandbox(name: str, mode: str = "default", shares: str | None = None) -> SandboxRecord:
    return SandboxRecord(id=f"id-{name}", name=name, hostname=name, created="", netns_path="", mode=mode,
                         shares=shares)


SANDBOXES = {s.name: s for s in (sandbox("web"), sandbox("onhost", "host"),
                                 sandbox("sharer", "container", shares="id-web"))}
SANDBOXES.update({s.id: s for s in list(SANDBOXES.values())})


def find(term: str) -> SandboxRecord:
    try:
        return SANDBOXES[term]
    except KeyError:
        raise NotFound(f"No such container: {term}") from None


def place(*networks: str) -> rules.Placement:
    return rules.place_sandbox([NetworkAttachment(n) for n in networks], DRIVERS.get, find)


def test_placement_modes() -> None:
    assert place("bridge", "front").mode == "default"
    assert place("nosuch").mode == "default"          # connect answers Docker's not-found later
    host = place("host")
    assert host.mode == "host" and [a.network for a in host.attachments] == ["host"]
    shared = place("container:web")
    assert shared.mode == "container" and shared.shares is SANDBOXES["web"] and shared.attachments == ()
    # A sharer of a sharer shares the owner; sharing a host-mode sandbox is host mode.
    assert place("container:sharer").shares is SANDBOXES["web"]
    assert place("container:onhost").mode == "host"


@pytest.mark.parametrize("networks, text", [
    (("host", "front"), rules.MIXED_MODES),
    (("container:web", "front"), rules.MIXED_MODES),
    (("none", "front"), rules.PRIVATE_MODE),
])
def test_placement_refuses_mixed_modes(networks: tuple[str, ...], text: str) -> None:
    with pytest.raises(InvalidParameter, match=re.escape(text)):
        place(*networks)


def test_placement_of_unknown_container() -> None:
    with pytest.raises(NotFound):
        place("container:nosuch")


def check(caps: Capabilities, target: SandboxRecord, current: list[Capabilities], *, ready: bool = True,
          already_on: bool = False) -> None:
    rules.check_connect("net", ready, caps, target, current, already_on)


def test_connect_rules() -> None:
    web = SANDBOXES["web"]
    check(PLAIN, web, [PLAIN])
    with pytest.raises(Forbidden, match="endpoint with name web already exists in network net"):
        check(PLAIN, web, [PLAIN], already_on=True)
    with pytest.raises(InvalidParameter, match="sharing network namespace"):
        check(PLAIN, SANDBOXES["sharer"], [])
    with pytest.raises(InvalidParameter, match=rules.HOST_NETWORK_CHANGE):
        check(HOST, web, [])
    with pytest.raises(InvalidParameter, match=rules.HOST_NETWORK_CHANGE):
        check(PLAIN, SANDBOXES["onhost"], [HOST])
    with pytest.raises(InvalidParameter, match="private"):
        check(NULL, web, [PLAIN])
    with pytest.raises(InvalidParameter, match="private"):
        check(PLAIN, web, [NULL])
    with pytest.raises(Unavailable, match="network net is not ready"):
        check(PLAIN, web, [], ready=False)
    check(NULL, web, [])


def test_disconnect_rules() -> None:
    rules.check_disconnect(PLAIN, SANDBOXES["web"])
    with pytest.raises(InvalidParameter):
        rules.check_disconnect(HOST, SANDBOXES["web"])
    with pytest.raises(InvalidParameter):
        rules.check_disconnect(PLAIN, SANDBOXES["onhost"])


def test_interface_names_fill_gaps() -> None:
    assert rules.next_ifname([], "eth") == "eth0"
    assert rules.next_ifname(["eth0", "eth2", None], "eth") == "eth1"


def test_old_records_say_container_mode_in_one_string() -> None:
    old = SandboxRecord(id="x", name="x", hostname="x", created="", netns_path="", mode="container:id-web")
    assert (old.mode, old.shares, old.network_mode) == ("container", "id-web", "container:id-web")
