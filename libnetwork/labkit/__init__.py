"""Building blocks for multi-host labs and tests: a routed underlay of host
namespaces and the reaping of processes left in them.

Kept in the package (not in labs/) so tests, labs and plugin authors import
them the same way, without sys.path tricks; the pytest fixtures that start a
daemon on each host are in :mod:`libnetwork.testing`.
"""
