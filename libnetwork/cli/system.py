"""``cnm version`` and ``cnm --version``."""

import os
import sys

from .client import ConnectError, DaemonError
from .errors import ClientError, StatusError

API_VERSION = "1.45"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def client_version():
    """The package version (the parent package is imported already, so this is free)."""
    try:
        from libnetwork import __version__
    except ImportError:
        return "unknown"
    return __version__


def version_line():
    return "cnm version %s, API %s\n" % (client_version(), API_VERSION)


def _client_info():
    machine = os.uname().machine
    return {
        "Version": client_version(),
        "ApiVersion": API_VERSION,
        "PythonVersion": "%d.%d.%d" % sys.version_info[:3],
        "Os": sys.platform if sys.platform != "linux" else "linux",
        "Arch": _ARCH.get(machine, machine),
    }


def _version_text(client, server):
    lines = ["Client:",
             " Version:           %s" % client["Version"],
             " API version:       %s" % client["ApiVersion"],
             " Python version:    %s" % client["PythonVersion"],
             " OS/Arch:           %s/%s" % (client["Os"], client["Arch"])]
    if server is not None:
        api = server.get("ApiVersion", "")
        if server.get("MinAPIVersion"):
            api += " (minimum version %s)" % server["MinAPIVersion"]
        lines += ["", "Server:", " Engine:",
                  "  Version:          %s" % server.get("Version", ""),
                  "  API version:      %s" % api]
        for label, key in (("Git commit:", "GitCommit"), ("Built:", "BuildTime"),
                           ("Kernel version:", "KernelVersion")):
            if server.get(key):
                lines.append("  %-17s %s" % (label, server[key]))
        lines.append("  OS/Arch:          %s/%s" % (server.get("Os", ""), server.get("Arch", "")))
        lines.append("  Experimental:     %s" % ("true" if server.get("Experimental") else "false"))
    return "\n".join(lines) + "\n"


def run_version(ctx, opts, args, changed):
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
            raise ClientError("template parsing error: %s" % err) from None
        ctx.write(text + "\n")
    else:
        ctx.write(_version_text(client, server))
    if failure is not None:
        raise StatusError(1, str(failure))
    return 0
