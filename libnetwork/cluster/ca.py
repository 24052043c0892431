"""The cluster root CA and node certificates, as swarmkit makes them.

``docker swarm init`` creates the root: an ECDSA P-256 key and a self-signed
certificate, CN ``swarm-ca``, valid 20 years.  Every node then holds a
certificate from it, valid 90 days, whose subject says who the node is:
CN = node ID, OU = ``swarm-manager`` or ``swarm-worker``, O = cluster ID.
The role is read back from the OU when a node connects, so authorisation
needs nothing but the TLS handshake.  The SANs repeat the OU and the node ID
(and ``swarm-ca`` for managers), so a client can ask for "any manager" or
"the CA" by server name; the node's advertise address is added as an IP SAN.

The manager signs only the public key of a request: subject, SANs, usages
and validity come from its own call, never from the joiner (swarmkit's CSR
whitelist, ``ca/config.go`` SigningPolicy).  Certificates are backdated one
hour against clock skew between hosts.  A node renews at a random point
between 50% and 80% of its certificate's life so that a cluster created at
once does not renew at once.
"""

from __future__ import annotations

import ipaddress
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from libnetwork.cluster.ids import Role
from libnetwork.cluster.tokens import JoinToken, ca_digest, verify_ca
from libnetwork.errors import InvalidParameter, UntrustedCertificate

ROOT_CN = "swarm-ca"
# managers carry it as a SAN: a joiner submits its token only to a server
# proven to hold it, so the secret never reaches a node that cannot sign
CA_SERVER_NAME = "swarm-ca"
MANAGER_SERVER_NAME = Role.MANAGER.ou
ROOT_CA_VALIDITY = timedelta(seconds=630_720_000)
NODE_CERT_VALIDITY = timedelta(hours=2160)
MIN_NODE_CERT_VALIDITY = timedelta(hours=1)
CERT_BACKDATE = timedelta(hours=1)
RENEW_FROM = 0.5
RENEW_UNTIL = 0.8
UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"

# What a manager accepts in a signing request (swarmkit's ensureCertKeyMatch)
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_MIN_RSA_BITS = 2048

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class NodeIdentity:
    """Who a verified node certificate says its holder is."""

    node_id: str
    role: Role
    cluster_id: str


