"""ECC primitives of suites 1 and 2: key formats, ECDSA (raw r || s), ECDH, HLS mechanism 7.

Public vectors:

* Green Book Ed. 8 Table C.1 (as reproduced in the public Honeywell/EnergyICT Connexo protocol test
  ``ECDSASignatureImplTest`` and Gurux ``GXSymmetricTest``): the client signing key pair and its
  signature ``Epub-K-Sig-C`` of ``key_id || ephemeral public key``; the server signing key pair.
* NSA "Suite B Implementer's Guide to FIPS 186-3 (ECDSA)", P-384 example (same Connexo test).
* Green Book Tables C.1/C.2 ECDH shared secrets (Connexo ``KeyAgreementImplTest``).
"""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.errors import DecodeError
from cosemnet.security.ecc import (
    EcKeyPair,
    coordinate_length,
    ecdh_shared_secret,
    ecdsa_sign,
    ecdsa_verify,
    generate_private_key,
    hash_data,
    hls7_sign,
    hls7_verify,
    private_key_from_bytes,
    private_key_to_bytes,
    public_key_from_bytes,
    public_key_from_spki,
    public_key_length,
    public_key_to_bytes,
    public_key_to_spki,
    signature_from_der,
    signature_length,
    signature_to_der,
    suite_for_curve,
)
from cosemnet.security.errors import InvalidKeyError, SecurityError, UnsupportedSecurityError
from cosemnet.security.suite import SecuritySuite

H = bytes.fromhex

# Green Book Table C.1: client signing key, server signing key
CLIENT_SIGNING_PRIVATE = H("418073C239FA6125011DE4D6CD2E645780289F761BB21BFB0835CB5585E8B373")
CLIENT_SIGNING_PUBLIC = H(
    "BAAFFDE06A8CB1C9DAE8D94023C601DBBB249254BA22EDD827E820BCA2BCC643"
    "62FBB83D86A82B87BB8B7161D2AAB5521911A946B97A284A90F7785CD9047D25"
)
SERVER_SIGNING_PRIVATE = H("AE55414FFE079F9FC95649536BD1C2B5653D200813727E07D501A8B550C69207")
SERVER_SIGNING_PUBLIC = H(
    "933ACF15B03A9248E029B2787FB52A0AECAF635F07C42A0019FB3197E38F8F54"
    "9A125EA36781B0CA96BE89A0E1FE2CF9B7361ED48B3C5E24592B9C0F4EDD31D1"
)
CLIENT_EPHEMERAL_PUBLIC = H(
    "2914D60E10AB705F62ED6CC349D7CB99B9AB3F3978E59278C7AF595B3AF98794"
    "1372DAB6D5AF1FA867E134167E6F23DE664A6693E05F43414611058D1B48F894"
)
EPUB_K_SIG_C = H(
    "06F0607702AA0E2435A183E2F6B1ECD19629712E389A213610C03F77B2590860"
    "EA840AF5C3FA1F2BCDF055D4744E9A01CE9A0E55026BCAA4EEBEB764CED64BB3"
)

# NSA Suite B Implementer's Guide to FIPS 186-3, P-384 example
P384_PRIVATE = H(
    "c838b85253ef8dc7394fa5808a5183981c7deef5a69ba8f4f2117ffea39cfcd90e95f6cbc854abacab701d50c1f3cf24"
)
P384_PUBLIC = H(
    "1fbac8eebd0cbf35640b39efe0808dd774debff20a2a329e91713baf7d7f3c3e81546d883730bee7e48678f857b02ca0"
    "eb213103bd68ce343365a8a4c3d4555fa385f5330203bdd76ffad1f3affb95751c132007e1b240353cb0a4cf1693bdf9"
)
P384_MESSAGE = b"This is only a test message. It is 48 bytes long"
P384_SIGNATURE = H(
    "a0c27ec893092dea1e1bd2ccfed3cf945c8134ed0c9f81311a0f4a05942db8dbed8dd59f267471d5462aa14fe72de856"
    "20ab3f45b74f10b6e11f96a2c8eb694d206b9dda86d3c7e331c26b22c987b7537726577667adadf168ebbe803794a402"
)

SUITES = [SecuritySuite.SUITE_1, SecuritySuite.SUITE_2]


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


# -- suite parameters --------------------------------------------------------------------------------


