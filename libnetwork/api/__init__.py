"""The Docker Engine API surface of the daemon (network routes, sandboxes, containers)."""
