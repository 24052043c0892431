"""``cnm``: the command-line client of cnmd.

Mirrors the docker CLI's network, swarm and node commands (flags, request
bodies, output formats, exit statuses) and adds sandbox commands in the
shape of docker's container commands.  It starts often (every test and lab step), so it imports
only the standard library, and each module only when its command runs:

- main.py      entry point, dispatch, exit statuses
- commands.py  the command tree: names, flags, help
- flags.py     pflag-style argument parsing and docker-style help
- client.py    HTTP/1.1 to the daemon (libnetwork.unixhttp, loaded by the first request)
- bodies.py    request bodies from flags (pure)
- ports.py     -p/--publish and --expose parsing (pure)
- validators.py  checks run while flags are parsed
- errors.py    exceptions that carry an exit status
- gotypes.py   docker's typed view of inspect output for templates
- tables.py    table alignment (Go tabwriter), natural sort, list formats
- views.py     what ls/inspect/port print (pure)
- nodeviews.py what node ls / node inspect --pretty print (pure)
- network.py, sandbox.py, swarm.py, node.py, system.py  the commands
- nsexec.py    entering a sandbox's namespaces for ``cnm exec`` (ctypes)

``--format`` templates run on libnetwork.gotemplate, a package of its own.
The modules are typed, but import ``typing`` only for the type checker
(``TYPE_CHECKING = False``, which mypy reads as true): it would cost every
command a few milliseconds of startup.
"""