def test_lengths_per_suite() -> None:
    assert (coordinate_length(1), public_key_length(1), signature_length(1)) == (32, 64, 64)
    assert (coordinate_length(2), public_key_length(2), signature_length(2)) == (48, 96, 96)
    assert hash_data(b"abc", 1).hex().startswith("ba7816bf")  # FIPS 180 SHA-256("abc")
    assert hash_data(b"abc", 2).hex().startswith("cb00753f")  # FIPS 180 SHA-384("abc")


@pytest.mark.parametrize("suite", [0, 3, 15])
def test_suites_without_public_key_algorithms_are_refused(suite: int) -> None:
    with pytest.raises(UnsupportedSecurityError):
        generate_private_key(suite)
    with pytest.raises(UnsupportedSecurityError):
        ecdsa_verify(CLIENT_SIGNING_PUBLIC, b"x", bytes(64), suite)


def test_suite_for_curve() -> None:
    assert suite_for_curve(ec.SECP256R1()) is SecuritySuite.SUITE_1
    assert suite_for_curve(ec.SECP384R1()) is SecuritySuite.SUITE_2
    with pytest.raises(UnsupportedSecurityError):
        suite_for_curve(ec.SECP521R1())


# -- keys --------------------------------------------------------------------------------------------


def test_green_book_key_pairs_derive_their_public_keys() -> None:
    assert EcKeyPair.from_private_bytes(1, CLIENT_SIGNING_PRIVATE).public_bytes() == CLIENT_SIGNING_PUBLIC
    assert EcKeyPair.from_private_bytes(1, SERVER_SIGNING_PRIVATE).public_bytes() == SERVER_SIGNING_PUBLIC
    assert EcKeyPair.from_private_bytes(2, P384_PRIVATE).public_bytes() == P384_PUBLIC


@pytest.mark.parametrize("suite", SUITES)
def test_generated_keys_are_fresh_and_round_trip(suite: SecuritySuite) -> None:
    a, b = EcKeyPair.generate(suite), EcKeyPair.generate(suite)
    assert a.public_bytes() != b.public_bytes()
    assert len(a.public_bytes()) == public_key_length(suite)
    scalar = private_key_to_bytes(a.private_key)
    assert len(scalar) == coordinate_length(suite)
    again = private_key_from_bytes(suite, scalar)
    assert public_key_to_bytes(again.public_key()) == a.public_bytes()


def test_key_pair_repr_hides_the_private_key() -> None:
    pair = EcKeyPair.from_private_bytes(1, CLIENT_SIGNING_PRIVATE)
    text = repr(pair)
    assert "418073" not in text.upper() and CLIENT_SIGNING_PRIVATE.hex() not in text.lower()
    assert "private_key" not in text


def test_key_pair_rejects_a_key_of_the_other_suite() -> None:
    with pytest.raises(InvalidKeyError):
        EcKeyPair(SecuritySuite.SUITE_2, private_key_from_bytes(1, CLIENT_SIGNING_PRIVATE))


@pytest.mark.parametrize("scalar", [bytes(32), b"\xff" * 32, bytes(31) + b"\x01" + b"\x00"])
def test_bad_private_scalars(scalar: bytes) -> None:
    with pytest.raises(InvalidKeyError) as info:
        private_key_from_bytes(1, scalar)
    assert scalar.hex() not in str(info.value)


@pytest.mark.parametrize("suite", SUITES)
def test_public_key_wire_and_spki_round_trip(suite: SecuritySuite) -> None:
    key = generate_private_key(suite).public_key()
    raw = public_key_to_bytes(key)
    assert raw[0:1] != b"" and len(raw) == public_key_length(suite)
    assert public_key_to_bytes(public_key_from_bytes(suite, raw)) == raw
    spki = public_key_to_spki(key)
    assert spki[0] == 0x30
    assert public_key_to_bytes(public_key_from_spki(spki)) == raw


def test_public_key_parsing_errors() -> None:
    with pytest.raises(DecodeError):
        public_key_from_bytes(1, CLIENT_SIGNING_PUBLIC[:-1])
    with pytest.raises(DecodeError):
        public_key_from_bytes(1, b"\x04" + CLIENT_SIGNING_PUBLIC)  # the 0x04 prefix is not on the wire
    with pytest.raises(DecodeError):
        public_key_from_bytes(1, flip(CLIENT_SIGNING_PUBLIC, 63))  # not on the curve
    with pytest.raises(DecodeError):
        public_key_from_bytes(2, CLIENT_SIGNING_PUBLIC)  # P-256 key, P-384 suite
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    from cryptography.hazmat.primitives import serialization

    ed_spki = ed.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(DecodeError):
        public_key_from_spki(ed_spki)
    with pytest.raises(DecodeError):
        public_key_from_spki(b"\x30\x03\x02\x01\x00")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120), st.sampled_from(SUITES))
