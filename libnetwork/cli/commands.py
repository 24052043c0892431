"""The command tree: names, flags and help text of every ``cnm`` command.

Kept apart from the code that runs the commands so that ``--help`` and
parsing need no imports beyond flags.py, and so tests can parse arguments
without a daemon.  Flag names, shorthands and defaults are docker's.
"""

from __future__ import annotations

from .flags import Command, Flag
from .validators import (
    node_addr,
    validate_cidr_list,
    validate_dns_search,
    validate_duration,
    validate_extra_host,
    validate_filter,
    validate_ip_address,
    validate_label,
    validate_link,
)

MANAGEMENT = "Management Commands"


def _format_flag(short: str | None = None, help_text: str = "Format output using a custom template") -> Flag:
    return Flag("format", short, "string", help=help_text)


def network_commands() -> Command:
    return Command(
        "network", "network COMMAND", "Manage networks", group=MANAGEMENT, subcommands=[
            Command("connect", "connect [OPTIONS] NETWORK SANDBOX", "Connect a sandbox to a network",
                    nargs=(2, 2), run="network:run_connect", flags=[
                        Flag("ip", kind="string", help='IPv4 address (e.g., "172.30.100.104")'),
                        Flag("ip6", kind="string", help='IPv6 address (e.g., "2001:db8::33")'),
                        Flag("link", kind="list", validator=validate_link,
                             help="Add link to another sandbox"),
                        Flag("alias", kind="slice", help="Add network-scoped alias for the sandbox"),
                        Flag("link-local-ip", kind="slice",
                             help="Add a link-local address for the sandbox"),
                        Flag("driver-opt", kind="slice", help="driver options for the network"),
                        Flag("gw-priority", kind="int",
                             help="Highest gw-priority provides the default gateway. "
                                  "Accepts positive and negative values."),
                    ]),
            Command("create", "create [OPTIONS] NETWORK", "Create a network",
                    nargs=(1, 1), run="network:run_create", flags=[
                        Flag("attachable", help="Enable manual sandbox attachment"),
                        Flag("aux-address", kind="map",
                             help="Auxiliary IPv4 or IPv6 addresses used by Network driver"),
                        Flag("config-from", kind="string",
                             help="The network from which to copy the configuration"),
                        Flag("config-only", help="Create a configuration only network"),
                        Flag("driver", "d", "string", default="bridge",
                             help="Driver to manage the Network"),
                        Flag("gateway", kind="slice",
                             help="IPv4 or IPv6 Gateway for the master subnet"),
                        Flag("ingress", help="Create swarm routing-mesh network"),
                        Flag("internal", help="Restrict external access to the network"),
                        Flag("ip-range", kind="slice", help="Allocate sandbox ip from a sub-range"),
                        Flag("ipam-driver", kind="string", default="default",
                             help="IP Address Management Driver"),
                        Flag("ipam-opt", kind="map", help="Set IPAM driver specific options"),
                        Flag("ipv4", default=True, help="Enable or disable IPv4 address assignment"),
                        Flag("ipv6", help="Enable or disable IPv6 address assignment"),
                        Flag("label", kind="list", validator=validate_label,
                             help="Set metadata on a network"),
                        Flag("opt", "o", "map", help="Set driver specific options"),
                        Flag("scope", kind="string", help="Control the network's scope"),
                        Flag("subnet", kind="slice",
                             help="Subnet in CIDR format that represents a network segment"),
                    ]),
            Command("disconnect", "disconnect [OPTIONS] NETWORK SANDBOX",
                    "Disconnect a sandbox from a network",
                    nargs=(2, 2), run="network:run_disconnect", flags=[
                        Flag("force", "f", help="Force the sandbox to disconnect from a network"),
                    ]),
            Command("inspect", "inspect [OPTIONS] NETWORK [NETWORK...]",
                    "Display detailed information on one or more networks",
                    nargs=(1, None), run="network:run_inspect", flags=[
                        _format_flag("f", "Format output using a custom template:\n"
                                     "'json':             Print in JSON format\n"
                                     "'TEMPLATE':         Print output using the given Go template"),
                        Flag("verbose", "v", help="Verbose output for diagnostics"),
                    ]),
            Command("ls", "ls [OPTIONS]", "List networks", aliases=("list",),
                    run="network:run_ls", flags=[
                        Flag("filter", "f", "filter", validator=validate_filter,
                             help='Provide filter values (e.g. "driver=bridge")'),
                        _format_flag(),
                        Flag("no-trunc", help="Do not truncate the output"),
                        Flag("quiet", "q", help="Only display network IDs"),
                    ]),
            Command("prune", "prune [OPTIONS]", "Remove all unused networks",
                    run="network:run_prune", flags=[
                        Flag("filter", kind="filter", validator=validate_filter,
                             help='Provide filter values (e.g. "until=<timestamp>")'),
                        Flag("force", "f", help="Do not prompt for confirmation"),
                    ]),
            Command("rm", "rm NETWORK [NETWORK...]", "Remove one or more networks",
                    aliases=("remove",), nargs=(1, None), run="network:run_rm", flags=[
                        Flag("force", "f", help="Do not error if the network does not exist"),
                    ]),
        ])


