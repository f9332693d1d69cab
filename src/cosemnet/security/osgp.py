"""Cryptographic functions of the OSGP-AES-128-PSK security suite (IEC 62056-8-8 Annex D, D.4-D.5).

Annex D names its primitives (D.4: CMAC, CCM) and functions (D.5: OSGP_KDF, OSGP_MAC,
OSGP_MAC_VERIFY, OSGP_AE / OSGP_AD, OSGP_CSPRNG); its text is not public. What this module implements
(spec-notes section 2, decision 0042):

* ``osgp_mac`` / ``osgp_mac_verify``: AES-128-CMAC (NIST SP 800-38B), full 16-byte tag or a
  truncation to ``tag_length`` bytes (the leftmost ones, as SP 800-38B allows);
* ``osgp_ae`` / ``osgp_ad``: AES-128-CCM (SP 800-38C) with a 13-byte nonce (L = 2) and an 8-byte tag
  by default;
* ``osgp_kdf``: counter-mode CMAC in the style of RFC 5433's GKDF: ``M_i = CMAC_K(i || Z)``, ``i`` a
  16-bit big-endian counter from 1, output ``M_1 || M_2 || ...`` truncated to the asked length. The
  suite passes ``Z = label || context`` (labels: decision 0045);
* :class:`CtrDrbg` (``OSGP_CSPRNG``): SP 800-90A CTR_DRBG with AES-128 *without* derivation function
  (decision 0042), instantiated with 32 bytes of full entropy from ``os.urandom``; the block cipher is
  AES-ECB from ``cryptography``, never hand-written AES.

Every function goes through ``cryptography``; nothing here logs, and no error message carries a key.
"""

from __future__ import annotations

import hmac
import os
from typing import Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from cosemnet.security.errors import AuthenticationError, InvalidKeyError, SecurityError

KEY_LENGTH: Final = 16
"""AES-128: every key of the suite has 16 bytes."""
BLOCK: Final = 16
CCM_NONCE_LENGTH: Final = 13
DEFAULT_CCM_TAG_LENGTH: Final = 8
"""[design, decision 0042] 8-byte CCM tag: 2^-64 forgery chance per try on a 5.4 kbit/s channel."""
MAX_KDF_BLOCKS: Final = 0xFFFF


def _check_key(key: bytes) -> None:
    if len(key) != KEY_LENGTH:
        raise InvalidKeyError(f"an OSGP-AES-128-PSK key has 16 bytes, not {len(key)}")


def osgp_mac(key: bytes, message: bytes, tag_length: int = BLOCK) -> bytes:
    """OSGP_MAC: AES-CMAC of ``message``, the leftmost ``tag_length`` (4..16) bytes."""
    _check_key(key)
    if not 4 <= tag_length <= BLOCK:
        raise ValueError("a CMAC tag has 4..16 bytes")
    c = cmac.CMAC(algorithms.AES(key))
    c.update(message)
    return c.finalize()[:tag_length]


def osgp_mac_verify(key: bytes, message: bytes, tag: bytes) -> None:
    """OSGP_MAC_VERIFY: :class:`AuthenticationError` unless ``tag`` is the (truncated) CMAC of ``message``."""
    _check_key(key)
    if not 4 <= len(tag) <= BLOCK:
        raise AuthenticationError("CMAC tag of a wrong length")
    c = cmac.CMAC(algorithms.AES(key))
    c.update(message)
    if len(tag) == BLOCK:
        try:
            c.verify(tag)
        except InvalidSignature:
            raise AuthenticationError("CMAC did not verify") from None
        return
    full = c.finalize()
    if not hmac.compare_digest(full[: len(tag)], tag):
        raise AuthenticationError("CMAC did not verify")


class OsgpAead:
    """OSGP_AE / OSGP_AD under one key (the AESCCM object is built once per key)."""

    __slots__ = ("_ccm", "tag_length")

    def __init__(self, key: bytes, tag_length: int = DEFAULT_CCM_TAG_LENGTH) -> None:
        _check_key(key)
        if tag_length not in (4, 6, 8, 10, 12, 14, 16):
            raise ValueError("a CCM tag has 4, 6, ..., 16 bytes")
        self._ccm = AESCCM(key, tag_length)
        self.tag_length = tag_length

    def __repr__(self) -> str:
        return f"OsgpAead(tag_length={self.tag_length})"

    def encrypt(self, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """OSGP_AE: ciphertext || tag."""
        if len(nonce) != CCM_NONCE_LENGTH:
            raise ValueError("the CCM nonce has 13 bytes")
        return self._ccm.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes) -> bytes:
        """OSGP_AD: the plaintext, or :class:`AuthenticationError` (tampering and wrong key alike)."""
        if len(nonce) != CCM_NONCE_LENGTH:
            raise ValueError("the CCM nonce has 13 bytes")
        if len(data) < self.tag_length:
            raise AuthenticationError("ciphertext shorter than the tag")
        try:
            return self._ccm.decrypt(nonce, data, associated_data)
        except InvalidTag:
            raise AuthenticationError("CCM tag did not verify") from None


def osgp_ae(
    key: bytes,
    nonce: bytes,
    plaintext: bytes,
    associated_data: bytes,
    tag_length: int = DEFAULT_CCM_TAG_LENGTH,
) -> bytes:
    """OSGP_AE: AES-CCM encryption and authentication; returns ciphertext || tag."""
    return OsgpAead(key, tag_length).encrypt(nonce, plaintext, associated_data)