def test_public_key_parsers_raise_only_decode_error(data: bytes, suite: SecuritySuite) -> None:
    for parse in (lambda: public_key_from_bytes(suite, data), lambda: public_key_from_spki(data)):
        with contextlib.suppress(DecodeError):
            parse()


# -- ECDSA -------------------------------------------------------------------------------------------


def test_green_book_ephemeral_key_signature_verifies() -> None:
    signed = b"\x00" + CLIENT_EPHEMERAL_PUBLIC  # key_id 0 || ephemeral public key
    assert ecdsa_verify(CLIENT_SIGNING_PUBLIC, signed, EPUB_K_SIG_C, 1)
    # the Connexo test's invalid variant (one bit of s changed) and the unprefixed data both fail
    assert not ecdsa_verify(CLIENT_SIGNING_PUBLIC, signed, EPUB_K_SIG_C[:-2] + H("4FB3"), 1)
    assert not ecdsa_verify(CLIENT_SIGNING_PUBLIC, CLIENT_EPHEMERAL_PUBLIC, EPUB_K_SIG_C, 1)
    assert not ecdsa_verify(SERVER_SIGNING_PUBLIC, signed, EPUB_K_SIG_C, 1)


def test_suite_b_p384_signature_verifies() -> None:
    assert ecdsa_verify(P384_PUBLIC, P384_MESSAGE, P384_SIGNATURE, 2)
    assert not ecdsa_verify(P384_PUBLIC, P384_MESSAGE, P384_SIGNATURE[:-2] + H("a502"), 2)
    assert not ecdsa_verify(P384_PUBLIC, P384_MESSAGE + b".", P384_SIGNATURE, 2)


