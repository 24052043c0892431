"""IPAM drivers (installed as ``libnetwork.ipam``).

``api`` holds the contract; ``default`` is Docker's default allocator.
"""
