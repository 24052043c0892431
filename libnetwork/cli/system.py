"""``cnm version`` and ``cnm --version``."""

from __future__ import annotations

import os
import sys

from .client import ConnectError, DaemonError
from .errors import ClientError, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .flags import Opts
    from .main import Context

API_VERSION = "1.45"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def client_version() -> str:
    """The package version (the parent package is imported already, so this is free)."""
    try:
        from libnetwork import __version__
    except ImportError:
        return "unknown"
    return __version__


def version_line() -> str:
    return f"cnm version {client_version()}, API {API_VERSION}\n"


def _client_info() -> dict[str, str]:
    machine = os.uname().machine
    return {
        "Version": client_version(),
        "ApiVersion": API_VERSION,
        "PythonVersion": ".".join(str(n) for n in sys.version_info[:3]),
        "Os": sys.platform if sys.platform != "linux" else "linux",
        "Arch": _ARCH.get(machine, machine),
    }


def _version_text(client: dict[str, str], server: dict[str, Any] | None) -> str:
    lines = ["Client:",
             f" Version:           {client['Version']}",
             f" API version:       {client['ApiVersion']}",
             f" Python version:    {client['PythonVersion']}",
             f" OS/Arch:           {client['Os']}/{client['Arch']}"]
    if server is not None:
        api = server.get("ApiVersion", "")
        if server.get("MinAPIVersion"):
            api += f" (minimum version {server['MinAPIVersion']})"
        lines += ["", "Server:", " Engine:",
                  f"  Version:          {server.get('Version', '')}",
                  f"  API version:      {api}"]
        for label, key in (("Git commit:", "GitCommit"), ("Built:", "BuildTime"),
                           ("Kernel version:", "KernelVersion")):
            if server.get(key):
                lines.append(f"  {label:<17} {server[key]}")
        lines.append(f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}")
        lines.append("  Experimental:     %s" % ("true" if server.get("Experimental") else "false"))
    return "\n".join(lines) + "\n"


def run_version(ctx: Context, opts: Opts, args: list[str], changed: set[str]) -> int:
    from ..gotemplate import TemplateError, parse

    client = _client_info()
    server = None
    failure = None
    try:
        server = ctx.client.get("/version").json()
    except (DaemonError, ConnectError) as err:
        failure = err
    if opts["format"]:
        try:
            text = parse(opts["format"]).execute({"Client": client, "Server": server})
        except TemplateError as err:
            raise ClientError(f"template parsing error: {err}") from None
        ctx.write(text + "\n")
    else:
        ctx.write(_version_text(client, server))
    if failure is not None:
        raise StatusError(1, str(failure))
    return 0
