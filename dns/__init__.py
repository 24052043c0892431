"""The embedded DNS resolver (installed as ``libnetwork.dns``); see the DNS issue."""
