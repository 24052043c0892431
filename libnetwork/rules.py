"""Docker's rules for which sandbox may join which network: pure, no kernel, no records store.

The controller asks these before it changes anything, so a refused request
leaves no trace.  Drivers are described by their capabilities, never by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .drivers.api import Capabilities
from .errors import Forbidden, InvalidParameter, Unavailable
from .model import SandboxRecord
from .requests import NetworkAttachment, shared_sandbox

HOST_NETWORK_CHANGE = "container cannot be disconnected from host network or connected to host network"
PRIVATE_MODE = ("container cannot be connected to multiple networks with one of the networks "
                "in private (none) mode")
SHARED_NAMESPACE = ("container sharing network namespace with another container or host "
                    "cannot be connected to any other network")
MIXED_MODES = "conflicting options: cannot attach both user-defined and non-user-defined network-modes"


@dataclass(frozen=True)
class Placement:
    """Where a new sandbox's network stack lives, and which networks it joins."""

    mode: str                                   # "default", "host" or "container"
    attachments: tuple[NetworkAttachment, ...]
    shares: SandboxRecord | None = None         # mode "container": whose namespace


def place_sandbox(attachments: Sequence[NetworkAttachment],
                  capabilities: Callable[[str], Capabilities | None],
                  find_sandbox: Callable[[str], SandboxRecord]) -> Placement:
    """Docker's network modes: own namespace, the host's, or another sandbox's.

    ``capabilities`` answers the driver capabilities of the network a user
    named (None when there is no such network: connecting fails later with
    Docker's not-found); ``find_sandbox`` finds a sandbox by what a user typed.
    """
    def special(attachment: NetworkAttachment) -> bool:
        caps = capabilities(attachment.network)
        return shared_sandbox(attachment.network) is not None or (caps is not None and caps.exclusive)

    def host(attachment: NetworkAttachment) -> bool:
        caps = capabilities(attachment.network)
        return caps is not None and caps.uses_host_namespace

    specials = [a for a in attachments if special(a)]
    if specials and len(attachments) > 1:
        first = specials[0]
        if shared_sandbox(first.network) is not None or host(first):
            raise InvalidParameter(MIXED_MODES)
        raise InvalidParameter(PRIVATE_MODE)
    if specials and (target := shared_sandbox(specials[0].network)) is not None:
        other = find_sandbox(target)
        # Share the namespace's owner, not a sharer: chains collapse, as in Docker.
        while other.shares is not None:
            other = find_sandbox(other.shares)
        if other.mode == "host":
            return Placement("host", ())
        return Placement("container", (), other)
    if specials and host(specials[0]):
        return Placement("host", tuple(attachments))
    return Placement("default", tuple(attachments))


def check_connect(network_name: str, network_ready: bool, caps: Capabilities, sandbox: SandboxRecord,
                  current: Iterable[Capabilities], already_on: bool) -> None:
    """May ``sandbox`` (on networks whose drivers have the ``current`` capabilities) join this network?"""
    current = list(current)
    if already_on:
        raise Forbidden(f"endpoint with name {sandbox.name} already exists in network {network_name}")
    if sandbox.shares is not None:
        raise InvalidParameter(SHARED_NAMESPACE)
    if caps.uses_host_namespace or sandbox.mode == "host":
        if current or sandbox.mode != "host":
            raise InvalidParameter(HOST_NETWORK_CHANGE)
    if (caps.exclusive or any(c.exclusive for c in current)) and current:
        raise InvalidParameter(PRIVATE_MODE)
    if not network_ready:
        raise Unavailable(f"network {network_name} is not ready")


def check_disconnect(caps: Capabilities, sandbox: SandboxRecord) -> None:
    if sandbox.mode == "host" or caps.uses_host_namespace:
        raise InvalidParameter(HOST_NETWORK_CHANGE)


def next_ifname(taken: Iterable[str | None], prefix: str) -> str:
    """The first free ``prefixN``: eth0, eth1, ... in connection order, gaps reused."""
    used = set(taken)
    index = 0
    while f"{prefix}{index}" in used:
        index += 1
    return f"{prefix}{index}"
