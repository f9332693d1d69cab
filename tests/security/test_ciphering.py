"""AES-GCM ciphering of xDLMS content: Green Book suite-0 vectors, the ciphered AARQ, tampering."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.ciphered import ServiceSpecificCiphered, parse_ciphered_apdu
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security import (
    AuthenticationError,
    InvalidKeyError,
    KeyMissingError,
    SecuritySuite,
    UnsupportedSecurityError,
)
from cosemnet.security.ciphering import (
    decrypt,
    encrypt,
    gcm_decrypt,
    gcm_decrypt_reference,
    gcm_encrypt,
    gmac,
)
from cosemnet.security.control import SecurityControl

H = bytes.fromhex
EK = H("000102030405060708090A0B0C0D0E0F")
AK = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = H("4D4D4D0000BC614E")
IC = 0x01234567
GET_CLOCK = H("C0010000080000010000FF0200")

VECTORS = {
    0x10: H("C81E1001234567C0010000080000010000FF020006725D910F9221D263877516"),
    0x20: H("C8122001234567411312FF935A47566827C467BC"),
    0x30: H("C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B"),
}

CIPHERED_AARQ = H(
    "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201AC0A80083132333435363738"
    "BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39EE6FDB"
    "8E356855"
)


@pytest.mark.parametrize("sc", sorted(VECTORS))
def test_green_book_vectors(sc: int) -> None:
    content = encrypt(sc, SERVER_TITLE, IC, EK, AK, GET_CLOCK)
    assert ServiceSpecificCiphered.for_plain_tag(0xC0, content).encode() == VECTORS[sc]
    assert decrypt(SERVER_TITLE, EK, AK, content) == GET_CLOCK
    parts = parse_ciphered_apdu(VECTORS[sc], SERVER_TITLE)
    assert parts.header.security_control == sc and parts.header.invocation_counter == IC
    assert decrypt(SERVER_TITLE, EK, AK, VECTORS[sc][2:]) == GET_CLOCK


def test_security_control_object_accepted() -> None:
    sc = SecurityControl(0, authentication=True, encryption=True)
    assert encrypt(sc, SERVER_TITLE, IC, EK, AK, GET_CLOCK) == VECTORS[0x30][2:]


def test_ciphered_aarq_user_information() -> None:
    # user-information BE 34 / octet string 04 32 / glo-initiate-request 21 30 / SC IC ct tag
    start = CIPHERED_AARQ.index(H("BE3404322130"))
    user_information = CIPHERED_AARQ[start + 4 :]
    assert user_information[0] == 0x21 and len(user_information) == 0x32
    # the glo-initiate-request carries no system title: it is the AARQ calling-AP-title (A6 0A 04 08 ...)
    assert CIPHERED_AARQ[CIPHERED_AARQ.index(H("A60A0408")) + 4 :][:8] == SERVER_TITLE
    parts = parse_ciphered_apdu(user_information, SERVER_TITLE)
    assert parts.header.security_control == 0x30 and parts.header.invocation_counter == IC
    plain = decrypt(SERVER_TITLE, EK, AK, parts.envelope.ciphered_content)
    assert plain == H("01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0")
    initiate = pytest.importorskip("cosemnet.codec.initiate")
    request = initiate.InitiateRequest.decode(plain)
    assert request.dedicated_key == H("00112233445566778899AABBCCDDEEFF")
    assert int(request.proposed_conformance) == 0x007E1F
    assert request.client_max_receive_pdu_size == 1200
    assert request.proposed_dlms_version_number == 6


def test_ciphered_aarq_through_a_server_context() -> None:
    from cosemnet.security.ciphering import Role, SecurityContext, unprotect_apdu
    from cosemnet.security.control import SecurityPolicy
    from cosemnet.security.keys import KeySet

    start = CIPHERED_AARQ.index(H("BE3404322130"))
    policy = SecurityPolicy.from_version_0(3)
    # the meter learns the client's system title from the AARQ calling-AP-title
    server = SecurityContext(
        SecuritySuite.SUITE_0,
        policy,
        H("4D4D4D0000000001"),
        SERVER_TITLE,
        KeySet(ek=EK, ak=AK),
        role=Role.SERVER,
    )
    plain, envelope, header = unprotect_apdu(CIPHERED_AARQ[start + 4 :], server)
    assert plain[:3] == H("010110") and plain[3:19] == H("00112233445566778899AABBCCDDEEFF")
    assert isinstance(envelope, ServiceSpecificCiphered) and envelope.plain_tag == 0x01
    assert header is not None and header.invocation_counter == IC


@pytest.mark.parametrize("sc", [0x10, 0x30])
def test_tampering_any_byte_is_detected(sc: int) -> None:
    content = VECTORS[sc][2:]
    for i in range(len(content)):
        tampered = bytearray(content)
        tampered[i] ^= 0x01
        with pytest.raises((AuthenticationError, UnsupportedSecurityError)):
            decrypt(SERVER_TITLE, EK, AK, bytes(tampered))


def test_tampered_header_fields() -> None:
    content = bytearray(VECTORS[0x30][2:])
    content[4] ^= 0xFF  # IC -> different IV
    with pytest.raises(AuthenticationError):
        decrypt(SERVER_TITLE, EK, AK, bytes(content))
    content = bytearray(VECTORS[0x30][2:])
    content[0] = 0x10  # SC says authentication only: the ciphertext is taken as plaintext
    with pytest.raises(AuthenticationError):
        decrypt(SERVER_TITLE, EK, AK, bytes(content))
    content[0] = 0xB0  # compression
    with pytest.raises(UnsupportedSecurityError, match="compression"):
        decrypt(SERVER_TITLE, EK, AK, bytes(content))
    content[0] = 0x33  # suite 3
    with pytest.raises(UnsupportedSecurityError, match="suite 3"):
        decrypt(SERVER_TITLE, EK, AK, bytes(content))


def test_wrong_key_and_wrong_system_title() -> None:
    content = VECTORS[0x30][2:]
    with pytest.raises(AuthenticationError):
        decrypt(SERVER_TITLE, bytes(16), AK, content)
    with pytest.raises(AuthenticationError):
        decrypt(SERVER_TITLE, EK, bytes(16), content)
    with pytest.raises(AuthenticationError):
        decrypt(H("4D4D4D0000000001"), EK, AK, content)


def test_encryption_only_has_no_integrity() -> None:
    content = bytearray(VECTORS[0x20][2:])
    content[-1] ^= 0x01
    assert decrypt(SERVER_TITLE, EK, AK, bytes(content)) == GET_CLOCK[:-1] + bytes((GET_CLOCK[-1] ^ 1,))


def test_key_and_argument_errors() -> None:
    with pytest.raises(InvalidKeyError):
        encrypt(0x30, SERVER_TITLE, IC, EK[:15], AK, GET_CLOCK)
    with pytest.raises(InvalidKeyError):
        encrypt(0x32, SERVER_TITLE, IC, EK, AK, GET_CLOCK)  # suite 2 needs 32-byte keys
    with pytest.raises(KeyMissingError):
        encrypt(0x30, SERVER_TITLE, IC, EK, None, GET_CLOCK)
    with pytest.raises(KeyMissingError):
        decrypt(SERVER_TITLE, None, AK, VECTORS[0x30][2:])
    with pytest.raises(EncodeError):
        encrypt(0x30, SERVER_TITLE[:7], IC, EK, AK, GET_CLOCK)
    with pytest.raises(EncodeError):
        encrypt(0x30, SERVER_TITLE, 1 << 32, EK, AK, GET_CLOCK)
    with pytest.raises(UnsupportedSecurityError):
        encrypt(0xB0, SERVER_TITLE, IC, EK, AK, GET_CLOCK)
    with pytest.raises(DecodeError):
        decrypt(SERVER_TITLE, EK, AK, H("30000000"))
    with pytest.raises(AuthenticationError):
        decrypt(SERVER_TITLE, EK, AK, H("3000000001") + bytes(11))
    # neither bit set: the plaintext travels as is
    assert encrypt(0x00, SERVER_TITLE, IC, None, None, GET_CLOCK) == H("0001234567") + GET_CLOCK
    assert decrypt(SERVER_TITLE, None, None, H("0001234567") + GET_CLOCK) == GET_CLOCK


def test_gmac_is_tag_of_empty_plaintext() -> None:
    aad = b"\x10" + AK + GET_CLOCK
    assert gmac(EK, SERVER_TITLE + IC.to_bytes(4, "big"), aad) == H("06725D910F9221D263877516")


@settings(max_examples=200)
@given(
    key=st.sampled_from([EK, bytes(range(32))]),
    iv=st.binary(min_size=12, max_size=12),
    aad=st.binary(max_size=64),
    plaintext=st.binary(max_size=600),
    flip=st.integers(min_value=-1, max_value=700),
)
def test_fast_decrypt_matches_cipher_reference(
    key: bytes, iv: bytes, aad: bytes, plaintext: bytes, flip: int
) -> None:
    """gcm_decrypt (two AESGCM calls) agrees with Cipher(AES, GCM(tag, min_tag_length=12)) on
    valid and on tampered input."""
    data = bytearray(gcm_encrypt(key, iv, aad, plaintext))
    assert len(data) == len(plaintext) + 12
    if 0 <= flip < len(data):
        data[flip] ^= 0x80
    try:
        expected: bytes | None = gcm_decrypt_reference(key, iv, aad, bytes(data))
    except AuthenticationError:
        expected = None
    if expected is None:
        with pytest.raises(AuthenticationError):
            gcm_decrypt(key, iv, aad, bytes(data))
    else:
        assert gcm_decrypt(key, iv, aad, bytes(data)) == expected == plaintext


@given(
    sc=st.sampled_from([0x00, 0x10, 0x20, 0x30, 0x11, 0x21, 0x31, 0x12, 0x22, 0x32]),
    ic=st.integers(0, 0xFFFFFFFF),
    title=st.binary(min_size=8, max_size=8),
    plaintext=st.binary(max_size=300),
)
def test_encrypt_decrypt_round_trip(sc: int, ic: int, title: bytes, plaintext: bytes) -> None:
    length = 32 if sc & 0x0F == 2 else 16
    ek, ak = bytes(range(length)), bytes(range(100, 100 + length))
    content = encrypt(sc, title, ic, ek, ak, plaintext)
    assert content[0] == sc and int.from_bytes(content[1:5], "big") == ic
    overhead = {0x00: 0, 0x10: 12, 0x20: 0, 0x30: 12}[sc & 0x30]
    assert len(content) == 5 + len(plaintext) + overhead
    assert decrypt(title, ek, ak, content) == plaintext