def osgp_ad(
    key: bytes, nonce: bytes, data: bytes, associated_data: bytes, tag_length: int = DEFAULT_CCM_TAG_LENGTH
) -> bytes:
    """OSGP_AD: AES-CCM decryption and verification (:class:`AuthenticationError` on any failure)."""
    return OsgpAead(key, tag_length).decrypt(nonce, data, associated_data)


def osgp_kdf(key: bytes, z: bytes, length: int = KEY_LENGTH) -> bytes:
    """OSGP_KDF: ``M_1 || M_2 || ...`` truncated to ``length`` bytes, ``M_i = CMAC_key(i || z)``,
    ``i`` 16-bit big-endian from 1 (RFC 5433 GKDF)."""
    _check_key(key)
    if not 1 <= length <= MAX_KDF_BLOCKS * BLOCK:
        raise ValueError("OSGP_KDF output length out of range")
    out = bytearray()
    counter = 1
    while len(out) < length:
        c = cmac.CMAC(algorithms.AES(key))
        c.update(counter.to_bytes(2, "big") + z)
        out += c.finalize()
        counter += 1
    return bytes(out[:length])


SEED_LENGTH: Final = 32
"""seedlen of CTR_DRBG AES-128: key (16) + V (16)."""
RESEED_INTERVAL: Final = 1 << 32
"""[design] well under SP 800-90A's 2^48 limit for AES."""
MAX_REQUEST_BYTES: Final = 1 << 16
"""SP 800-90A max_number_of_bits_per_request for AES is 2^19 bits = 65536 bytes."""


class DrbgError(SecurityError):
    """The DRBG needs reseeding or was asked for more than one request may return."""


class CtrDrbg:
    """OSGP_CSPRNG: NIST SP 800-90A CTR_DRBG, AES-128, no derivation function.

    ``entropy`` (32 bytes of full entropy) defaults to ``os.urandom``; tests pass the CAVP values.
    ``personalization`` and ``additional_input`` are at most 32 bytes (no df: XORed into the seed).
    """

    __slots__ = ("_key", "_reseed_counter", "_v")

    def __init__(self, entropy: bytes | None = None, personalization: bytes = b"") -> None:
        seed = os.urandom(SEED_LENGTH) if entropy is None else bytes(entropy)
        if len(seed) != SEED_LENGTH:
            raise ValueError("CTR_DRBG AES-128 without df takes 32 bytes of entropy input")
        self._key = bytes(KEY_LENGTH)
        self._v = bytes(BLOCK)
        self._update(_xor_pad(seed, personalization))
        self._reseed_counter = 1

    def __repr__(self) -> str:
        return "CtrDrbg(AES-128, no df)"

    def _block(self, key: bytes, v_int: int, count: int) -> tuple[bytes, int]:
        enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        counters = bytearray()
        for _ in range(count):
            v_int = (v_int + 1) & ((1 << 128) - 1)
            counters += v_int.to_bytes(BLOCK, "big")
        return enc.update(bytes(counters)) + enc.finalize(), v_int

    def _update(self, provided: bytes) -> None:
        temp, _ = self._block(self._key, int.from_bytes(self._v, "big"), SEED_LENGTH // BLOCK)
        temp = bytes(a ^ b for a, b in zip(temp, provided, strict=True))
        self._key, self._v = temp[:KEY_LENGTH], temp[KEY_LENGTH:]

    def reseed(self, entropy: bytes | None = None, additional_input: bytes = b"") -> None:
        seed = os.urandom(SEED_LENGTH) if entropy is None else bytes(entropy)
        if len(seed) != SEED_LENGTH:
            raise ValueError("CTR_DRBG AES-128 without df takes 32 bytes of entropy input")
        self._update(_xor_pad(seed, additional_input))
        self._reseed_counter = 1

    def generate(self, length: int, additional_input: bytes = b"") -> bytes:
        """``length`` pseudo-random bytes (SP 800-90A 10.2.1.5.1)."""
        if not 0 <= length <= MAX_REQUEST_BYTES:
            raise DrbgError("CTR_DRBG request larger than 65536 bytes")
        if self._reseed_counter > RESEED_INTERVAL:
            self.reseed()
        provided = _xor_pad(bytes(SEED_LENGTH), additional_input) if additional_input else None
        if provided is not None:
            self._update(provided)
        blocks = -(-length // BLOCK)
        out, v_int = self._block(self._key, int.from_bytes(self._v, "big"), blocks)
        self._v = v_int.to_bytes(BLOCK, "big")
        self._update(provided if provided is not None else bytes(SEED_LENGTH))
        self._reseed_counter += 1
        return out[:length]


def _xor_pad(seed: bytes, extra: bytes) -> bytes:
    if len(extra) > SEED_LENGTH:
        raise ValueError("CTR_DRBG without df takes at most 32 bytes of personalization/additional input")
    padded = extra + bytes(SEED_LENGTH - len(extra))
    return bytes(a ^ b for a, b in zip(seed, padded, strict=True))


__all__ = [
    "CCM_NONCE_LENGTH",
    "DEFAULT_CCM_TAG_LENGTH",
    "KEY_LENGTH",
    "CtrDrbg",
    "DrbgError",
    "OsgpAead",
    "osgp_ad",
    "osgp_ae",
    "osgp_kdf",
    "osgp_mac",
    "osgp_mac_verify",
]
