"""The one exception hierarchy of the project.

Every error a user can cause or meet carries its HTTP status, so the API layer
turns any of them into Docker's ``{"message": ...}`` answer in one place, and
callers can tell not-found from conflict without parsing text.  Drivers, IPAM
and the DNS resolver raise these too (they import this module, never the
controller).
"""


class CnmError(Exception):
    """Base of every error the daemon reports; unexpected ones map to 500."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidParameter(CnmError):
    status = 400


class Forbidden(CnmError):
    status = 403


class NotFound(CnmError):
    status = 404


class Conflict(CnmError):
    status = 409


class Internal(CnmError):
    status = 500


class NotImplementedByDriver(CnmError):
    status = 501


class Unavailable(CnmError):
    status = 503


class AddressInUse(Forbidden):
    """Docker's ipamapi.ErrIPAlreadyAllocated: 403 'Address already in use'."""

    def __init__(self, message: str = "Address already in use"):
        super().__init__(message)


class PoolOverlap(Forbidden):
    """Docker's ipamapi.ErrPoolOverlap."""

    def __init__(self, message: str = "Pool overlaps with other one on this address space"):
        super().__init__(message)


class NoAvailableAddress(Unavailable):
    """Docker's ipamapi.ErrNoAvailableIPs."""

    def __init__(self, message: str = "no available addresses on this pool"):
        super().__init__(message)


class PortUnavailable(CnmError):
    """A host port cannot be published: taken, or the range is exhausted.

    Docker answers these with 500 (its port allocator errors carry no kind).
    """


class PluginError(Internal):
    """A remote plugin answered a call with an error, or with a reply that breaks the protocol.

    ``plugin_status`` is the HTTP status the plugin answered with (404 means
    it does not implement the call, which Docker forgives for optional ones).
    """

    def __init__(self, message: str, plugin_status: int | None = None):
        super().__init__(message)
        self.plugin_status = plugin_status


class PluginUnavailable(Unavailable):
    """A remote plugin could not be reached, did not answer in time, or died mid-call."""


class InvalidJoinToken(Internal):
    """swarmkit's errInvalidJoinToken: a token not of the form SWMTKN-1-<digest>-<secret>.

    dockerd answers POST /swarm/join with 500 for it (swarmkit's plain error
    reaches the API without a kind).
    """

    def __init__(self, message: str = "invalid join token"):
        super().__init__(message)


class CAFingerprintMismatch(Internal):
    """The manager presented a root CA whose digest is not the one the join token pins (500 in dockerd)."""

    def __init__(self, expected_digest: str):
        super().__init__(f"remote CA does not match fingerprint. Expected: {expected_digest}")
        self.expected_digest = expected_digest


class JoinTokenRefused(InvalidParameter):
    """The manager holds no token equal to the one presented (unknown, rotated, or for another cluster).

    swarmkit's CA answers gRPC InvalidArgument, which dockerd turns into 400;
    ``joiner_message`` is the text a joining dockerd relays to its user.
    """

    def __init__(self, message: str = "A valid join token is necessary to join this cluster"):
        super().__init__(message)

    @property
    def joiner_message(self) -> str:
        return f"rpc error: code = InvalidArgument desc = {self.message}"


class EntryTooLarge(InvalidParameter, ValueError):
    """An endpoint table entry whose gossip event would not fit Serf's user event limit (names and aliases too long)."""


class MalformedPayload(InvalidParameter, ValueError):
    """Bytes from another node that are not an endpoint table event or snapshot of this format."""


class UntrustedCertificate(Forbidden):
    """A presented certificate does not chain to the cluster root CA, is out of its validity, or names no node."""