@dataclass(frozen=True)
class NodeKeyRequest:
    """The joiner's side: a fresh key it keeps, and the request it sends with its token."""

    key_pem: bytes
    csr_pem: bytes


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _rfc1123(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8, as swarmkit converts its node keys to
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _public_der(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_certs(data: bytes) -> list[x509.Certificate]:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as err:
        raise UntrustedCertificate(f"failed to parse certificate: {err}") from None


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return ""
    return values[0].value


def _check_time(cert: x509.Certificate, position: int, now: datetime) -> None:
    cn = _attribute(cert.subject, NameOID.COMMON_NAME)
    if now < cert.not_valid_before_utc:
        raise UntrustedCertificate(f"certificate ({position} - {cn}) not valid before "
                                   f"{_rfc1123(cert.not_valid_before_utc)}, and it is currently {_rfc1123(now)}")
    if now > cert.not_valid_after_utc:
        raise UntrustedCertificate(f"certificate ({position} - {cn}) not valid after "
                                   f"{_rfc1123(cert.not_valid_after_utc)}, and it is currently {_rfc1123(now)}")


def _accepted_public_key(key: object) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _EC_CURVES):
            raise InvalidParameter("unsupported ECDSA key parameters")
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS or key.public_numbers().e == 1:
            raise InvalidParameter("unsupported RSA key parameters")
        return key
    raise InvalidParameter("unknown or unsupported certificate public key algorithm")


def _public_key_of_request(request: bytes | PublicKey) -> PublicKey:
    if not isinstance(request, bytes):
        return _accepted_public_key(request)
    try:
        csr = x509.load_pem_x509_csr(request)
    except ValueError as err:
        raise InvalidParameter(f"invalid certificate request: {err}") from None
    # proves the requester holds the private key, so nobody obtains a
    # certificate for a public key they merely copied
    if not csr.is_signature_valid:
        raise InvalidParameter("invalid certificate request: bad signature")
    return _accepted_public_key(csr.public_key())


def make_node_key_request() -> NodeKeyRequest:
    """A new P-256 key and a request carrying only its public key: the manager fills in everything else."""
    key = _new_key()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    return NodeKeyRequest(key_pem=_key_pem(key), csr_pem=csr.public_bytes(serialization.Encoding.PEM))


def write_pem(path: Path, data: bytes, *, private: bool) -> None:
    """Write atomically; a private key is created 0600, never readable by others even for a moment."""
    temporary = path.with_name(f".{path.name}.tmp")
    # O_EXCL after removing a leftover: an existing file would keep its old,
    # possibly wider, mode and the key would be written into it
    temporary.unlink(missing_ok=True)
    mode = 0o600 if private else 0o644
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)  # the same mode whatever the daemon's umask
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class RootCA:
    """The cluster's trust root; it signs only where its key is present (managers)."""

    def __init__(self, cert_pem: bytes, key_pem: bytes | None = None, *, now: datetime | None = None):
        self.cert_pem = cert_pem
        self.certs = _load_certs(cert_pem)
        if not self.certs:
            raise UntrustedCertificate("no valid root CA certificates found")
        moment = now or _utcnow()
        for position, cert in enumerate(self.certs, 1):
            self._check_root(cert, position, moment)
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._signer: x509.Certificate | None = None
        if key_pem is not None:
            self._load_key(key_pem)

    @staticmethod
    def _check_root(cert: x509.Certificate, position: int, now: datetime) -> None:
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise UntrustedCertificate(f"error while validating Root CA Certificate: certificate ({position}) "
                                       "is not a CA")
        try:
            cert.verify_directly_issued_by(cert)
        except (ValueError, TypeError, InvalidSignature):
            raise UntrustedCertificate(f"error while validating Root CA Certificate: certificate ({position}) "
                                       "is not self-signed") from None
        _check_time(cert, position, now)

    def _load_key(self, key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidParameter("the root CA key is not an ECDSA key")
        public = _public_der(key.public_key())
        for cert in self.certs:
            cert_key = cert.public_key()
            if isinstance(cert_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)) \
                    and _public_der(cert_key) == public:
                self._key, self._signer = key, cert
                return
        raise InvalidParameter("certificate key mismatch")

    @classmethod
    def create(cls, *, now: datetime | None = None) -> RootCA:
        moment = now or _utcnow()
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN)])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(moment - CERT_BACKDATE)
            .not_valid_after(moment + ROOT_CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(_cert_pem(cert), _key_pem(key), now=moment)

    @classmethod
    def load(cls, cert_path: Path, key_path: Path | None = None) -> RootCA:
        """Workers have only the certificate; a missing key file means a root that cannot sign."""
        key_pem = key_path.read_bytes() if key_path is not None and key_path.exists() else None
        return cls(cert_path.read_bytes(), key_pem)

    def save(self, cert_path: Path, key_path: Path | None = None) -> None:
        write_pem(cert_path, self.cert_pem, private=False)
        if key_path is not None:
            write_pem(key_path, self.key_pem(), private=True)

    @property
    def digest(self) -> str:
        return ca_digest(self.cert_pem)

    @property
    def can_sign(self) -> bool:
        return self._key is not None

    def key_pem(self) -> bytes:
        if self._key is None:
            raise InvalidParameter("this node holds no root CA key")
        return _key_pem(self._key)

    def issue_node_certificate(self, request: bytes | PublicKey, node_id: str, role: Role, cluster_id: str, *,
                               advertise_ip: str | None = None, validity: timedelta = NODE_CERT_VALIDITY,
                               now: datetime | None = None) -> bytes:
        """Sign a node certificate for the public key in ``request`` (a PEM CSR, or the key itself)."""
        if self._key is None or self._signer is None:
            raise InvalidParameter("this node holds no root CA key")
        public_key = _public_key_of_request(request)
        if validity < MIN_NODE_CERT_VALIDITY:
            validity = NODE_CERT_VALIDITY
        moment = now or _utcnow()
        names: list[x509.GeneralName] = [x509.DNSName(role.ou), x509.DNSName(node_id)]
        if role is Role.MANAGER:
            names.append(x509.DNSName(CA_SERVER_NAME))
        if advertise_ip:
            names.append(x509.IPAddress(ipaddress.ip_address(advertise_ip)))
        # the order Go's pkix.Name marshals, so the subject reads as a swarm node's does
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.ou),
            x509.NameAttribute(NameOID.COMMON_NAME, node_id),
        ])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._signer.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(moment - CERT_BACKDATE)
            .not_valid_after(moment + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                           critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return _cert_pem(cert)

    def identify(self, cert: bytes, *, now: datetime | None = None) -> NodeIdentity:
        """Verify a node certificate (PEM, or DER as ``getpeercert(True)`` gives) and read who it names."""
        leaf = _load_certs(cert)[0]
        if not any(self._issued_by(leaf, root) for root in self.certs):
            raise UntrustedCertificate(UNKNOWN_AUTHORITY)
        _check_time(leaf, 1, now or _utcnow())
        node_id = _attribute(leaf.subject, NameOID.COMMON_NAME)
        cluster_id = _attribute(leaf.subject, NameOID.ORGANIZATION_NAME)
        try:
            role = Role.from_ou(_attribute(leaf.subject, NameOID.ORGANIZATIONAL_UNIT_NAME))
        except ValueError:
            raise UntrustedCertificate("certificate names no node role") from None
        if not node_id or not cluster_id:
            raise UntrustedCertificate("certificate names no node or cluster")
        return NodeIdentity(node_id=node_id, role=role, cluster_id=cluster_id)

    @staticmethod
    def _issued_by(leaf: x509.Certificate, root: x509.Certificate) -> bool:
        try:
            leaf.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


def pinned_root_ca(token: JoinToken, presented_ca_pem: bytes) -> RootCA:
    """The root a manager presented to a joiner, accepted only if it is the one the token pins."""
    verify_ca(token, presented_ca_pem)
    return RootCA(presented_ca_pem)


def validity(cert_pem: bytes) -> tuple[datetime, datetime]:
    cert = _load_certs(cert_pem)[0]
    return cert.not_valid_before_utc, cert.not_valid_after_utc


def renewal_due(cert_pem: bytes, *, now: datetime | None = None) -> bool:
    """True once less than half of the certificate's life is left (swarmkit's earliest renewal point)."""
    not_before, not_after = validity(cert_pem)
    return (now or _utcnow()) >= not_before + (not_after - not_before) * RENEW_FROM


def renewal_time(cert_pem: bytes, *, rng: random.Random | None = None) -> datetime:
    """When to renew: a random moment between 50% and 80% of the life, spreading a cluster's renewals."""
    not_before, not_after = validity(cert_pem)
    fraction = (rng or random.Random()).uniform(RENEW_FROM, RENEW_UNTIL)
    return not_before + (not_after - not_before) * fraction
