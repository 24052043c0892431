"""Remote IPAM: a Docker IPAM plugin (``IpamDriver.*`` over HTTP) seen as an IPAM driver.

The JSON is moby's ``libnetwork/ipams/remote/api``, field by field.  Unlike
network plugins, a 200 reply carries its error in ``Error`` (not ``Err``).
At registration, as in Docker, ``GetCapabilities`` is optional (a plugin
that fails it has none) and ``GetDefaultAddressSpaces`` is required.

A remote IPAM plugin keeps its own state: the daemon does not replay its
pools and addresses at start (``restore_by_replay`` is false whatever the
plugin says about ``RequiresRequestReplay``, which is reported as is).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from libnetwork.errors import CnmError, NoAvailableAddress
from libnetwork.ipam.api import AddressRequest, Capabilities, IPAddress, IPInterface, Pool, PoolRequest
from libnetwork.v1plugins import BadReply, PluginClient, Registry
from libnetwork.v1plugins.registry import IPAM_DRIVER

log = logging.getLogger(__name__)

ERROR_FIELD = "Error"


def _text(reply: Mapping[str, Any], key: str) -> str:
    value = reply.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadReply(f"{key}: expected a string, got {value!r}")
    return value


def _string_map(reply: Mapping[str, Any], key: str) -> dict[str, str]:
    value = reply.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadReply(f"{key}: expected an object of strings, got {value!r}")
    return dict(value)


def _options(options: Mapping[str, str]) -> dict[str, str] | None:
    # Go sends a nil map as null, and Docker's option maps are nil when empty.
    return dict(options) or None


# -- requests and replies (pure) ----------------------------------------------------

def capabilities(reply: Mapping[str, Any]) -> Capabilities:
    mac, replay = reply.get("RequiresMACAddress", False), reply.get("RequiresRequestReplay", False)
    if not isinstance(mac, bool) or not isinstance(replay, bool):
        raise BadReply("RequiresMACAddress and RequiresRequestReplay must be booleans")
    return Capabilities(requires_mac_address=mac, requires_request_replay=replay, restore_by_replay=False,
                        own_worker=True)


def address_spaces(reply: Mapping[str, Any]) -> tuple[str, str]:
    return _text(reply, "LocalDefaultAddressSpace"), _text(reply, "GlobalDefaultAddressSpace")


def request_pool(request: PoolRequest) -> dict[str, Any]:
    return {"AddressSpace": request.address_space, "Pool": str(request.pool) if request.pool else "",
            "SubPool": str(request.sub_pool) if request.sub_pool else "",
            "Options": _options(request.options), "V6": request.v6}


def pool(reply: Mapping[str, Any]) -> Pool:
    pool_id, cidr = _text(reply, "PoolID"), _text(reply, "Pool")
    if not pool_id:
        raise BadReply("PoolID is empty")
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise BadReply(f"Pool: invalid CIDR address: {cidr}") from None
    return Pool(pool_id=pool_id, pool=network, meta=_string_map(reply, "Data"))


def request_address(request: AddressRequest) -> dict[str, Any]:
    return {"PoolID": request.pool_id, "Address": str(request.address) if request.address else "",
            "Options": _options(request.options)}


def address(reply: Mapping[str, Any]) -> IPInterface:
    text = _text(reply, "Address")
    if not text:
        # moby ipamapi.ErrNoIPReturned.
        raise NoAvailableAddress("No address returned")
    if "/" not in text:
        raise BadReply(f"Address: invalid CIDR address: {text} (an address with its prefix, as 10.0.0.2/24)")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise BadReply(f"Address: invalid CIDR address: {text}") from None


def release_address(pool_id: str, ip: IPAddress | None) -> dict[str, Any]:
    return {"PoolID": pool_id, "Address": str(ip) if ip else ""}


# -- the driver -------------------------------------------------------------------

class RemoteIpam:
    def __init__(self, name: str, client: PluginClient, caps: Capabilities, spaces: tuple[str, str]):
        self.name = name
        self.client = client
        self._capabilities = caps
        self._spaces = spaces

    @classmethod
    def register(cls, name: str, client: PluginClient) -> RemoteIpam:
        try:
            caps = client.call("IpamDriver.GetCapabilities", None, capabilities, ERROR_FIELD)
        except CnmError as err:
            log.info("remote IPAM driver does not support capabilities", extra={"plugin": name, "error": err.message})
            caps = Capabilities(restore_by_replay=False, own_worker=True)
        spaces = client.call("IpamDriver.GetDefaultAddressSpaces", None, address_spaces, ERROR_FIELD)
        return cls(name, client, caps, spaces)

    def _call(self, method: str, body: Any, parse=None):
        return self.client.call(f"IpamDriver.{method}", body, parse, ERROR_FIELD)

    def capabilities(self) -> Capabilities:
        return self._capabilities

    def default_address_spaces(self) -> tuple[str, str]:
        return self._spaces

    def request_pool(self, request: PoolRequest) -> Pool:
        return self._call("RequestPool", request_pool(request), pool)

    def release_pool(self, pool_id: str) -> None:
        self._call("ReleasePool", {"PoolID": pool_id})

    def request_address(self, request: AddressRequest) -> IPInterface:
        return self._call("RequestAddress", request_address(request), address)

    def release_address(self, pool_id: str, ip: IPAddress) -> None:
        self._call("ReleaseAddress", release_address(pool_id, ip))


def connect(registry: Registry, name: str) -> RemoteIpam:
    """Find, activate and register plugin ``name`` as an IPAM driver (blocks)."""
    client = registry.get(name, IPAM_DRIVER)
    try:
        return RemoteIpam.register(name, client)
    except Exception:
        registry.forget(name)
        raise
