"""``GET /info``: dockerd's system.Info, with what a networking daemon knows filled in.

``docker info`` and SDKs read it (docker-py's swarm helpers look at
``Swarm.LocalNodeState``); every field dockerd always sends is present, in
its order, so the Go client decodes it and the CLI prints its Server section.
"""

from __future__ import annotations

import os
import platform
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import __version__
from . import swarm

if TYPE_CHECKING:
    from ..controller import Controller


def _os_release() -> tuple[str, str]:
    """(PRETTY_NAME, VERSION_ID) of the host, as dockerd's operatingsystem package reads them."""
    fields: dict[str, str] = {}
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep:
                    fields[key] = value.strip('"')
    except OSError:
        pass
    return fields.get("PRETTY_NAME", "<unknown>"), fields.get("VERSION_ID", "")


def _mem_total() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def _forwarding() -> bool:
    # The daemon's own namespace: the forwarding its bridges rely on.
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as handle:
            return handle.read().strip() == "1"
    except OSError:
        return False


def info(ctl: Controller, listeners: int, swarm_section: dict[str, Any] | None = None,
         warnings: list[str] | None = None) -> dict[str, Any]:
    sandboxes = [s for s in ctl.sandboxes.values() if s.ready]
    pretty, version_id = _os_release()
    settings = ctl.settings
    return {
        "ID": "", "Containers": len(sandboxes), "ContainersRunning": len(sandboxes),
        "ContainersPaused": 0, "ContainersStopped": 0, "Images": 0,
        "Driver": "", "DriverStatus": [],
        "Plugins": {"Volume": [], "Network": sorted({n.driver for n in ctl.networks.values()}),
                    "Authorization": None, "Log": []},
        "MemoryLimit": False, "SwapLimit": False, "CpuCfsPeriod": False, "CpuCfsQuota": False,
        "CPUShares": False, "CPUSet": False, "PidsLimit": False,
        "IPv4Forwarding": _forwarding(), "BridgeNfIptables": False, "BridgeNfIp6tables": False,
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")), "OomKillDisable": False, "NGoroutines": 0,
        "SystemTime": datetime.now(UTC).astimezone().isoformat(),
        "LoggingDriver": "", "CgroupDriver": "", "NEventsListener": listeners,
        "KernelVersion": platform.release(), "OperatingSystem": pretty, "OSVersion": version_id,
        "OSType": "linux", "Architecture": platform.machine(), "IndexServerAddress": "",
        "RegistryConfig": None, "NCPU": os.cpu_count() or 0, "MemTotal": _mem_total(),
        "GenericResources": None, "DockerRootDir": settings.data_root,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": socket.gethostname(), "Labels": [],
        "ExperimentalBuild": False, "ServerVersion": __version__, "Runtimes": {}, "DefaultRuntime": "",
        "Swarm": swarm_section or dict(swarm.INACTIVE_INFO), "LiveRestoreEnabled": False, "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
        "SecurityOptions": [],
        **({"DefaultAddressPools": [{"Base": base, "Size": size} for base, size in settings.default_address_pools]}
           if settings.default_address_pools else {}),
        "CDISpecDirs": [], "Warnings": warnings or None,
    }
