"""Ciphered and signed APDU envelopes (cosemnet.codec.ciphered): vectors, round trips, DecodeError only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.ciphered import (
    CIPHERED_TO_PLAIN,
    DED_TAGS,
    GLO_TAGS,
    AgreedKey,
    GeneralCiphering,
    GeneralDedCiphering,
    GeneralGloCiphering,
    GeneralSigning,
    IdentifiedKey,
    KekId,
    KeyId,
    ProtectedApdu,
    SecurityHeader,
    ServiceSpecificCiphered,
    WrappedKey,
    decode_protected_apdu,
    parse_ciphered_apdu,
    split_ciphered_content,
)
from cosemnet.errors import DecodeError, EncodeError

H = bytes.fromhex
SERVER_TITLE = H("4D4D4D0000BC614E")

# Green Book suite-0 vector (auth+enc) as glo-get-request
GLO_GET = H("C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B")

# Green Book Table 41 (as published by the dlms-cosem test suite): general-ciphering with agreed-key
TABLE_41 = H(
    "DD080102030405060708084D4D4D0000BC614E084D4D4D000000000100000102"
    "01018180C323C2BD45711DE4688637D919F92E9DB8FB2DFC213A88D21C9DC8DC"
    "BA917D8170511DE1BADB360D50058F794B0960AE11FA28D392CFF907A62D13E3"
    "357B1DC0B51BE089D0B682863B2217201E73A1A9031968A9B4121DCBC3281A69"
    "739AF87429F5B3AC5471E7B6A04A2C0F2F8A25FD772A317DF97FC5463FEAC248"
    "EB8AB8BE81EB3100000000F435069679270C5BF4425EE5777402A6C8D51C620E"
    "ED52DBB188378B836E2857D5C053E6DDF27FA87409AEF502CD9618AE47017C01"
    "0224FD109CC0BEB21E742D44AB40CD11908743EC90EC8C40E221D517F72228E1"
    "A26E827F43DC18ED27B5F458D66508B05A2A4CC6FED178C881AFC3BC67064689"
    "BE8BB41C80ABB3C114A31F4CB03B8B64C7E0B4CE77B2399C93347858888F9223"
    "9713B38DF01C4858245827A92EF334172EA636B31CBBDF2A96AD5D035F66AA38"
    "F1A2D97D4BBA99622E6B5F18789CECB2DFB3937D9F3E17F8B472098E6563238F"
    "37528374809836002AEA6E7012D2ADFAA7"
)

# a real gas meter's data-notification (spec-notes section 1; only its beginning is published, so
# the test rebuilds the rest of the payload)
GAS_METER_PREFIX = H("DB082F19229199164103")


def test_tag_tables_green_book() -> None:
    assert GLO_TAGS == {
        0x01: 0x21, 0x05: 0x25, 0x06: 0x26, 0x08: 0x28, 0x0C: 0x2C, 0x0D: 0x2D, 0x0E: 0x2E, 0x16: 0x36,
        0x18: 0x38, 0xC0: 0xC8, 0xC1: 0xC9, 0xC2: 0xCA, 0xC3: 0xCB, 0xC4: 0xCC, 0xC5: 0xCD, 0xC7: 0xCF,
    }  # fmt: skip
    assert {p: DED_TAGS[p] for p in (0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC7)} == {
        0xC0: 0xD0, 0xC1: 0xD1, 0xC2: 0xD2, 0xC3: 0xD3, 0xC4: 0xD4, 0xC5: 0xD5, 0xC7: 0xD7,
    }  # fmt: skip
    assert len(CIPHERED_TO_PLAIN) == len(GLO_TAGS) + len(DED_TAGS)
    assert not set(CIPHERED_TO_PLAIN) & {0xDB, 0xDC, 0xDD, 0xDF}


def test_service_specific_vector() -> None:
    apdu = ServiceSpecificCiphered.decode(GLO_GET)
    assert apdu.tag == 0xC8 and apdu.plain_tag == 0xC0 and not apdu.dedicated
    assert apdu.ciphered_content == GLO_GET[2:]
    assert apdu.encode() == GLO_GET
    parts = parse_ciphered_apdu(GLO_GET, SERVER_TITLE)
    assert parts.system_title == SERVER_TITLE
    assert parts.header == SecurityHeader(0x30, 0x01234567)
    assert parts.payload == GLO_GET[7:]
    assert parse_ciphered_apdu(GLO_GET).system_title is None


def test_ded_and_for_plain_tag() -> None:
    apdu = ServiceSpecificCiphered.for_plain_tag(0xC3, b"\x30\x00\x00\x00\x01", dedicated=True)
    assert apdu.tag == 0xD3 and apdu.dedicated
    with pytest.raises(EncodeError):
        ServiceSpecificCiphered.for_plain_tag(0x0F, b"")  # data-notification: general forms only
    with pytest.raises(EncodeError):
        ServiceSpecificCiphered(0xDB, b"").encode()


def test_general_glo_gas_meter_prefix() -> None:
    # wrapper length 0x0046 = 70 = tag + 9 (system title) + 1 (length 0x3B) + 59 content bytes
    content = H("30000001E5") + bytes(54)
    apdu = GAS_METER_PREFIX + H("3B") + content
    assert len(apdu) == 0x46
    env = GeneralGloCiphering.decode(apdu)
    assert env.system_title == H("2F19229199164103")
    parts = parse_ciphered_apdu(apdu)
    assert parts.system_title == env.system_title
    assert parts.header.security_control == 0x30 and parts.header.invocation_counter == 0x000001E5
    assert env.encode() == apdu


def test_table_41_general_ciphering() -> None:
    env = GeneralCiphering.decode(TABLE_41)
    assert env.transaction_id == H("0102030405060708")
    assert env.originator_system_title == SERVER_TITLE
    assert env.recipient_system_title == H("4D4D4D0000000001")
    assert env.date_time == b"" and env.other_information == b""
    assert isinstance(env.key_info, AgreedKey)
    assert env.key_info.key_parameters == b"\x01"
    assert env.key_info.key_ciphered_data[:4] == H("C323C2BD") and len(env.key_info.key_ciphered_data) == 128
    header, payload = split_ciphered_content(env.ciphered_content)
    assert header == SecurityHeader(0x31, 0)
    assert payload[:4] == H("F4350696") and payload[-4:] == H("D2ADFAA7")
    assert env.encode() == TABLE_41
    assert decode_protected_apdu(TABLE_41) == env


def test_general_signing_round_trip() -> None:
    sig = GeneralSigning(H("01"), SERVER_TITLE, b"", b"", b"", GLO_GET, bytes(64))
    raw = sig.encode()
    assert raw[0] == 0xDF and raw.endswith(b"\x40" + bytes(64))
    assert raw == sig.encode_signed_part() + b"\x40" + bytes(64)
    assert GeneralSigning.decode(raw) == sig
    with pytest.raises(DecodeError):
        parse_ciphered_apdu(raw)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "ends before"),
        (H("C8"), "ends before"),
        (H("C805300000"), "longer than the input"),
        (H("C8813000"), "non-minimal"),
        (H("C8820005") + bytes(5), "non-minimal"),
        (H("C885"), "length bytes"),
        (H("C80530000000") + b"\x01\x00", "trailing"),
        (H("C0"), "not a ciphered or signed"),
        (H("DB0800"), "longer than the input"),
        (H("DD000000000001030100"), "unknown key-info choice"),
        (H("DD00000000000200"), "OPTIONAL presence flag"),
        (H("DD00000000000100020100"), "unknown key-id"),
        (H("DD0000000000010101000100"), "unknown kek-id"),
    ],
)
def test_decode_errors(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_protected_apdu(data)
    assert reason in info.value.reason


def test_error_offsets_are_absolute() -> None:
    with pytest.raises(DecodeError) as info:
        GeneralGloCiphering.decode(H("DB02AAAA8103"))
    assert info.value.offset == 4
    with pytest.raises(DecodeError) as info:
        parse_ciphered_apdu(H("DB02AAAA03300000"))
    assert info.value.offset == 5


def test_short_content() -> None:
    with pytest.raises(DecodeError):
        parse_ciphered_apdu(H("C80430000000"))
    with pytest.raises(DecodeError):
        SecurityHeader.decode(H("30000000"))
    assert SecurityHeader.decode(H("3000000001")).encode() == H("3000000001")
    with pytest.raises(EncodeError):
        SecurityHeader(0x30, 1 << 32).encode()


octets = st.binary(max_size=300)
key_infos = st.one_of(
    st.none(),
    st.builds(IdentifiedKey, st.sampled_from(KeyId)),
    st.builds(WrappedKey, st.sampled_from(KekId), octets),
    st.builds(AgreedKey, octets, octets),
)
envelopes = st.one_of(
    st.builds(ServiceSpecificCiphered, st.sampled_from(sorted(CIPHERED_TO_PLAIN)), octets),
    st.builds(GeneralGloCiphering, octets, octets),
    st.builds(GeneralDedCiphering, octets, octets),
    st.builds(GeneralCiphering, octets, octets, octets, octets, octets, key_infos, octets),
    st.builds(GeneralSigning, octets, octets, octets, octets, octets, octets, octets),
)


@given(envelopes)
def test_round_trip(envelope: ProtectedApdu) -> None:
    raw = envelope.encode()
    decoded = decode_protected_apdu(raw)
    assert decoded == envelope
    assert type(decoded).decode(raw).encode() == raw


@given(envelopes, st.data())
def test_truncations_and_mutations_raise_decode_error_only(
    envelope: ProtectedApdu, data: st.DataObject
) -> None:
    raw = envelope.encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DecodeError):
        decode_protected_apdu(raw[:cut])
    pos = data.draw(st.integers(0, len(raw) - 1))
    mutated = bytearray(raw)
    mutated[pos] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_protected_apdu(bytes(mutated))
    except DecodeError:
        return
    assert decoded.encode() == bytes(mutated)


@given(st.binary(max_size=64))
def test_random_bytes_decode_error_only(raw: bytes) -> None:
    try:
        decoded = decode_protected_apdu(raw)
    except DecodeError:
        return
    assert decoded.encode() == raw
