"""The cluster of cnmd hosts, as Docker's swarm has it.

Join tokens, the cluster CA and node identities, and Serf (membership, failure
detection, gossip events).
"""
