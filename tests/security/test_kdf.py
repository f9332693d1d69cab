"""One-step (concatenation) KDF of NIST SP 800-56A with the DLMS OtherInfo.

Two independent checks:

* ``reference_kdf`` below is a direct ``hashlib`` reading of the formula
  ``K(i) = H(counter_i || Z || OtherInfo)``; the implementation (``cryptography``'s ConcatKDFHash)
  must give the same bytes on any input;
* public Green Book values. The one-pass Diffie-Hellman (Table C.2) and static unified model examples
  publish a general-ciphering ciphertext: the keys derived here from the published ``Z`` decrypt it
  (see ``test_agreement.py`` for the end-to-end decryption). Other values of the Green Book tables, as
  quoted by the public Connexo test suite (``NIST_SP_800_56_KDFTest``, ``KeyAgreementImplTest``), are
  reproduced only with AlgorithmID ``60857406080300``: they are checked with that explicit override.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.security.errors import SecurityError, UnsupportedSecurityError
from cosemnet.security.kdf import (
    ALGORITHM_ID_AES_GCM_128,
    ALGORITHM_ID_AES_GCM_256,
    algorithm_id,
    concat_kdf,
    derive_key,
    key_length,
    other_info,
)

H = bytes.fromhex
CLIENT_ST = H("4D4D4D0000BC614E")  # Party U in the Green Book examples
SERVER_ST = H("4D4D4D0000000001")  # Party V
GREEN_BOOK_TABLE_ALGORITHM_ID = H("60857406080300")  # as printed in the tables (arc 6, see kdf.py)


def reference_kdf(z: bytes, info: bytes, length: int, hash_name: str) -> bytes:
    """Independent reading of SP 800-56A 5.8.1 with hashlib."""
    out = b""
    counter = 1
    while len(out) < length:
        out += hashlib.new(hash_name, counter.to_bytes(4, "big") + z + info).digest()
        counter += 1
    return out[:length]


def test_algorithm_ids_and_key_lengths() -> None:
    assert algorithm_id(1) == ALGORITHM_ID_AES_GCM_128 == H("60857405080300")
    assert algorithm_id(2) == ALGORITHM_ID_AES_GCM_256 == H("60857405080301")
    assert (key_length(1), key_length(2)) == (16, 32)
    with pytest.raises(UnsupportedSecurityError):
        algorithm_id(0)


def test_other_info_is_the_plain_concatenation() -> None:
    assert other_info(b"A", b"UU", b"VVV", b"p", b"q") == b"AUUVVVpq"
    assert other_info(ALGORITHM_ID_AES_GCM_128, CLIENT_ST, SERVER_ST) == H(
        "608574050803004D4D4D0000BC614E4D4D4D0000000001"
    )


@settings(max_examples=150)
@given(
    z=st.binary(min_size=32, max_size=48),
    u=st.binary(min_size=8, max_size=8),
    v=st.binary(min_size=8, max_size=8),
    extra=st.binary(max_size=20),
    suite=st.sampled_from([1, 2]),
    length=st.integers(1, 64),
)
def test_concat_kdf_matches_the_hashlib_formula(
    z: bytes, u: bytes, v: bytes, extra: bytes, suite: int, length: int
) -> None:
    info = other_info(algorithm_id(suite), u, v, extra)
    hash_name = "sha256" if suite == 1 else "sha384"
    assert concat_kdf(z, info, length, suite) == reference_kdf(z, info, length, hash_name)


@pytest.mark.parametrize("suite", [1, 2])
def test_derive_key_defaults(suite: int) -> None:
    z = bytes(range(48))[: 32 if suite == 1 else 48]
    key = derive_key(z, suite, CLIENT_ST, SERVER_ST)
    info = algorithm_id(suite) + CLIENT_ST + SERVER_ST
    assert key == reference_kdf(z, info, key_length(suite), "sha256" if suite == 1 else "sha384")
    assert len(key) == key_length(suite)
    assert derive_key(z, suite, SERVER_ST, CLIENT_ST) != key  # party order matters


def test_one_pass_green_book_key_with_algorithm_id_05() -> None:
    # Z of Table C.2 (client -> server), U = client, V = server: the key that decrypts the published
    # general-ciphering ciphertext (test_agreement.py::test_green_book_one_pass_example_decrypts)
    z = H("0D4385BA0DD756CBCAB9887EB538396EE8F090A14C1079B4359F115B977F4615")
    assert derive_key(z, 1, CLIENT_ST, SERVER_ST) == H("59A71FD81C929A86A99438DA17A66C05")


def test_static_unified_green_book_key() -> None:
    # Z = client KA key x server KA key; OtherInfo = AlgorithmID || U || 08 transaction-id || V
    z = H("B1455B2AD5F68BCFFE6AD5412BA89548ACA7E0CBF4B1560D6A57496F15E931AD")
    tid = H("0102030405060708")
    key = derive_key(z, 1, CLIENT_ST, b"\x08" + tid + SERVER_ST)
    assert key == H("56C46B57DF675515C31025455822514A")


@pytest.mark.parametrize(
    ("z", "u", "v", "key"),
    [
        pytest.param(
            "C1CF8FE7891AEF3617D7190795E61FE6C24EFC3CCA2E08469BAD1A225CE6EA08",
            CLIENT_ST,
            SERVER_ST,
            "E025CA6F9EE8D2B40F993739D44CFBC0",
            id="table-c1-eum-guek",
        ),
        pytest.param(
            "0D4385BA0DD756CBCAB9887EB538396EE8F090A14C1079B4359F115B977F4615",
            CLIENT_ST,
            SERVER_ST,
            "8CD08FF02EAC71712DE8449DC8331833",
            id="table-c2-to-server",
        ),
        pytest.param(
            "2B4302DC49790E2E78D990CFB52ED6E2F273DECE441A2D95E4301B93812A9FAC",
            SERVER_ST,
            CLIENT_ST,
            "E357F06755CBF5C2C31457FE3CD1D5B8",
            id="table-c2-to-client",
        ),
    ],
)
def test_green_book_table_values_with_the_printed_algorithm_id(z: str, u: bytes, v: bytes, key: str) -> None:
    derived = derive_key(H(z), 1, u, v, algorithm=GREEN_BOOK_TABLE_ALGORITHM_ID)
    assert derived == H(key)
    assert derive_key(H(z), 1, u, v) != H(key)  # the default (arc 5) id gives another key


def test_kdf_argument_errors() -> None:
    with pytest.raises(SecurityError):
        concat_kdf(bytes(32), b"", 0, 1)
    with pytest.raises(SecurityError):
        concat_kdf(bytes(32), b"", 65, 1)
    with pytest.raises(UnsupportedSecurityError):
        derive_key(bytes(32), 0, CLIENT_ST, SERVER_ST)
