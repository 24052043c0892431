"""Multi-host control plane: the Serf agent (membership, failure detection, gossip events) and its client."""
