"""A Docker network plugin seen as a driver: each contract call is one ``NetworkDriver.*`` call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from libnetwork.drivers.api import Capabilities, EndpointConfig, EndpointInfo, JoinInfo, NetworkConfig, SandboxInfo
from libnetwork.errors import PluginError
from libnetwork.v1plugins import BadReply, PluginClient

from . import wire

log = logging.getLogger(__name__)

INTERFACE = "NetworkDriver"
T = TypeVar("T")


class RemoteDriver:
    """Calls block (HTTP); the controller runs them in its kernel worker like any driver's."""

    def __init__(self, name: str, client: PluginClient, capabilities: Capabilities):
        self.name = name
        self.client = client
        # Asked once, at registration, as Docker does.
        self._capabilities = capabilities

    @classmethod
    def register(cls, name: str, client: PluginClient) -> RemoteDriver:
        return cls(name, client, client.call(f"{INTERFACE}.GetCapabilities", None, wire.capabilities, "Err"))

    def _call(self, method: str, body: Any, parse: Callable[[dict], T] | None = None) -> T | dict:
        return self.client.call(f"{INTERFACE}.{method}", body, parse, "Err")

    def _call_or_undo(self, method: str, body: Any, parse: Callable[[dict], T], undo: str, undo_body: Any) -> T:
        """A call whose success the reply must confirm; a reply we cannot take is undone at once.

        The controller undoes only calls that returned, so the plugin would
        otherwise keep an endpoint (or join) that the daemon never recorded.
        """
        reply = self._call(method, body)
        try:
            return parse(reply)
        except BadReply as err:
            rollback = "rolled back"
            try:
                self._call(undo, undo_body)
            except PluginError as undo_err:
                rollback = f"failed to roll back: {undo_err.message}"
            raise PluginError(f'remote plugin "{self.name}": {INTERFACE}.{method}: {err}; {rollback}') from None

    def capabilities(self) -> Capabilities:
        return self._capabilities

    def create_network(self, config: NetworkConfig) -> None:
        self._call("CreateNetwork", wire.create_network(config))

    def delete_network(self, nid: str) -> None:
        self._call("DeleteNetwork", wire.network_id(nid))

    def create_endpoint(self, config: EndpointConfig) -> EndpointInfo:
        return self._call_or_undo("CreateEndpoint", wire.create_endpoint(config),
                                  lambda reply: wire.endpoint_info(reply, config),
                                  "DeleteEndpoint", wire.endpoint_id(config.nid, config.eid))

    def delete_endpoint(self, nid: str, eid: str) -> None:
        self._call("DeleteEndpoint", wire.endpoint_id(nid, eid))

    def join(self, nid: str, eid: str, sandbox: SandboxInfo) -> JoinInfo:
        return self._call_or_undo("Join", wire.join(nid, eid, sandbox), wire.join_info,
                                  "Leave", wire.endpoint_id(nid, eid))

    def leave(self, nid: str, eid: str) -> None:
        self._call("Leave", wire.endpoint_id(nid, eid))

    # -- optional calls: a plugin answering 404 does not implement them (Docker forgives that)

    def program_external_connectivity(self, nid: str, eid: str, bindings: Iterable[Any]) -> tuple:
        bindings = tuple(bindings)
        self._optional("ProgramExternalConnectivity", wire.program_external_connectivity(nid, eid, bindings))
        # A plugin publishes what it was asked for; it answers nothing back.
        return bindings

    def revoke_external_connectivity(self, nid: str, eid: str) -> None:
        self._optional("RevokeExternalConnectivity", wire.endpoint_id(nid, eid))

    def discover_new(self, address: str, bind_address: str = "", self_node: bool = False) -> None:
        self._call("DiscoverNew", wire.node_discovery(address, bind_address, self_node))

    def discover_delete(self, address: str, bind_address: str = "", self_node: bool = False) -> None:
        self._call("DiscoverDelete", wire.node_discovery(address, bind_address, self_node))

    def _optional(self, method: str, body: Any) -> None:
        try:
            self._call(method, body)
        except PluginError as err:
            if err.plugin_status != 404:
                raise
            log.debug("plugin does not implement call", extra={"plugin": self.name, "method": method})