@pytest.mark.parametrize("suite", SUITES)
def test_sign_verify_round_trip_and_tampering(suite: SecuritySuite) -> None:
    pair, other = EcKeyPair.generate(suite), EcKeyPair.generate(suite)
    data = b"DLMS" * 20
    signature = ecdsa_sign(pair.private_key, data, suite)
    assert len(signature) == signature_length(suite)
    assert ecdsa_verify(pair.public_key, data, signature, suite)
    assert ecdsa_verify(pair.public_bytes(), data, signature, suite)  # wire-form key
    assert not ecdsa_verify(pair.public_key, data + b"\x00", signature, suite)
    assert not ecdsa_verify(pair.public_key, flip(data, 3), signature, suite)
    for index in (0, len(signature) // 2, len(signature) - 1):
        assert not ecdsa_verify(pair.public_key, data, flip(signature, index), suite)
    assert not ecdsa_verify(other.public_key, data, signature, suite)  # wrong key
    assert not ecdsa_verify(pair.public_key, data, signature[:-1], suite)  # wrong length
    assert not ecdsa_verify(pair.public_key, data, bytes(len(signature)), suite)  # r = s = 0
    assert not ecdsa_verify(b"\x00" * public_key_length(suite), data, signature, suite)  # bad key bytes


def test_verify_with_a_key_of_the_other_curve_is_false() -> None:
    p256, p384 = EcKeyPair.generate(1), EcKeyPair.generate(2)
    signature = ecdsa_sign(p256.private_key, b"x", 1)
    assert not ecdsa_verify(p384.public_key, b"x", signature, 1)
    with pytest.raises(SecurityError):
        ecdsa_sign(p384.private_key, b"x", 1)


@pytest.mark.parametrize("suite", SUITES)
def test_signature_is_the_der_signature_in_raw_form(suite: SecuritySuite) -> None:
    pair = EcKeyPair.generate(suite)
    signature = ecdsa_sign(pair.private_key, b"abc", suite)
    half = coordinate_length(suite)
    r, s = decode_dss_signature(signature_to_der(signature, suite))
    assert (r.to_bytes(half, "big"), s.to_bytes(half, "big")) == (signature[:half], signature[half:])


@settings(max_examples=100)
@given(st.sampled_from(SUITES), st.data())
def test_raw_der_signature_conversion_round_trips(suite: SecuritySuite, data: st.DataObject) -> None:
    half = coordinate_length(suite)
    r = data.draw(st.integers(1, 2 ** (8 * half) - 1))
    s = data.draw(st.integers(1, 2 ** (8 * half) - 1))
    raw = r.to_bytes(half, "big") + s.to_bytes(half, "big")
    assert signature_from_der(signature_to_der(raw, suite), suite) == raw


def test_signature_conversion_errors() -> None:
    with pytest.raises(DecodeError):
        signature_to_der(bytes(63), 1)
    with pytest.raises(DecodeError):
        signature_from_der(b"\x30\x00garbage", 1)
    too_big = signature_to_der(b"\xff" * 96, 2)
    with pytest.raises(DecodeError):
        signature_from_der(too_big, 1)


@pytest.mark.parametrize("suite", SUITES)
def test_hls7_round_trip(suite: SecuritySuite) -> None:
    client, server = EcKeyPair.generate(suite), EcKeyPair.generate(suite)
    to_sign = b"CLIENT01" + b"SERVER01" + b"StoC-challenge" + b"CtoS-challenge"
    signature = hls7_sign(client.private_key, to_sign, suite)
    assert hls7_verify(client.public_key, to_sign, signature, suite)
    assert hls7_verify(client.public_bytes(), to_sign, signature, suite)
    assert not hls7_verify(server.public_key, to_sign, signature, suite)
    assert not hls7_verify(client.public_key, to_sign[:-1], signature, suite)


# -- ECDH --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("private", "peer_public", "z"),
    [
        pytest.param(  # Table C.1 ephemeral unified model, server side
            "34A8C23A34DBB519D09B245754C85A6CFE05D14A063EFA5AA41545AA8241EFAE",
            CLIENT_EPHEMERAL_PUBLIC.hex(),
            "C1CF8FE7891AEF3617D7190795E61FE6C24EFC3CCA2E08469BAD1A225CE6EA08",
            id="eum-server",
        ),
        pytest.param(  # Table C.2 one-pass DH, server's static KA key x client's ephemeral key
            "AAD3FD0732E991CF52A74C66C1F2827DDC53522A2E0A169D7C4FFCC0FB5D6A4D",
            "C323C2BD45711DE4688637D919F92E9DB8FB2DFC213A88D21C9DC8DCBA917D81"
            "70511DE1BADB360D50058F794B0960AE11FA28D392CFF907A62D13E3357B1DC0",
            "0D4385BA0DD756CBCAB9887EB538396EE8F090A14C1079B4359F115B977F4615",
            id="one-pass-to-server",
        ),
        pytest.param(  # Table C.2 one-pass DH, client's static KA key x server's ephemeral key
            "A51C16FF5C498FCC89323D4A9267CD71BF81FD6F6A891CD240DA7F3D6F283E65",
            "6439724714B47CD9CB988897D8424AB946DCD083D37A954637616011B9C23787"
            "73295F0F850D8DAFD1BBE9FE666E53E4F097CD10B38B69622152724A90987444",
            "2B4302DC49790E2E78D990CFB52ED6E2F273DECE441A2D95E4301B93812A9FAC",
            id="one-pass-to-client",
        ),
    ],
)
def test_green_book_shared_secrets(private: str, peer_public: str, z: str) -> None:
    key = private_key_from_bytes(1, H(private))
    assert ecdh_shared_secret(key, H(peer_public), 1) == H(z)


@pytest.mark.parametrize("suite", SUITES)
def test_ecdh_is_symmetric(suite: SecuritySuite) -> None:
    a, b = EcKeyPair.generate(suite), EcKeyPair.generate(suite)
    z = ecdh_shared_secret(a.private_key, b.public_bytes(), suite)
    assert z == ecdh_shared_secret(b.private_key, a.public_key, suite)
    assert len(z) == coordinate_length(suite)


def test_ecdh_rejects_bad_peer_keys() -> None:
    own = EcKeyPair.generate(1)
    with pytest.raises(DecodeError):
        ecdh_shared_secret(own.private_key, flip(CLIENT_SIGNING_PUBLIC, 10), 1)
    with pytest.raises(InvalidKeyError):
        ecdh_shared_secret(own.private_key, EcKeyPair.generate(2).public_key, 1)


@pytest.mark.parametrize(
    ("suite", "order"),
    [
        (1, 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
        (
            2,
            int(
                "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
                16,
            ),
        ),
    ],
)
def test_private_scalar_range_is_the_curve_order(suite: int, order: int) -> None:
    size = coordinate_length(suite)
    private_key_from_bytes(suite, (order - 1).to_bytes(size, "big"))
    private_key_from_bytes(suite, (1).to_bytes(size, "big"))
    with pytest.raises(InvalidKeyError):
        private_key_from_bytes(suite, order.to_bytes(size, "big"))