_ADVERTISE_HELP = 'Advertised address (format: "<ip|interface>[:port]")'
_AVAILABILITY_HELP = 'Availability of the node ("active", "pause", "drain")'
_DATA_PATH_ADDR_HELP = 'Address or interface to use for data path traffic (format: "<ip|interface>")'
_LISTEN_HELP = 'Listen address (format: "<ip|interface>[:port]")'


def _swarm_spec_flags() -> list[Flag]:
    """addSwarmFlags (without --external-ca): the cluster settings init takes."""
    return [
        Flag("autolock", help="Enable manager autolocking (requiring an unlock key to start a stopped manager)"),
        Flag("cert-expiry", kind="string", default="2160h0m0s", metavar="duration", validator=validate_duration,
             help="Validity period for node certificates (ns|us|ms|s|m|h)"),
        Flag("dispatcher-heartbeat", kind="string", default="5s", metavar="duration", validator=validate_duration,
             help="Dispatcher heartbeat period (ns|us|ms|s|m|h)"),
        Flag("max-snapshots", kind="uint64", help="Number of additional Raft snapshots to retain"),
        Flag("snapshot-interval", kind="uint64", default=10000, help="Number of log entries between Raft snapshots"),
        Flag("task-history-limit", kind="int", default=5, help="Task history retention limit"),
    ]


def swarm_commands() -> Command:
    return Command(
        "swarm", "swarm COMMAND", "Manage Swarm", group=MANAGEMENT, subcommands=[
            Command("init", "init [OPTIONS]", "Initialize a swarm", run="swarm:run_init", flags=sorted([
                Flag("advertise-addr", kind="string", help=_ADVERTISE_HELP),
                Flag("availability", kind="string", default="active", help=_AVAILABILITY_HELP),
                Flag("data-path-addr", kind="string", help=_DATA_PATH_ADDR_HELP),
                Flag("data-path-port", kind="uint32",
                     help="Port number to use for data path traffic (1024 - 49151). If no value is set or is "
                          "set to 0, the default port (4789) is used."),
                Flag("default-addr-pool", kind="slice", metavar="ipNetSlice", validator=validate_cidr_list,
                     help="default address pool in CIDR format"),
                Flag("default-addr-pool-mask-length", kind="uint32", default=24,
                     help="default address pool subnet mask length"),
                Flag("force-new-cluster", help="Force create a new cluster from current state"),
                Flag("listen-addr", kind="string", default="0.0.0.0:2377", metavar="node-addr",
                     validator=node_addr, help=_LISTEN_HELP),
                *_swarm_spec_flags(),
            ], key=lambda f: f.long)),
            Command("inspect", "inspect [OPTIONS]", "Display detailed information on the swarm",
                    run="swarm:run_inspect", hidden=True, flags=[
                        _format_flag("f", "Format output using a custom template:\n"
                                     "'json':             Print in JSON format\n"
                                     "'TEMPLATE':         Print output using the given Go template"),
                    ]),
            Command("join", "join [OPTIONS] HOST:PORT", "Join a swarm as a node and/or manager",
                    nargs=(1, 1), run="swarm:run_join", flags=[
                        Flag("advertise-addr", kind="string", help=_ADVERTISE_HELP),
                        Flag("availability", kind="string", default="active", help=_AVAILABILITY_HELP),
                        Flag("data-path-addr", kind="string", help=_DATA_PATH_ADDR_HELP),
                        Flag("listen-addr", kind="string", default="0.0.0.0:2377", metavar="node-addr",
                             validator=node_addr, help=_LISTEN_HELP),
                        Flag("token", kind="string", help="Token for entry into the swarm"),
                    ]),
            Command("join-token", "join-token [OPTIONS] (worker|manager)", "Manage join tokens",
                    nargs=(1, 1), run="swarm:run_join_token", flags=[
                        Flag("quiet", "q", help="Only display token"),
                        Flag("rotate", help="Rotate join token"),
                    ]),
            Command("leave", "leave [OPTIONS]", "Leave the swarm", run="swarm:run_leave", flags=[
                Flag("force", "f", help="Force this node to leave the swarm, ignoring warnings"),
            ]),
            Command("rotate-gossip-key", "rotate-gossip-key", "Rotate the cluster's gossip encryption key now",
                    run="swarm:run_rotate_gossip_key"),
        ])


