"""Encrypted overlays (Docker's ``-o encrypted``): what this kernel can do about them.

Docker encrypts VXLAN between VTEPs with IPsec ESP transport-mode states
using AES-GCM (rfc4106).  This data plane does not program IPsec yet, so an
encrypted network is always refused: with the kernel's reason when it lacks
ESP or AES-GCM (the usual case on minimal kernels), so the user knows what
to load, and as not implemented otherwise.  Never silently unencrypted.
"""

from __future__ import annotations

import logging
import os

from libnetwork.netlink import create_netns, probe_esp_aead, remove_netns

log = logging.getLogger(__name__)

AEAD = "rfc4106(gcm(aes))"


class EspSupport:
    """Asks the kernel once (in a scratch namespace under ``scratch_dir``) and remembers the answer."""

    def __init__(self, scratch_dir: str):
        self.scratch_dir = scratch_dir
        self._checked = False
        self._missing: str | None = None

    def missing(self) -> str | None:
        """None when the kernel accepts an ESP state with AES-GCM, else its reason."""
        if not self._checked:
            self._missing = self._probe()
            self._checked = True
        return self._missing

    def _probe(self) -> str | None:
        # A state added in the daemon's namespace would be live IPsec
        # configuration there; a scratch namespace takes it along when it goes.
        os.makedirs(self.scratch_dir, exist_ok=True)
        path = os.path.join(self.scratch_dir, f"esp-probe-{os.getpid()}")
        try:
            create_netns(path)
            probe_esp_aead(path, AEAD)
        except OSError as err:
            log.info("no IPsec ESP with AES-GCM here", extra={"reason": err.strerror or str(err)})
            return err.strerror or str(err)
        finally:
            remove_netns(path)
        return None

    def refusal(self) -> str:
        """Why create_network refuses ``-o encrypted``."""
        reason = self.missing()
        if reason is not None:
            return (f"encrypted overlay networks need IPsec ESP with AES-GCM ({AEAD}; kernel modules "
                    f"xfrm_user, esp4, aes and gcm), which this kernel lacks: {reason}")
        return ("encrypted overlay networks are not implemented by this overlay driver yet "
                "(the kernel has IPsec ESP with AES-GCM, but the driver does not program it)")
