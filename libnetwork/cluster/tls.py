"""TLS contexts for the cluster port and etcd peers: mutual TLS under the cluster root CA.

How a node joins without trusting anything first (swarmkit's DownloadRootCA
then GetRemoteSignedCertificate, ``ca/config.go`` and ``ca/certificates.go``):

1. The joiner holds only the token.  It connects with
   :func:`bootstrap_client_context`, which verifies nothing, and asks for the
   root CA bundle.  Nothing secret crosses this connection: the token's secret
   is never sent on it, and the answer is public.
2. It checks the bundle against the token's digest
   (:func:`libnetwork.cluster.ca.pinned_root_ca`; a mismatch is Docker's
   "remote CA does not match fingerprint").  A man in the middle cannot serve
   another root without breaking SHA-256, so from here on the joiner trusts
   exactly that root.
3. It reconnects with :func:`join_client_context`, which verifies the server
   against that root and requires the name ``swarm-ca`` that only managers'
   certificates carry, and sends its token and certificate request on that
   connection.  The secret thus reaches only a node the cluster CA vouches
   for as a manager.
4. With the certificate it gets back, it uses :func:`client_context` and
   :func:`server_context` from then on: both sides present certificates from
   the root and each reads the other's node ID and role from it.

The cluster port serves steps 1 and 3 to nodes that have no certificate yet,
so it runs :func:`server_context` with ``require_client_cert=False``: a
certificate, when given, must still chain to the root (swarmkit's
VerifyClientCertIfGiven), and every call except "get the root CA" and "join
with a token" checks :func:`peer_identity` itself.  etcd's peer port and
everything else require a certificate in the handshake.

Python's ssl loads keys only from files, so credentials are handed to it
through an anonymous in-memory file: a node key never lands in a temporary
file on disk.
"""

from __future__ import annotations

import os
import ssl

from libnetwork.cluster.ca import CA_SERVER_NAME, MANAGER_SERVER_NAME, NodeIdentity, RootCA

__all__ = ["CA_SERVER_NAME", "MANAGER_SERVER_NAME", "bootstrap_client_context", "client_context",
           "join_client_context", "peer_identity", "server_context"]

# TLS 1.2 suites as swarmkit's strongTLSCiphers: forward secret AEAD only
# (TLS 1.3 suites are all of that kind and are not affected by this string)
_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def _harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(_TLS12_CIPHERS)
    return context


def _load_credentials(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    fd = os.memfd_create("cnm-node-credentials", os.MFD_CLOEXEC)
    try:
        with open(fd, "wb", closefd=False) as memory:
            memory.write(cert_pem.rstrip(b"\n") + b"\n" + key_pem)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def server_context(cert_pem: bytes, key_pem: bytes, ca_pem: bytes, *,
                   require_client_cert: bool = True) -> ssl.SSLContext:
    """A server presenting the node certificate; clients must show one from ``ca_pem`` (or may show none)."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    _load_credentials(context, cert_pem, key_pem)
    context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def client_context(cert_pem: bytes, key_pem: bytes, ca_pem: bytes, *,
                   check_hostname: bool = True) -> ssl.SSLContext:
    """A client presenting the node certificate and verifying the server against ``ca_pem``.

    With ``check_hostname`` the caller names whom it expects as
    ``server_hostname`` when wrapping: a node ID, or ``MANAGER_SERVER_NAME``
    for any manager (node certificates carry both as SANs).  Without it any
    node of the cluster is accepted, for peers known only by address (etcd).
    """
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    _load_credentials(context, cert_pem, key_pem)
    context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def join_client_context(ca_pem: bytes) -> ssl.SSLContext:
    """Step 3 of the join: no certificate of our own, the server verified against the pinned root.

    Wrap with ``server_hostname=CA_SERVER_NAME``.
    """
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def bootstrap_client_context() -> ssl.SSLContext:
    """Step 1 of the join: encrypted but unverified, fit only to fetch the root CA that the token then checks."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def peer_identity(root: RootCA, connection: ssl.SSLSocket | ssl.SSLObject) -> NodeIdentity | None:
    """Who the peer of a finished handshake is, or None if it showed no certificate.

    The handshake already checked the chain; this reads the node from it
    (and checks again, so a context built from another root cannot slip by).
    """
    der = connection.getpeercert(binary_form=True)
    if not der:
        return None
    return root.identify(der)
