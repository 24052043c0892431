"""The cluster of cnmd hosts: join tokens, the cluster CA and node identities, as Docker's swarm has them."""
