"""Network drivers (installed as ``libnetwork.drivers``).

``api`` holds the contract.  Built-in drivers register through the
``libnetwork.drivers`` entry-point group exactly as a third party's would.
"""
