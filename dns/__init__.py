"""The embedded DNS resolver (installed as ``libnetwork.dns``).

Every sandbox on a user-defined network gets a resolver at 127.0.0.11:53,
served from the daemon process.  One module per concern:

  api.py         what the controller hands over (frozen values) and constants
  zone.py        precomputed answers per network, patched per change, merged per group
  answer.py      query bytes -> response bytes, FORWARD, or drop (pure)
  udp.py         the UDP serving thread: one epoll loop over every sandbox
  tcp.py         DNS over TCP on the event loop
  forward.py     upstream forwarding from the sandbox's namespace
  sockets.py     sockets made inside a namespace by a short child process
  resolvconf.py  the sandbox's resolv.conf and its upstream servers
  server.py      the Resolver the controller drives (attach, detach, update, forget)
"""
