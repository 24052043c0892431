"""dockerd's JSON configuration file (``--config-file``), merged with the flags.

As dockerd: a key the daemon does not know is an error, and so is a setting
given both as a flag and in the file.  On SIGHUP the file is read again;
what can change in a running daemon is applied, the rest is logged as
needing a restart.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("cnmd")


class ConfigError(ValueError):
    pass


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"expected a boolean, got {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"expected an integer, got {value!r}")


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ConfigError(f"expected a string, got {value!r}")


def _ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(_str(value)))
    except ValueError:
        raise ConfigError(f"invalid IP address {value!r}") from None


def _cidr(value: Any) -> str:
    try:
        return str(ipaddress.ip_network(_str(value), strict=False))
    except ValueError:
        raise ConfigError(f"invalid CIDR {value!r}") from None


def _bip(value: Any) -> str:
    try:
        interface = ipaddress.ip_interface(_str(value))
    except ValueError:
        raise ConfigError(f"invalid bip {value!r}") from None
    if interface.version != 4:
        raise ConfigError("bip must be IPv4")
    return str(interface)


def _pools(value: Any) -> list[tuple[str, int]]:
    if not isinstance(value, list):
        raise ConfigError("expected a list of {\"base\": CIDR, \"size\": N}")
    pools = []
    for item in value:
        if not isinstance(item, dict) or "base" not in item or "size" not in item:
            raise ConfigError(f"invalid default address pool {item!r}")
        pools.append((_cidr(item["base"]), _int(item["size"])))
    return pools


def address(value: Any) -> tuple[str, int]:
    """HOST:PORT, or [IPv6]:PORT, as dockerd's --metrics-addr."""
    host, sep, port = _str(value).rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"invalid address {value!r}: expected HOST:PORT, e.g. 127.0.0.1:9323")
    return host, int(port)


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError("expected a list of strings")
    return [_str(v) for v in value]


@dataclass(frozen=True)
class Key:
    dest: str                       # the argparse destination
    convert: Callable[[Any], Any]
    reloadable: bool = False


KEYS: dict[str, Key] = {
    "bip": Key("bip", _bip),
    "default-address-pools": Key("default_address_pool", _pools),
    "mtu": Key("mtu", _int),
    "icc": Key("icc", _bool),
    "ip-masq": Key("ip_masq", _bool),
    "iptables": Key("iptables", _bool),
    "ip": Key("ip", _ip),
    "fixed-cidr": Key("fixed_cidr", _cidr),
    "default-gateway": Key("default_gateway", _ip),
    "dns": Key("dns", _strings),
    "data-root": Key("data_root", _str),
    "exec-root": Key("exec_root", _str),
    "metrics-addr": Key("metrics_addr", address),
    "log-level": Key("log_level", _str, reloadable=True),
    "debug": Key("debug", _bool, reloadable=True),
}


def load(path: str) -> dict[str, Any]:
    """The file's settings, converted; errors in dockerd's words."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except OSError as err:
        raise ConfigError(f"unable to configure the daemon with file {path}: {err.strerror}") from None
    except ValueError as err:
        raise ConfigError(f"unable to configure the daemon with file {path}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"unable to configure the daemon with file {path}: not a JSON object")
    unknown = sorted(k for k in data if k not in KEYS)
    if unknown:
        raise ConfigError(f"the following directives don't match any configuration option: {', '.join(unknown)}")
    values = {}
    for key, raw in data.items():
        try:
            values[key] = KEYS[key].convert(raw)
        except ConfigError as err:
            raise ConfigError(f"invalid value for {key}: {err}") from None
    return values


def merge(args: argparse.Namespace, parser: argparse.ArgumentParser, values: dict[str, Any]) -> None:
    """Fill ``args`` from the file where no flag was given; a setting in both is an error."""
    conflicts = []
    for key, value in values.items():
        dest = KEYS[key].dest
        if key == "debug":
            if value:
                args.log_level = "debug"
            continue
        given = getattr(args, dest, None)
        if given not in (None, parser.get_default(dest)):
            conflicts.append(f"{key}: (from flag: {given}, from file: {value})")
            continue
        setattr(args, dest, value)
    if conflicts:
        raise ConfigError("the following directives are specified both as a flag and in the configuration file: "
                          + ", ".join(conflicts))


def reload(path: str, current: dict[str, Any]) -> dict[str, Any]:
    """Read the file again; apply what can change live, log the rest.  Answers the new values."""
    values = load(path)
    changed = sorted(k for k in set(values) | set(current) if values.get(k) != current.get(k))
    live = [k for k in changed if KEYS[k].reloadable]
    restart = [k for k in changed if not KEYS[k].reloadable]
    level = values.get("log-level") or ("debug" if values.get("debug") else None)
    if live and level:
        logging.getLogger().setLevel(level.upper())
    log.info("configuration reloaded", extra={"file": path, "applied": ",".join(live) or "-",
                                              "needs_restart": ",".join(restart) or "-"})
    for key in restart:
        log.warning("setting changed; it takes effect at the next start",
                    extra={"setting": key, "running": current.get(key), "file": values.get(key)})
    return values