def node_commands() -> Command:
    return Command(
        "node", "node COMMAND", "Manage Swarm nodes", group=MANAGEMENT, subcommands=[
            Command("demote", "demote NODE [NODE...]", "Demote one or more nodes from manager in the swarm",
                    nargs=(1, None), run="node:run_demote"),
            Command("inspect", "inspect [OPTIONS] self|NODE [NODE...]",
                    "Display detailed information on one or more nodes",
                    nargs=(1, None), run="node:run_inspect", flags=[
                        _format_flag("f", "Format output using a custom template:\n"
                                     "'json':             Print in JSON format\n"
                                     "'TEMPLATE':         Print output using the given Go template"),
                        Flag("pretty", help="Print the information in a human friendly format"),
                    ]),
            Command("ls", "ls [OPTIONS]", "List nodes in the swarm", aliases=("list",),
                    run="node:run_ls", flags=[
                        Flag("filter", "f", "filter", validator=validate_filter,
                             help="Filter output based on conditions provided"),
                        _format_flag(),
                        Flag("quiet", "q", help="Only display IDs"),
                    ]),
            Command("promote", "promote NODE [NODE...]", "Promote one or more nodes to manager in the swarm",
                    nargs=(1, None), run="node:run_promote"),
            Command("rm", "rm [OPTIONS] NODE [NODE...]", "Remove one or more nodes from the swarm",
                    aliases=("remove",), nargs=(1, None), run="node:run_rm", flags=[
                        Flag("force", "f", help="Force remove a node from the swarm"),
                    ]),
            Command("update", "update [OPTIONS] NODE", "Update a node", nargs=(1, 1), run="node:run_update",
                    flags=[
                        Flag("availability", kind="string", help=_AVAILABILITY_HELP),
                        Flag("label-add", kind="list", help='Add or update a node label ("key=value")'),
                        Flag("label-rm", kind="list", help="Remove a node label if exists"),
                        Flag("role", kind="string", help='Role of the node ("worker", "manager")'),
                    ]),
        ])


