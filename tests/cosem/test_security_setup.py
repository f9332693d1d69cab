"""Security setup: key_transfer (RFC 3394 vector), deferred keys, security_activate, key pairs and
CSRs, certificate import/export/remove, key_agreement against the client side of the security layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cosemnet.codec.types import DoubleLongUnsigned, Enumerated
from cosemnet.cosem import AccessContext, KeyPairType, SecurityPolicy, SecuritySetup
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult
from cosemnet.security.agreement import EphemeralKeyAgreement, Role
from cosemnet.security.certificates import (
    CertificateEntity,
    CertificateType,
    certificate_to_der,
    generate_ca_certificate,
    generate_certificate,
    load_certificate,
    serial_number_bytes,
)
from cosemnet.security.ecc import generate_private_key
from cosemnet.security.keys import GlobalKeyType, KeySet
from cosemnet.security.keywrap import key_transfer_data, wrap_key
from cosemnet.security.suite import SecuritySuite

from .helpers import T0, meter, roundtrip

H = bytes.fromhex
KEK = H("000102030405060708090A0B0C0D0E0F")
NEW_KEY = H("00112233445566778899AABBCCDDEEFF")
WRAPPED = H("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")  # RFC 3394 4.1
SERVER_ST = H("4D4D4D0000BC614E")
CLIENT_ST = H("4D4D4D0000000001")
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = NOT_BEFORE + timedelta(days=365)


def setup(
    suite: SecuritySuite = SecuritySuite.SUITE_0, **kwargs: object
) -> tuple[SecuritySetup, AccessContext]:
    device, effects = meter()
    security = device.add(
        SecuritySetup(server_system_title=SERVER_ST, security_suite=suite, keys=KeySet(kek=KEK), **kwargs)  # type: ignore[arg-type]
    )
    return security, AccessContext(now=T0, effects=effects)


def test_key_transfer_rfc3394_vector() -> None:
    security, ctx = setup()
    assert security.action(2, [(Enumerated(0), WRAPPED)], ctx) is None
    assert security.keys.ek == NEW_KEY
    assert ctx.effects.recorded.key_changes == [(0,)]  # type: ignore[attr-defined]
    assert "0011" not in repr(security.keys) and "0011" not in repr(security)


def test_key_transfer_is_all_or_nothing() -> None:
    security, ctx = setup()
    bad = bytearray(WRAPPED)
    bad[-1] ^= 1
    with pytest.raises(CosemAccessError) as info:
        security.action(2, [(Enumerated(2), WRAPPED), (Enumerated(0), bytes(bad))], ctx)
    assert info.value.result is ActionResult.OTHER_REASON
    assert security.keys.ak is None and security.keys.ek is None
    with pytest.raises(CosemAccessError) as info:
        security.action(2, [(Enumerated(9), WRAPPED)], ctx)
    assert info.value.result is ActionResult.TYPE_UNMATCHED
    with pytest.raises(CosemAccessError):
        security.action(2, [(Enumerated(0), WRAPPED), (Enumerated(0), WRAPPED)], ctx)
    long_key = wrap_key(KEK, bytes(32))
    with pytest.raises(CosemAccessError):  # 32-byte key in suite 0
        security.action(2, [(Enumerated(0), long_key)], ctx)
    no_kek, ctx2 = setup()
    no_kek.keys.kek = None
    with pytest.raises(CosemAccessError):
        no_kek.action(2, [(Enumerated(0), WRAPPED)], ctx2)


def test_deferred_key_change_and_new_master_key() -> None:
    security, ctx = setup(defer_key_changes=True)
    new_kek = bytes(range(16, 32))
    data = key_transfer_data(KEK, {GlobalKeyType.AUTHENTICATION: NEW_KEY, GlobalKeyType.MASTER_KEY: new_kek})
    security.action(2, data, ctx)
    assert security.keys.ak is None and security.keys.kek == KEK  # still the old keys for the response
    assert security.commit_pending_keys() == (GlobalKeyType.AUTHENTICATION, GlobalKeyType.MASTER_KEY)
    assert security.keys.ak == NEW_KEY and security.keys.kek == new_kek and security.pending_keys == {}


def test_security_activate() -> None:
    security, ctx = setup()
    policy = SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.ENCRYPTED_REQUEST
    with pytest.raises(CosemAccessError) as info:
        security.action(1, Enumerated(policy), ctx)  # no keys yet
    assert info.value.result is ActionResult.OTHER_REASON
    security.keys.ek = NEW_KEY
    security.keys.ak = NEW_KEY
    security.action(1, Enumerated(policy), ctx)
    assert security.get(2, ctx) == Enumerated(0x0C)
    assert ctx.effects.recorded.policies == [0x0C]  # type: ignore[attr-defined]
    with pytest.raises(CosemAccessError) as info:
        security.action(1, Enumerated(SecurityPolicy.AUTHENTICATED_REQUEST), ctx)  # lowering
    assert info.value.result is ActionResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError) as info:
        security.action(1, Enumerated(0x01), ctx)  # unknown bit
    assert info.value.result is ActionResult.TYPE_UNMATCHED
    with pytest.raises(CosemAccessError) as info:
        security.set(2, Enumerated(0), ctx)
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED


def test_suite_0_has_no_public_key_methods() -> None:
    security, ctx = setup()
    for method, parameter in ((4, Enumerated(0)), (5, Enumerated(0)), (3, [(Enumerated(0), b"")])):
        with pytest.raises(CosemAccessError) as info:
            security.action(method, parameter, ctx)
        assert info.value.result is ActionResult.OTHER_REASON


def test_key_pair_and_certificate_request() -> None:
    security, ctx = setup(SecuritySuite.SUITE_1)
    with pytest.raises(CosemAccessError):
        security.action(5, Enumerated(KeyPairType.DIGITAL_SIGNATURE), ctx)  # no key pair yet
    security.action(4, Enumerated(KeyPairType.DIGITAL_SIGNATURE), ctx)
    der = security.action(5, Enumerated(KeyPairType.DIGITAL_SIGNATURE), ctx)
    assert isinstance(der, bytes)
    csr = x509.load_der_x509_csr(der)
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SERVER_ST.hex().upper()
    key = security.private_key(KeyPairType.DIGITAL_SIGNATURE)
    assert key is not None and csr.public_key() == key.public_key()
    with pytest.raises(CosemAccessError):
        security.action(4, Enumerated(3), ctx)


def certificates(
    security: SecuritySetup,
) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_key = generate_private_key(1)
    ca = generate_ca_certificate(
        key=ca_key, common_name="test root", not_before=NOT_BEFORE, not_after=NOT_AFTER
    )
    client_key = generate_private_key(1)
    client = generate_certificate(
        subject_key=client_key.public_key(),
        system_title=CLIENT_ST,
        certificate_type=CertificateType.DIGITAL_SIGNATURE,
        issuer_key=ca_key,
        issuer_certificate=ca,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    server_key = security.generate_key_pair(KeyPairType.DIGITAL_SIGNATURE)
    server = generate_certificate(
        subject_key=server_key.public_key(),
        system_title=SERVER_ST,
        certificate_type=CertificateType.DIGITAL_SIGNATURE,
        issuer_key=ca_key,
        issuer_certificate=ca,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    return ca, client, server, client_key


def test_certificate_import_export_remove() -> None:
    security, ctx = setup(SecuritySuite.SUITE_1, client_system_title=CLIENT_ST)
    ca, client, server, _ = certificates(security)
    for cert in (ca, client, server):
        security.action(6, certificate_to_der(cert), ctx)
    infos = security.get(6, ctx)
    roundtrip(infos)
    assert [i[0] for i in infos] == [  # type: ignore[index, union-attr]
        Enumerated(CertificateEntity.CERTIFICATION_AUTHORITY),
        Enumerated(CertificateEntity.CLIENT),
        Enumerated(CertificateEntity.SERVER),
    ]
    by_entity = (
        Enumerated(0),
        (Enumerated(CertificateEntity.CLIENT), Enumerated(CertificateType.DIGITAL_SIGNATURE), CLIENT_ST),
    )
    exported = security.action(7, by_entity, ctx)
    assert isinstance(exported, bytes) and load_certificate(exported) == client
    by_serial = (Enumerated(1), (serial_number_bytes(server.serial_number), server.issuer.public_bytes()))
    assert security.action(7, by_serial, ctx) == certificate_to_der(server)
    security.action(8, by_serial, ctx)
    with pytest.raises(CosemAccessError) as info:
        security.action(7, by_serial, ctx)
    assert info.value.result is ActionResult.OTHER_REASON
    assert len(security.get(6, ctx)) == 2  # type: ignore[arg-type]
    with pytest.raises(CosemAccessError):
        security.action(6, b"not a certificate", ctx)
    with pytest.raises(CosemAccessError):
        security.action(7, (Enumerated(2), ()), ctx)
    with pytest.raises(CosemAccessError):
        security.action(7, (Enumerated(0), (Enumerated(9), Enumerated(0), CLIENT_ST)), ctx)


def test_server_certificate_must_certify_an_own_key() -> None:
    security, ctx = setup(SecuritySuite.SUITE_1)
    _, _, server, _ = certificates(security)
    security.generate_key_pair(KeyPairType.DIGITAL_SIGNATURE)  # replaced: the certificate no longer matches
    with pytest.raises(CosemAccessError) as info:
        security.action(6, certificate_to_der(server), ctx)
    assert info.value.result is ActionResult.OTHER_REASON


def test_key_agreement_with_the_client_side() -> None:
    security, ctx = setup(SecuritySuite.SUITE_1, client_system_title=CLIENT_ST)
    _, client_cert, _, client_key = certificates(security)
    server_key = security.private_key(KeyPairType.DIGITAL_SIGNATURE)
    assert server_key is not None
    with pytest.raises(CosemAccessError):  # the client's certificate is not known yet
        security.action(3, [(Enumerated(0), b"")], ctx)
    security.action(6, certificate_to_der(client_cert), ctx)
    client = EphemeralKeyAgreement(
        1,
        Role.CLIENT,
        signing_key=client_key,
        peer_signing_key=server_key.public_key(),
        client_system_title=CLIENT_ST,
        server_system_title=SERVER_ST,
    )
    request = client.create_request([GlobalKeyType.UNICAST_ENCRYPTION, GlobalKeyType.AUTHENTICATION])
    response = security.action(3, request, ctx)
    roundtrip(response)
    keys = client.process_response(response)  # type: ignore[arg-type]
    assert keys[GlobalKeyType.UNICAST_ENCRYPTION] == security.keys.ek
    assert keys[GlobalKeyType.AUTHENTICATION] == security.keys.ak
    assert len(security.keys.ek or b"") == 16
    forged = [(Enumerated(0), bytes(128))]
    with pytest.raises(CosemAccessError) as info:
        security.action(3, forged, ctx)
    assert info.value.result is ActionResult.OTHER_REASON
    with pytest.raises(CosemAccessError) as info:
        security.action(3, DoubleLongUnsigned(1), ctx)
    assert info.value.result is ActionResult.TYPE_UNMATCHED
