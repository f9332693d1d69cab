"""X.509 certificates for DLMS entities and the in-memory certificate store."""

from __future__ import annotations

import contextlib
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.types import Enumerated
from cosemnet.errors import DecodeError
from cosemnet.security.certificates import (
    CertificateEntity,
    CertificateInfo,
    CertificateStore,
    CertificateType,
    certificate_info,
    certificate_public_key,
    certificate_suite,
    certificate_system_title,
    certificate_to_der,
    certificate_to_pem,
    certificate_type,
    generate_ca_certificate,
    generate_certificate,
    is_issued_by,
    load_certificate,
    serial_number_bytes,
    system_title_name,
)
from cosemnet.security.ecc import EcKeyPair
from cosemnet.security.errors import SecurityError
from cosemnet.security.suite import SecuritySuite

H = bytes.fromhex
METER_ST = H("4D4D4D0000BC614E")
CLIENT_ST = H("4D4D4D0000000001")
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=3650)


@pytest.fixture(scope="module")
def ca256() -> tuple[EcKeyPair, x509.Certificate]:
    key = EcKeyPair.generate(1)
    cert = generate_ca_certificate(
        key=key.private_key,
        common_name="cosemnet test root P-256",
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    return key, cert


@pytest.fixture(scope="module")
def ca384() -> tuple[EcKeyPair, x509.Certificate]:
    key = EcKeyPair.generate(2)
    cert = generate_ca_certificate(
        key=key.private_key,
        common_name="cosemnet test root P-384",
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    return key, cert


def issue(
    ca: tuple[EcKeyPair, x509.Certificate],
    suite: int,
    system_title: bytes,
    kind: CertificateType,
    **kw: object,
) -> tuple[EcKeyPair, x509.Certificate]:
    key = EcKeyPair.generate(suite)
    cert = generate_certificate(
        subject_key=key.public_key,
        system_title=system_title,
        certificate_type=kind,
        issuer_key=ca[0].private_key,
        issuer_certificate=ca[1],
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        **kw,  # type: ignore[arg-type]
    )
    return key, cert


def test_subject_name_is_the_system_title_in_hex() -> None:
    assert system_title_name(METER_ST).rfc4514_string() == "CN=4D4D4D0000BC614E"
    with pytest.raises(SecurityError):
        system_title_name(METER_ST[:7])


def test_self_signed_signature_certificate(ca256: tuple[EcKeyPair, x509.Certificate]) -> None:
    key = EcKeyPair.generate(1)
    cert = generate_certificate(
        subject_key=key.public_key,
        system_title=METER_ST,
        certificate_type=CertificateType.DIGITAL_SIGNATURE,
        issuer_key=key.private_key,
        issuer_certificate=None,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        serial_number=0x1234,
    )
    assert cert.subject == cert.issuer
    assert is_issued_by(cert, cert)
    assert not is_issued_by(cert, ca256[1])
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_agreement
    assert certificate_type(cert) is CertificateType.DIGITAL_SIGNATURE
    assert certificate_system_title(cert) == METER_ST
    assert certificate_suite(cert) is SecuritySuite.SUITE_1
    assert certificate_public_key(cert) == key.public_key
    assert cert.not_valid_before_utc == NOT_BEFORE and cert.serial_number == 0x1234
    with pytest.raises(SecurityError):  # self-signed with a key that is not the subject's
        generate_certificate(
            subject_key=key.public_key,
            system_title=METER_ST,
            certificate_type=CertificateType.DIGITAL_SIGNATURE,
            issuer_key=EcKeyPair.generate(1).private_key,
            issuer_certificate=None,
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
        )


def test_ca_signed_key_agreement_certificate_suite_2(ca384: tuple[EcKeyPair, x509.Certificate]) -> None:
    _, cert = issue(ca384, 2, METER_ST, CertificateType.KEY_AGREEMENT)
    assert cert.issuer == ca384[1].subject
    assert is_issued_by(cert, ca384[1])
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA384)
    assert certificate_type(cert) is CertificateType.KEY_AGREEMENT
    assert certificate_suite(cert) is SecuritySuite.SUITE_2
    assert certificate_type(ca384[1]) is CertificateType.OTHER
    assert ca384[1].extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with pytest.raises(SecurityError):  # issuer key does not match the issuer certificate
        generate_certificate(
            subject_key=EcKeyPair.generate(2).public_key,
            system_title=METER_ST,
            certificate_type=CertificateType.KEY_AGREEMENT,
            issuer_key=EcKeyPair.generate(2).private_key,
            issuer_certificate=ca384[1],
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
        )


def test_tls_certificate_has_both_usages(ca256: tuple[EcKeyPair, x509.Certificate]) -> None:
    san = [x509.IPAddress(ipaddress.ip_address("2001:db8::1")), x509.DNSName("meter.example")]
    _, cert = issue(ca256, 1, METER_ST, CertificateType.TLS, subject_alt_names=san)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement
    assert certificate_type(cert) is CertificateType.TLS
    info = certificate_info(cert, CertificateEntity.SERVER)
    san_extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert info.subject_alt_name == san_extension.public_bytes()
    assert info.subject_alt_name[0] == 0x30 and b"meter.example" in info.subject_alt_name
    with pytest.raises(SecurityError):
        issue(ca256, 1, METER_ST, CertificateType.OTHER)


def test_sub_ca_chain(ca256: tuple[EcKeyPair, x509.Certificate]) -> None:
    sub_key = EcKeyPair.generate(1)
    sub = generate_ca_certificate(
        key=sub_key.private_key,
        common_name="sub CA",
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        issuer_key=ca256[0].private_key,
        issuer_certificate=ca256[1],
        path_length=0,
    )
    assert is_issued_by(sub, ca256[1])
    _, leaf = issue((sub_key, sub), 1, CLIENT_ST, CertificateType.DIGITAL_SIGNATURE)
    assert is_issued_by(leaf, sub) and not is_issued_by(leaf, ca256[1])
    with pytest.raises(SecurityError):
        generate_ca_certificate(
            key=sub_key.private_key,
            common_name="x",
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
            issuer_key=ca256[0].private_key,
        )


def test_der_and_pem_round_trip(ca256: tuple[EcKeyPair, x509.Certificate]) -> None:
    _, cert = issue(ca256, 1, METER_ST, CertificateType.DIGITAL_SIGNATURE)
    der, pem = certificate_to_der(cert), certificate_to_pem(cert)
    assert der[0] == 0x30 and pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert load_certificate(der) == cert
    assert load_certificate(pem) == cert
    assert load_certificate(b"\n" + pem) == cert
    assert certificate_to_der(load_certificate(pem)) == der
    with pytest.raises(DecodeError):
        load_certificate(der[:-5])
    with pytest.raises(DecodeError):
        load_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_load_certificate_raises_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        load_certificate(data)


def test_certificate_info(ca256: tuple[EcKeyPair, x509.Certificate]) -> None:
    _, cert = issue(ca256, 1, METER_ST, CertificateType.KEY_AGREEMENT, serial_number=0x00F1E2D3C4)
    info = certificate_info(cert, CertificateEntity.SERVER)
    assert info.certificate_entity is CertificateEntity.SERVER
    assert info.certificate_type is CertificateType.KEY_AGREEMENT
    assert info.serial_number == H("F1E2D3C4")
    assert info.issuer == ca256[1].subject.public_bytes()
    assert info.subject == cert.subject.public_bytes()
    assert info.subject_alt_name == b""
    value = info.to_data()
    assert value[:2] == (Enumerated(0), Enumerated(1))  # type: ignore[index]
    assert CertificateInfo.from_data(decode_data_exact(encode_data(value))) == info


@pytest.mark.parametrize(
    "value",
    [
        None,
        (Enumerated(0), Enumerated(1), b"", b"", b""),
        (0, Enumerated(1), b"", b"", b"", b""),
        (Enumerated(0), Enumerated(9), b"", b"", b"", b""),
        (Enumerated(0), Enumerated(1), b"", "issuer", b"", b""),
    ],
)
def test_malformed_certificate_info(value: object) -> None:
    with pytest.raises(DecodeError):
        CertificateInfo.from_data(value)  # type: ignore[arg-type]


def test_serial_number_bytes() -> None:
    assert serial_number_bytes(1) == b"\x01"
    assert serial_number_bytes(0x80) == b"\x80"
    assert serial_number_bytes(0x0100) == b"\x01\x00"
    with pytest.raises(SecurityError):
        serial_number_bytes(0)


def test_certificate_store_lookups(
    ca256: tuple[EcKeyPair, x509.Certificate], ca384: tuple[EcKeyPair, x509.Certificate]
) -> None:
    store = CertificateStore()
    _, meter_sign = issue(ca256, 1, METER_ST, CertificateType.DIGITAL_SIGNATURE, serial_number=10)
    _, meter_ka = issue(ca256, 1, METER_ST, CertificateType.KEY_AGREEMENT, serial_number=11)
    _, client_sign = issue(ca256, 1, CLIENT_ST, CertificateType.DIGITAL_SIGNATURE, serial_number=12)
    _, other_issuer = issue(ca384, 2, CLIENT_ST, CertificateType.DIGITAL_SIGNATURE, serial_number=10)
    store.add(ca256[1], CertificateEntity.CERTIFICATION_AUTHORITY)
    store.add(meter_sign, CertificateEntity.SERVER)
    store.add(meter_ka, CertificateEntity.SERVER)
    store.add(client_sign, CertificateEntity.CLIENT)
    store.add(other_issuer, CertificateEntity.CLIENT)
    assert len(store) == 5

    found = store.find_by_serial(11)
    assert found is not None and found.certificate == meter_ka
    assert store.find_by_serial(b"\x0b") == found
    by_issuer = store.find_by_serial(10, ca384[1].subject)
    assert by_issuer is not None and by_issuer.certificate == other_issuer
    by_der_issuer = store.find_by_serial(10, ca256[1].subject.public_bytes())
    assert by_der_issuer is not None and by_der_issuer.certificate == meter_sign
    assert store.find_by_serial(99) is None

    assert [e.certificate for e in store.find_all_by_system_title(METER_ST)] == [meter_sign, meter_ka]
    ka = store.find_by_system_title(METER_ST, CertificateType.KEY_AGREEMENT)
    assert ka is not None and ka.certificate == meter_ka and ka.system_title == METER_ST
    client = store.find_by_system_title(
        CLIENT_ST, CertificateType.DIGITAL_SIGNATURE, CertificateEntity.CLIENT
    )
    assert client is not None and client.certificate == client_sign
    assert store.find_by_system_title(CLIENT_ST, CertificateType.KEY_AGREEMENT) is None
    assert store.find_by_system_title(H("0000000000000000")) is None

    infos = store.certificate_infos()
    assert [i.certificate_entity for i in infos] == [2, 0, 0, 1, 1]
    assert infos[1].serial_number == b"\x0a" and infos[1].subject == meter_sign.subject.public_bytes()

    # same issuer and serial replaces; removal
    _, replacement = issue(ca256, 1, METER_ST, CertificateType.DIGITAL_SIGNATURE, serial_number=10)
    store.add(replacement, CertificateEntity.SERVER)
    assert len(store) == 5
    again = store.find_by_serial(10, ca256[1].subject)
    assert again is not None and again.certificate == replacement
    assert store.remove_by_serial(10, ca256[1].subject)
    assert not store.remove_by_serial(10, ca256[1].subject)
    assert len(store) == 4 and len(list(store)) == 4


def test_system_title_only_from_a_hex_common_name(ca256: tuple[EcKeyPair, x509.Certificate]) -> None:
    assert certificate_system_title(ca256[1]) is None
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ZZZZZZZZZZZZZZZZ")])
    key = EcKeyPair.generate(1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .sign(key.private_key, hashes.SHA256())
    )
    assert certificate_system_title(cert) is None
    assert certificate_type(cert) is CertificateType.OTHER  # no KeyUsage


@pytest.fixture(scope="module")
def sample_der(ca256: tuple[EcKeyPair, x509.Certificate]) -> bytes:
    _, cert = issue(ca256, 1, METER_ST, CertificateType.TLS, serial_number=1)
    return certificate_to_der(cert)


def test_non_positive_serial_is_rejected(sample_der: bytes) -> None:
    header = H("A003020102020101")  # [0] version v3, serial INTEGER 1
    assert sample_der.count(header) == 1
    for serial in (b"\x00", b"\xff"):
        with pytest.raises(DecodeError):
            load_certificate(sample_der.replace(header, header[:-1] + serial))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_certificates_raise_only_decode_error(sample_der: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(sample_der) - 1))
    value = data.draw(st.integers(0, 255))
    mutated = sample_der[:position] + bytes((value,)) + sample_der[position + 1 :]
    try:
        cert = load_certificate(mutated)
    except DecodeError:
        return
    # what loads can be inspected without surprises
    certificate_info(cert, CertificateEntity.SERVER)
    certificate_system_title(cert)
    is_issued_by(cert, cert)
