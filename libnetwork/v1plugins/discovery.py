"""Where a v1 plugin is found: ``NAME.sock``, ``NAME.spec`` or ``NAME.json`` in a plugin directory.

Docker (moby ``pkg/plugins/discovery.go``) looks for a unix socket first,
then for spec files, each as ``DIR/NAME.EXT`` or ``DIR/NAME/NAME.EXT``; the
first hit wins.  Docker keeps sockets under /run/docker/plugins and spec
files under /etc/docker/plugins and /usr/lib/docker/plugins; here every
configured directory may hold any of the three, which serves the default
layout unchanged and lets one directory serve a test or a lab.

* ``.sock``: the plugin listens on that unix socket.
* ``.spec``: one URL, ``unix:///path.sock``, ``tcp://host:port`` or
  ``https://host:port``.
* ``.json``: ``{"Name": ..., "Addr": URL, "TLSConfig": {"CAFile", "CertFile",
  "KeyFile", "InsecureSkipVerify"}}``.  As in Docker, TLS is used when the
  address is ``https://``, and a TLSConfig without a CAFile does not verify
  the server.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_DIRS = ("/run/docker/plugins", "/etc/docker/plugins", "/usr/lib/docker/plugins")
SCHEMES = ("unix", "tcp", "http", "https")


class BadSpec(ValueError):
    """A spec file that cannot be used (the plugin's installer wrote it wrong)."""


@dataclass(frozen=True)
class TLSConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class PluginSpec:
    name: str
    addr: str                      # a URL: unix:///..., tcp://..., https://...
    tls: TLSConfig | None = None
    source: str = ""               # the file it was read from


def _candidates(directory: str, name: str, ext: str) -> tuple[str, str]:
    return os.path.join(directory, name + ext), os.path.join(directory, name, name + ext)


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def valid_name(name: str) -> bool:
    # The name comes from the user (network create -d NAME) and becomes a path.
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")


def locate(name: str, dirs: tuple[str, ...] | list[str]) -> PluginSpec | None:
    """The plugin's spec, or None when no directory has one by that name."""
    if not valid_name(name):
        return None
    for directory in dirs:
        for path in _candidates(directory, name, ".sock"):
            if _is_socket(path):
                return PluginSpec(name, "unix://" + path, TLSConfig(insecure_skip_verify=True), path)
    for directory in dirs:
        for ext in (".spec", ".json"):
            for path in _candidates(directory, name, ext):
                if os.path.isfile(path):
                    return read_json_spec(name, path) if ext == ".json" else read_url_spec(name, path)
    return None


def read_url_spec(name: str, path: str) -> PluginSpec:
    try:
        with open(path) as handle:
            addr = handle.read().strip()
    except OSError as err:
        raise BadSpec(f"plugin spec {path}: {err.strerror}") from None
    check_addr(addr, path)
    return PluginSpec(name, addr, TLSConfig(insecure_skip_verify=True), path)


def read_json_spec(name: str, path: str) -> PluginSpec:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except ValueError as err:
        raise BadSpec(f"plugin spec {path}: invalid JSON: {err}") from None
    except OSError as err:
        raise BadSpec(f"plugin spec {path}: {err.strerror}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Addr"), str):
        raise BadSpec(f"plugin spec {path}: expected an object with a string Addr")
    check_addr(data["Addr"], path)
    tls = None
    raw = data.get("TLSConfig")
    if isinstance(raw, dict):
        tls = TLSConfig(
            ca_file=str(raw.get("CAFile") or ""), cert_file=str(raw.get("CertFile") or ""),
            key_file=str(raw.get("KeyFile") or ""),
            # Docker: a TLS config that names no CA cannot verify anything.
            insecure_skip_verify=bool(raw.get("InsecureSkipVerify")) or not raw.get("CAFile"),
        )
    return PluginSpec(name, data["Addr"], tls, path)


def check_addr(addr: str, path: str) -> None:
    scheme = urlsplit(addr).scheme
    if not scheme:
        raise BadSpec(f"plugin spec {path}: Unknown protocol in {addr!r}")
    if scheme not in SCHEMES:
        raise BadSpec(f"plugin spec {path}: unsupported protocol {scheme!r} (one of {', '.join(SCHEMES)})")
