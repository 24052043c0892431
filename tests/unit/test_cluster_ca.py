"""The cluster CA: root and node certificates as swarmkit makes them, and real mutual-TLS handshakes."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from libnetwork.cluster import ca, tls, tokens
from libnetwork.cluster.ca import NodeIdentity, RootCA
from libnetwork.cluster.ids import Role, new_cluster_id, new_node_id
from libnetwork.errors import CAFingerprintMismatch, InvalidParameter, UntrustedCertificate

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Node:
    identity: NodeIdentity
    cert_pem: bytes
    key_pem: bytes


def enrol(root: RootCA, role: Role = Role.WORKER, cluster_id: str = "c" * 25,
          advertise_ip: str | None = None) -> Node:
    request = ca.make_node_key_request()
    node_id = new_node_id()
    cert = root.issue_node_certificate(request.csr_pem, node_id, role, cluster_id, advertise_ip=advertise_ip)
    return Node(NodeIdentity(node_id, role, cluster_id), cert, request.key_pem)


@pytest.fixture(scope="module")
def root() -> RootCA:
    return RootCA.create()


@pytest.fixture(scope="module")
def other_root() -> RootCA:
    return RootCA.create()


def parse(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_root_is_swarmkits(root: RootCA) -> None:
    made = RootCA.create(now=NOW)
    cert = parse(made.cert_pem)
    assert cert.subject.rfc4514_string() == "CN=swarm-ca"
    assert cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc == NOW + timedelta(seconds=630_720_000)
    assert cert.not_valid_before_utc == NOW - timedelta(hours=1)
    assert made.can_sign and made.digest == tokens.ca_digest(made.cert_pem)


def test_node_certificate_is_swarmkits(root: RootCA) -> None:
    request = ca.make_node_key_request()
    pem = root.issue_node_certificate(request.csr_pem, "n" * 25, Role.MANAGER, "c" * 25,
                                      advertise_ip="192.0.2.7", now=NOW)
    cert = parse(pem)
    assert cert.subject.rfc4514_string() == f"CN={'n' * 25},OU=swarm-manager,O={'c' * 25}"
    assert cert.not_valid_after_utc == NOW + timedelta(days=90)
    assert cert.not_valid_before_utc == NOW - timedelta(hours=1)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["swarm-manager", "n" * 25, "swarm-ca"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usage) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_workers_are_not_named_ca(root: RootCA) -> None:
    worker = enrol(root, Role.WORKER)
    san = parse(worker.cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["swarm-worker", worker.identity.node_id]


def test_identity_reads_back_and_chains(root: RootCA) -> None:
    cluster = new_cluster_id()
    for role in Role:
        node = enrol(root, role, cluster)
        assert root.identify(node.cert_pem) == node.identity
        der = parse(node.cert_pem).public_bytes(serialization.Encoding.DER)
        assert root.identify(der) == node.identity


def test_the_request_only_lends_its_key(root: RootCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pretending = (x509.CertificateSigningRequestBuilder()
                  .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "swarm-manager")]))
                  .sign(key, hashes.SHA256()))
    pem = root.issue_node_certificate(pretending.public_bytes(serialization.Encoding.PEM), "w" * 25,
                                      Role.WORKER, "c" * 25)
    assert root.identify(pem).role is Role.WORKER
    assert root.issue_node_certificate(key.public_key(), "w" * 25, Role.WORKER, "c" * 25)


def test_weak_or_foreign_keys_are_refused(root: RootCA) -> None:
    with pytest.raises(InvalidParameter, match="unsupported ECDSA key parameters"):
        root.issue_node_certificate(ec.generate_private_key(ec.SECP256K1()).public_key(), "w" * 25,
                                    Role.WORKER, "c" * 25)
    with pytest.raises(InvalidParameter, match="unsupported RSA key parameters"):
        root.issue_node_certificate(rsa.generate_private_key(65537, 1024).public_key(), "w" * 25,
                                    Role.WORKER, "c" * 25)
    with pytest.raises(InvalidParameter, match="invalid certificate request"):
        root.issue_node_certificate(b"not a request", "w" * 25, Role.WORKER, "c" * 25)


def test_a_certificate_from_another_ca_is_refused(root: RootCA, other_root: RootCA) -> None:
    stranger = enrol(other_root)
    with pytest.raises(UntrustedCertificate, match="x509: certificate signed by unknown authority"):
        root.identify(stranger.cert_pem)


def test_expired_and_future_certificates_are_refused(root: RootCA) -> None:
    request = ca.make_node_key_request()
    pem = root.issue_node_certificate(request.csr_pem, "n" * 25, Role.WORKER, "c" * 25, now=NOW)
    assert root.identify(pem, now=NOW).node_id == "n" * 25
    with pytest.raises(UntrustedCertificate, match=r"not valid after Mon, 01 Apr 2030 00:00:00 UTC"):
        root.identify(pem, now=NOW + timedelta(days=91))
    with pytest.raises(UntrustedCertificate, match=r"^certificate \(1 - n+\) not valid before"):
        root.identify(pem, now=NOW - timedelta(hours=2))


def test_renewal_is_due_after_half_the_life(root: RootCA) -> None:
    request = ca.make_node_key_request()
    pem = root.issue_node_certificate(request.csr_pem, "n" * 25, Role.WORKER, "c" * 25, now=NOW)
    not_before, not_after = ca.validity(pem)
    middle = not_before + (not_after - not_before) / 2
    assert not ca.renewal_due(pem, now=middle - timedelta(minutes=1))
    assert ca.renewal_due(pem, now=middle)
    for _ in range(20):
        assert middle <= ca.renewal_time(pem) <= not_before + (not_after - not_before) * 0.8


def test_too_short_a_validity_falls_back_to_the_default(root: RootCA) -> None:
    request = ca.make_node_key_request()
    pem = root.issue_node_certificate(request.csr_pem, "n" * 25, Role.WORKER, "c" * 25,
                                      validity=timedelta(minutes=5), now=NOW)
    assert ca.validity(pem)[1] == NOW + timedelta(days=90)


def test_save_and_load_keep_the_key_private(root: RootCA, tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "swarm-root-ca.crt", tmp_path / "swarm-root-ca.key"
    leftover = tmp_path / ".swarm-root-ca.key.tmp"
    leftover.write_bytes(b"")
    leftover.chmod(0o644)
    root.save(cert_path, key_path)
    assert not leftover.exists()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    loaded = RootCA.load(cert_path, key_path)
    assert loaded.can_sign and loaded.cert_pem == root.cert_pem and loaded.digest == root.digest
    assert loaded.identify(enrol(loaded).cert_pem)
    worker_copy = RootCA.load(cert_path, tmp_path / "absent.key")
    assert not worker_copy.can_sign
    with pytest.raises(InvalidParameter):
        worker_copy.issue_node_certificate(ca.make_node_key_request().csr_pem, "n" * 25, Role.WORKER, "c" * 25)


def test_a_root_with_someone_elses_key_is_refused(root: RootCA, other_root: RootCA) -> None:
    with pytest.raises(InvalidParameter, match="certificate key mismatch"):
        RootCA(root.cert_pem, other_root.key_pem())
    with pytest.raises(UntrustedCertificate, match="not a CA"):
        RootCA(enrol(root).cert_pem)


def test_the_joiner_pins_the_root_from_the_token(root: RootCA, other_root: RootCA) -> None:
    token = tokens.parse(str(tokens.generate(root.cert_pem, Role.WORKER)))
    assert ca.pinned_root_ca(token, root.cert_pem).digest == root.digest
    with pytest.raises(CAFingerprintMismatch, match=f"^remote CA does not match fingerprint. Expected: {root.digest}$"):
        ca.pinned_root_ca(token, other_root.cert_pem)


# real handshakes over a connected socket pair: the server side runs in a thread

@dataclass
class Outcome:
    server_error: BaseException | None = None
    client_error: BaseException | None = None
    server_saw: NodeIdentity | None = None


def handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext, root: RootCA,
              server_hostname: str | None = None) -> Outcome:
    outcome = Outcome()
    left, right = socket.socketpair()
    left.settimeout(5)
    right.settimeout(5)

    def serve() -> None:
        try:
            with server_context.wrap_socket(left, server_side=True) as conn:
                outcome.server_saw = tls.peer_identity(root, conn)
                conn.sendall(b"ok")
        except (ssl.SSLError, OSError) as err:
            outcome.server_error = err

    server = threading.Thread(target=serve)
    server.start()
    try:
        with client_context.wrap_socket(right, server_hostname=server_hostname) as conn:
            # under TLS 1.3 a refused client certificate shows only on the first read
            if conn.recv(2) != b"ok":
                raise ConnectionError("server closed without answering")
    except (ssl.SSLError, OSError) as err:
        outcome.client_error = err
    finally:
        right.close()
        server.join()
        left.close()
    return outcome


@pytest.fixture(scope="module")
def manager(root: RootCA) -> Node:
    return enrol(root, Role.MANAGER, advertise_ip="127.0.0.1")


@pytest.fixture(scope="module")
def worker(root: RootCA) -> Node:
    return enrol(root, Role.WORKER)


def test_mutual_tls_passes_with_cluster_certificates(root: RootCA, manager: Node, worker: Node) -> None:
    server = tls.server_context(manager.cert_pem, manager.key_pem, root.cert_pem)
    for name in (manager.identity.node_id, tls.MANAGER_SERVER_NAME):
        client = tls.client_context(worker.cert_pem, worker.key_pem, root.cert_pem)
        outcome = handshake(server, client, root, server_hostname=name)
        assert outcome.client_error is None and outcome.server_error is None
        assert outcome.server_saw == worker.identity


def test_a_client_without_a_certificate_is_refused(root: RootCA, manager: Node) -> None:
    server = tls.server_context(manager.cert_pem, manager.key_pem, root.cert_pem)
    outcome = handshake(server, tls.join_client_context(root.cert_pem), root, server_hostname=tls.CA_SERVER_NAME)
    assert isinstance(outcome.server_error, ssl.SSLError)
    assert outcome.server_error.reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE"
    assert outcome.client_error is not None


def test_a_client_from_another_ca_is_refused(root: RootCA, other_root: RootCA, manager: Node) -> None:
    stranger = enrol(other_root)
    for require in (True, False):
        server = tls.server_context(manager.cert_pem, manager.key_pem, root.cert_pem, require_client_cert=require)
        client = tls.client_context(stranger.cert_pem, stranger.key_pem, root.cert_pem, check_hostname=False)
        outcome = handshake(server, client, root)
        assert isinstance(outcome.server_error, ssl.SSLCertVerificationError)
        assert outcome.server_error.verify_message == "unable to get local issuer certificate"
        assert outcome.client_error is not None


def test_a_server_from_another_ca_or_of_another_name_is_refused(root: RootCA, other_root: RootCA,
                                                                manager: Node, worker: Node) -> None:
    impostor = enrol(other_root, Role.MANAGER)
    server = tls.server_context(impostor.cert_pem, impostor.key_pem, other_root.cert_pem)
    client = tls.client_context(worker.cert_pem, worker.key_pem, root.cert_pem, check_hostname=False)
    outcome = handshake(server, client, root)
    assert isinstance(outcome.client_error, ssl.SSLCertVerificationError)
    assert outcome.client_error.reason == "CERTIFICATE_VERIFY_FAILED"
    # a worker's certificate does not answer to the manager name, nor to the CA name
    server = tls.server_context(worker.cert_pem, worker.key_pem, root.cert_pem, require_client_cert=False)
    for client, name in ((tls.client_context(manager.cert_pem, manager.key_pem, root.cert_pem),
                          tls.MANAGER_SERVER_NAME),
                         (tls.join_client_context(root.cert_pem), tls.CA_SERVER_NAME)):
        outcome = handshake(server, client, root, server_hostname=name)
        assert isinstance(outcome.client_error, ssl.SSLCertVerificationError)
        assert "Hostname mismatch" in outcome.client_error.verify_message


def test_the_join_port_serves_nodes_without_a_certificate(root: RootCA, manager: Node) -> None:
    server = tls.server_context(manager.cert_pem, manager.key_pem, root.cert_pem, require_client_cert=False)
    for client, name in ((tls.bootstrap_client_context(), None),
                         (tls.join_client_context(root.cert_pem), tls.CA_SERVER_NAME)):
        outcome = handshake(server, client, root, server_hostname=name)
        assert outcome.client_error is None and outcome.server_error is None
        assert outcome.server_saw is None


def test_the_root_pinned_from_the_token_verifies_the_manager(root: RootCA, manager: Node) -> None:
    token = tokens.parse(str(tokens.generate(root.cert_pem, Role.WORKER)))
    pinned = ca.pinned_root_ca(token, root.cert_pem)
    outcome = handshake(tls.server_context(manager.cert_pem, manager.key_pem, root.cert_pem,
                                           require_client_cert=False),
                        tls.join_client_context(pinned.cert_pem), root, server_hostname=tls.CA_SERVER_NAME)
    assert outcome.client_error is None


@pytest.fixture(autouse=True)
def _no_threads_left() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() == before
