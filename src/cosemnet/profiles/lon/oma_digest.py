"""The legacy OSGP "OMA digest" (pre-AES OSGP): generation and verification, for reading legacy captures.

.. warning::

   **INSECURE. Do not use it to protect anything.** Jovanovic and Neves, "Practical Cryptanalysis of the
   Open Smart Grid Protocol" (FSE 2015, IACR eprint 2015/428), recover the 96-bit key from 13 chosen
   messages, or from a single valid message/digest pair and about 144 verification queries; since the
   legacy OSGP encryption key is derived from the same key, confidentiality falls with it. This module
   exists only to check the digests in captures of legacy meters. Nothing in cosemnet negotiates or
   selects it: the IEC 62056-8-8 security suite is OSGP-AES-128-PSK (Annex D). (Also: the zero
   padding makes trailing zero bytes invisible, so ``m`` and ``m || 00`` share a digest.)

Algorithm (eprint 2015/428; the same keyed mixing function as the OMA variant of ISO/IEC 14908-1
authentication, :func:`cosemnet.profiles.lon.authentication.keyed_mix`): the 8-byte digest starts at
zero; the message is zero-padded to a multiple of 144 bytes and consumed **front to back**, 144 bytes per
block; each block is 18 key bytes (key bytes 0-11, then 0-5) of 8 steps ``j = 7 .. 0`` each, step ``j``
mixing one message byte into digest byte ``j`` under bit ``7 - j`` of the key byte.

Known answer (spec notes section 2, from the paper): key ``DF`` x 12, message
``0202003000037F30EA6D0000000D0020980031C30008000000000011`` -> digest ``DBE5CDE507B1CB3D``.
"""

from __future__ import annotations

import hmac
from typing import Final

from cosemnet.profiles.lon._codec import check_bytes
from cosemnet.profiles.lon.authentication import OMA_ITERATIONS, keyed_mix

OMA_DIGEST_KEY_LENGTH: Final = 12
OMA_DIGEST_LENGTH: Final = 8


def oma_digest(key: bytes, message: bytes) -> bytes:
    """The 8-byte OMA digest of ``message`` under the 12-byte ``key``. INSECURE: legacy captures only."""
    k = check_bytes("OMA digest key", key, OMA_DIGEST_KEY_LENGTH)
    data = bytes(message)
    return keyed_mix(bytes(OMA_DIGEST_LENGTH), k, OMA_ITERATIONS, data, len(data))


def verify_oma_digest(key: bytes, message: bytes, digest: bytes) -> bool:
    """True when ``digest`` is the OMA digest of ``message`` (constant-time compare). INSECURE."""
    if len(digest) != OMA_DIGEST_LENGTH:
        return False
    return hmac.compare_digest(oma_digest(key, message), bytes(digest))


__all__ = ["OMA_DIGEST_KEY_LENGTH", "OMA_DIGEST_LENGTH", "oma_digest", "verify_oma_digest"]