def service_commands() -> Command:
    from .service import validate_publish

    return Command(
        "service", "service COMMAND", "Manage Swarm services", group=MANAGEMENT, subcommands=[
            Command("create", "create [OPTIONS] [--] [COMMAND] [ARG...]", "Create a new service",
                    nargs=(0, None), interspersed=False, run="service:run_create", flags=[
                        Flag("container-label", kind="list", validator=validate_label, help="Container labels"),
                        Flag("detach", "d", help="Exit immediately instead of waiting for the service to converge"),
                        Flag("endpoint-mode", kind="string", default="vip", help="Endpoint mode (vip or dnsrr)"),
                        Flag("env", "e", "list", help="Set environment variables"),
                        Flag("hostname", kind="string", help="Container hostname"),
                        Flag("image", kind="string", default="cnm-task", help="Image of the tasks"),
                        Flag("label", "l", "list", validator=validate_label, help="Service labels"),
                        Flag("mode", kind="string", default="replicated",
                             help='Service mode ("replicated" or "global")'),
                        Flag("name", kind="string", help="Service name"),
                        Flag("network", kind="list", help="Network attachments"),
                        Flag("publish", "p", "list", validator=validate_publish,
                             help="Publish a port as a node port"),
                        Flag("quiet", "q", help="Suppress progress output"),
                        Flag("replicas", kind="uint64", help="Number of tasks"),
                    ]),
            Command("inspect", "inspect [OPTIONS] SERVICE [SERVICE...]",
                    "Display detailed information on one or more services",
                    nargs=(1, None), run="service:run_inspect", flags=[
                        _format_flag("f", "Format output using a custom template:\n"
                                     "'json':             Print in JSON format\n"
                                     "'TEMPLATE':         Print output using the given Go template"),
                        Flag("pretty", help="Print the information in a human friendly format"),
                    ]),
            Command("ls", "ls [OPTIONS]", "List services", aliases=("list",), run="service:run_ls", flags=[
                Flag("filter", "f", "filter", validator=validate_filter,
                     help="Filter output based on conditions provided"),
                _format_flag(),
                Flag("quiet", "q", help="Only display IDs"),
            ]),
            Command("ps", "ps [OPTIONS] SERVICE [SERVICE...]", "List the tasks of one or more services",
                    nargs=(1, None), run="service:run_ps", flags=[
                        Flag("filter", "f", "filter", validator=validate_filter,
                             help="Filter output based on conditions provided"),
                        _format_flag(),
                        Flag("no-resolve", help="Do not map IDs to Names"),
                        Flag("no-trunc", help="Do not truncate output"),
                        Flag("quiet", "q", help="Only display task IDs"),
                    ]),
            Command("rm", "rm SERVICE [SERVICE...]", "Remove one or more services", aliases=("remove",),
                    nargs=(1, None), run="service:run_rm"),
            Command("scale", "scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
                    "Scale one or multiple replicated services", nargs=(1, None), run="service:run_scale", flags=[
                        Flag("detach", "d", help="Exit immediately instead of waiting for the service to converge"),
                    ]),
            Command("update", "update [OPTIONS] SERVICE", "Update a service", nargs=(1, 1),
                    run="service:run_update", flags=[
                        Flag("detach", "d", help="Exit immediately instead of waiting for the service to converge"),
                        Flag("env-add", kind="list", help="Add or update an environment variable"),
                        Flag("force", help="Force update even if no changes require it"),
                        Flag("image", kind="string", help="Service image tag"),
                        Flag("publish-add", kind="list", validator=validate_publish,
                             help="Add or update a published port"),
                        Flag("quiet", "q", help="Suppress progress output"),
                        Flag("replicas", kind="uint64", help="Number of tasks"),
                    ]),
        ])


