"""The ``null`` driver (Docker's ``none``): a sandbox with only loopback."""

from __future__ import annotations

from .api import Capabilities, DriverContext, EndpointConfig, EndpointInfo, JoinInfo, NetworkConfig, SandboxInfo


class NullDriver:
    name = "null"

    def capabilities(self) -> Capabilities:
        return Capabilities(exclusive=True)

    def create_network(self, config: NetworkConfig) -> None:
        pass

    def delete_network(self, nid: str) -> None:
        pass

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo:
        return EndpointInfo()

    def delete_endpoint(self, nid: str, eid: str) -> None:
        pass

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo:
        return JoinInfo(src_name=None)

    def leave(self, nid: str, eid: str) -> None:
        pass


def create_driver(context: DriverContext) -> NullDriver:
    return NullDriver()
