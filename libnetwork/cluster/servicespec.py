"""Docker's ServiceSpec, read once at the edge into what this daemon acts on.

The spec is kept in etcd as the client gave it (defaults filled in, as
swarmkit shows it back in ``docker service inspect``); ``parse_spec`` turns it
into a ``ServiceIntent``, refusing what Docker refuses with Docker's texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NetworkTarget:
    """``TaskTemplate.Networks[]``: a network by name or ID, and the service's aliases on it."""

    target: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortIntent:
    """``EndpointSpec.Ports[]``; ``published`` 0 asks the managers for one (30000-32767, as swarmkit)."""

    protocol: str
    target: int
    published: int
    mode: str = "ingress"  # or "host"


@dataclass(frozen=True)
class ServiceIntent:
    name: str
    image: str
    # ContainerSpec.Command + ContainerSpec.Args: what each task runs (empty: nothing).
    argv: tuple[str, ...]
    env: tuple[str, ...]
    hostname: str
    mode: str  # "replicated" or "global"
    replicas: int
    networks: tuple[NetworkTarget, ...]
    endpoint_mode: str  # "vip" or "dnsrr"
    ports: tuple[PortIntent, ...]
    labels: dict[str, str]


def parse_spec(spec: dict[str, Any]) -> ServiceIntent:
    """The intent of a ServiceSpec; ``InvalidParameter`` with Docker's text for what Docker refuses."""
    raise NotImplementedError


def fill_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as swarmkit stores it (what ``docker service inspect`` shows back)."""
    raise NotImplementedError