def sandbox_commands() -> Command:
    return Command(
        "sandbox", "sandbox COMMAND", "Manage sandboxes", group=MANAGEMENT, subcommands=[
            Command("create", "create [OPTIONS]", "Create a sandbox (a network namespace)",
                    nargs=(0, 0), run="sandbox:run_create", flags=[
                        Flag("alias", kind="list", help="Add network-scoped alias for the sandbox"),
                        Flag("network-alias", kind="list", hidden=True,
                             help="Add network-scoped alias for the sandbox"),
                        Flag("expose", kind="list", help="Expose a port or a range of ports"),
                        Flag("hostname", "h", "string", help="Sandbox host name"),
                        Flag("ip", kind="string", help='IPv4 address (e.g., "172.30.100.104")'),
                        Flag("ip6", kind="string", help='IPv6 address (e.g., "2001:db8::33")'),
                        Flag("mac-address", kind="string",
                             help='MAC address (e.g., "92:d0:c6:0a:29:33")'),
                        Flag("name", kind="string", help="Assign a name to the sandbox"),
                        Flag("netns", kind="string",
                             help="Adopt an existing network namespace (path) instead of creating one"),
                        Flag("network", kind="list",
                             help="Connect the sandbox to a network (repeatable; first one "
                                  "gets --ip/--ip6/--alias/--mac-address)"),
                        Flag("net", kind="list", dest="network", hidden=True),
                        Flag("publish", "p", "list", help="Publish a sandbox's port(s) to the host"),
                        Flag("publish-all", "P", help="Publish all exposed ports to random ports"),
                        Flag("dns", kind="list", validator=validate_ip_address, help="Set custom DNS servers"),
                        Flag("dns-search", kind="list", validator=validate_dns_search,
                             help="Set custom DNS search domains"),
                        Flag("dns-option", kind="list", help="Set DNS options"),
                        Flag("add-host", kind="list", validator=validate_extra_host,
                             help="Add a custom host-to-IP mapping (host:ip)"),
                        Flag("link", kind="list", validator=validate_link,
                             help="Add link to another sandbox"),
                    ]),
            Command("inspect", "inspect [OPTIONS] SANDBOX [SANDBOX...]",
                    "Display detailed information on one or more sandboxes",
                    nargs=(1, None), run="sandbox:run_inspect", flags=[
                        _format_flag("f", "Format output using a custom template:\n"
                                     "'json':             Print in JSON format\n"
                                     "'TEMPLATE':         Print output using the given Go template"),
                    ]),
            Command("ls", "ls [OPTIONS]", "List sandboxes", aliases=("list", "ps"),
                    run="sandbox:run_ls", flags=[
                        Flag("filter", "f", "filter", validator=validate_filter,
                             help='Filter output based on conditions provided (name, id, network)'),
                        _format_flag(),
                        Flag("no-trunc", help="Don't truncate output"),
                        Flag("quiet", "q", help="Only display sandbox IDs"),
                    ]),
            Command("rm", "rm [OPTIONS] SANDBOX [SANDBOX...]", "Remove one or more sandboxes",
                    aliases=("remove",), nargs=(1, None), run="sandbox:run_rm", flags=[
                        Flag("force", "f", help="Force the removal of a sandbox still connected to networks"),
                    ]),
        ])


def root_command() -> Command:
    root = Command(
        "cnm", "cnm [OPTIONS] COMMAND", "Command-line client for cnmd, the CNM networking daemon",
        flags=[
            Flag("host", "H", "string",
                 help="Daemon socket to connect to (default $CNM_HOST or unix:///run/cnm/cnm.sock)"),
            Flag("version", "v", help="Print version information and quit"),
        ],
        interspersed=False,
        subcommands=[
            Command("exec", "exec [OPTIONS] SANDBOX COMMAND [ARG...]",
                    "Execute a command inside a sandbox's network namespace",
                    long="Execute a command inside a sandbox's network namespace, with the "
                         "sandbox's /etc/resolv.conf,\n/etc/hosts, /etc/hostname, hostname and "
                         "/sys/class/net.  A '--' before COMMAND is allowed.",
                    nargs=(2, None), interspersed=False, run="sandbox:run_exec", flags=[
                        Flag("env", "e", "list", help="Set environment variables"),
                        Flag("interactive", "i", help="Keep STDIN open (always the case)"),
                        Flag("tty", "t", help="Accepted for docker compatibility; the terminal is inherited"),
                        Flag("user", "u", "string",
                             help='Username or UID (format: "<name|uid>[:<group|gid>]")'),
                        Flag("workdir", "w", "string", help="Working directory for the command"),
                    ]),
            Command("port", "port SANDBOX [PRIVATE_PORT[/PROTO]]",
                    "List port mappings or a specific mapping for the sandbox",
                    nargs=(1, 2), run="sandbox:run_port"),
            Command("version", "version [OPTIONS]", "Show the cnm version information",
                    run="system:run_version", flags=[_format_flag("f")]),
        ])
    root.add(network_commands())
    root.add(node_commands())
    root.add(sandbox_commands())
    root.add(service_commands())
    root.add(swarm_commands())
    return root
