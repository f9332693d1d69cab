"""NIST SP 800-56A one-step key derivation (concatenation KDF) of security suites 1 and 2.

::

    K(i) = H(counter_i || Z || OtherInfo),  counter_1 = 00000001 (32 bits, big-endian)
    key  = leftmost keydatalen bits of K(1) || K(2) || ...
    OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo [|| SuppPubInfo] [|| SuppPrivInfo]

H is SHA-256 for suite 1 and SHA-384 for suite 2; the derived AES key is 16 (suite 1) or 32 (suite 2)
bytes, so a single hash block is always enough. The computation is ``cryptography``'s
:class:`~cryptography.hazmat.primitives.kdf.concatkdf.ConcatKDFHash` (the test suite checks it
against an independent ``hashlib`` reading of the formula above).

What is pinned by public material (see ``tests/security/test_kdf.py``):

* the formula and the field order: the suite-1 key of the Green Book one-pass Diffie-Hellman example
  (Table C.2) and of its static-unified-model example, derived here, decrypt the published ciphertexts;
* AlgorithmID ``60857405080300`` (AES-GCM-128, suite 1) / ``60857405080301`` (AES-GCM-256, suite 2):
  the encoded object identifier ``2.16.756.5.8.3.0`` / ``.1`` without tag and length. It is the id the
  Green Book example ciphertexts were produced with. Note: some key values quoted from the Green Book
  tables (Ed. 8, as reproduced in public test suites) are only reproduced with ``60857406080300``
  (arc 6 instead of 5, apparently a typo in those tables); :func:`derive_key` takes an explicit
  ``algorithm_id`` for peers that copied it.
* PartyUInfo / PartyVInfo are the bare 8-byte system titles (no length prefix); which party is U
  depends on the scheme (see :mod:`cosemnet.security.agreement`).
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash

from cosemnet.security.ecc import asymmetric_parameters, hash_for_suite
from cosemnet.security.errors import SecurityError

ALGORITHM_ID_AES_GCM_128: Final = bytes.fromhex("60857405080300")
"""OtherInfo AlgorithmID of a derived AES-GCM-128 key (suite 1)."""

ALGORITHM_ID_AES_GCM_256: Final = bytes.fromhex("60857405080301")
"""OtherInfo AlgorithmID of a derived AES-GCM-256 key (suite 2)."""

MAX_DERIVED_LENGTH: Final = 64
"""Longest key :func:`derive_key` produces (more than any suite needs; guards against misuse)."""


def algorithm_id(suite: int) -> bytes:
    """The AlgorithmID of the suite's AES-GCM key (the ``kdf_algorithm_id`` of the suite)."""
    value = asymmetric_parameters(suite).kdf_algorithm_id
    assert value is not None
    return value


def key_length(suite: int) -> int:
    """Length of the derived AES key: 16 for suite 1, 32 for suite 2."""
    return asymmetric_parameters(suite).key_length


def other_info(
    algorithm: bytes,
    party_u_info: bytes,
    party_v_info: bytes,
    supp_pub_info: bytes = b"",
    supp_priv_info: bytes = b"",
) -> bytes:
    """OtherInfo as the plain concatenation of its fields (the form the Green Book uses)."""
    return (
        bytes(algorithm)
        + bytes(party_u_info)
        + bytes(party_v_info)
        + bytes(supp_pub_info)
        + bytes(supp_priv_info)
    )


def concat_kdf(z: bytes, info: bytes, length: int, suite: int) -> bytes:
    """The one-step KDF with the suite hash: ``length`` bytes from shared secret ``z`` and OtherInfo."""
    if not 1 <= length <= MAX_DERIVED_LENGTH:
        raise SecurityError(f"derived key length {length} outside 1..{MAX_DERIVED_LENGTH}")
    return ConcatKDFHash(algorithm=hash_for_suite(suite), length=length, otherinfo=bytes(info)).derive(
        bytes(z)
    )


def derive_key(
    z: bytes,
    suite: int,
    party_u_info: bytes,
    party_v_info: bytes,
    *,
    supp_pub_info: bytes = b"",
    supp_priv_info: bytes = b"",
    algorithm: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """Derive the suite's AES key from ``z``.

    ``algorithm`` defaults to the suite's AES-GCM AlgorithmID and ``length`` to its AES key length.
    """
    alg = algorithm_id(suite) if algorithm is None else algorithm
    size = key_length(suite) if length is None else length
    info = other_info(alg, party_u_info, party_v_info, supp_pub_info, supp_priv_info)
    return concat_kdf(z, info, size, suite)


__all__ = [
    "ALGORITHM_ID_AES_GCM_128",
    "ALGORITHM_ID_AES_GCM_256",
    "MAX_DERIVED_LENGTH",
    "algorithm_id",
    "concat_kdf",
    "derive_key",
    "key_length",
    "other_info",
]
