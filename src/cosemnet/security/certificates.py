"""X.509 certificates of DLMS/COSEM entities (suites 1 and 2), and a small in-memory store.

DLMS certificate profile used here (Green Book 9.2.6 / IEC 62056-5-3 Annex H, as far as public):

* ECDSA keys on P-256 (suite 1) or P-384 (suite 2); certificates signed with ecdsa-with-SHA256 /
  ecdsa-with-SHA384 according to the issuer's curve;
* subject ``CN`` = the entity's system title as 16 upper-case hexadecimal characters;
* one certificate per key role, told apart by KeyUsage (critical), as Security setup's
  ``certificate_type`` does: digital signature -> ``digitalSignature``, key agreement ->
  ``keyAgreement``, TLS -> both; CA certificates: ``keyCertSign`` + ``cRLSign`` and
  BasicConstraints ``cA``.

:class:`CertificateInfo` is one element of Security setup's ``certificates`` attribute
(structure {certificate_entity, certificate_type, serial_number, issuer, subject, subject_alt_name}).
Design choice (the octet-string contents are not public): ``serial_number`` is the serial as a
minimal big-endian unsigned integer, ``issuer`` and ``subject`` are the DER-encoded X.501 Names as
they appear in the certificate, ``subject_alt_name`` is the DER value of the SubjectAltName
extension (empty when absent). Certificates of type "other" and CA certificates map to
``certificate_type`` OTHER.

Generation takes the validity period as arguments (no clock reads); serial numbers come from
:mod:`secrets`; all X.509 work is ``cryptography``'s.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtensionOID, NameOID

from cosemnet.codec.types import DataValue, Enumerated
from cosemnet.errors import DecodeError
from cosemnet.security.ecc import suite_for_curve
from cosemnet.security.errors import SecurityError
from cosemnet.security.suite import SecuritySuite


class CertificateEntity(IntEnum):
    """certificate_entity of Security setup."""

    SERVER = 0
    CLIENT = 1
    CERTIFICATION_AUTHORITY = 2
    OTHER = 3


class CertificateType(IntEnum):
    """certificate_type of Security setup: the role of the certified key."""

    DIGITAL_SIGNATURE = 0
    KEY_AGREEMENT = 1
    TLS = 2
    OTHER = 3


SYSTEM_TITLE_LENGTH = 8


# --------------------------------------------------------------------------------------------------
# Names and properties


def system_title_name(system_title: bytes) -> x509.Name:
    """The subject Name of a DLMS entity: ``CN=<system title in upper-case hex>``."""
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise SecurityError(f"system title of {len(system_title)} bytes, expected {SYSTEM_TITLE_LENGTH}")
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, bytes(system_title).hex().upper())])


def certificate_system_title(certificate: x509.Certificate) -> bytes | None:
    """The system title in the subject CN, or None if the CN is not 16 hex characters."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        return None
    value = names[0].value
    text = value if isinstance(value, str) else value.decode("ascii", "replace")
    if len(text) != 2 * SYSTEM_TITLE_LENGTH:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _key_usage(certificate: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def certificate_type(certificate: x509.Certificate) -> CertificateType:
    """The DLMS certificate_type of a certificate, from its KeyUsage extension."""
    usage = _key_usage(certificate)
    if usage is None or _is_ca(certificate) or usage.key_cert_sign:
        return CertificateType.OTHER
    if usage.digital_signature and usage.key_agreement:
        return CertificateType.TLS
    if usage.digital_signature:
        return CertificateType.DIGITAL_SIGNATURE
    if usage.key_agreement:
        return CertificateType.KEY_AGREEMENT
    return CertificateType.OTHER


def certificate_public_key(certificate: x509.Certificate) -> ec.EllipticCurvePublicKey:
    """The certified P-256/P-384 public key; :class:`SecurityError` for any other key type."""
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SecurityError("certificate does not hold an elliptic-curve key")
    suite_for_curve(key.curve)
    return key


def certificate_suite(certificate: x509.Certificate) -> SecuritySuite:
    """Suite 1 for a P-256 key, suite 2 for a P-384 key."""
    return suite_for_curve(certificate_public_key(certificate).curve)


def serial_number_bytes(serial_number: int) -> bytes:
    """A positive certificate serial as a minimal big-endian unsigned integer."""
    if serial_number <= 0:
        raise SecurityError("certificate serial numbers are positive")
    return serial_number.to_bytes((serial_number.bit_length() + 7) // 8, "big")


# --------------------------------------------------------------------------------------------------
# Generation


def _signature_hash(issuer_key: ec.EllipticCurvePrivateKey) -> hashes.SHA256 | hashes.SHA384:
    suite = suite_for_curve(issuer_key.curve)
    return hashes.SHA256() if suite == SecuritySuite.SUITE_1 else hashes.SHA384()


def _random_serial() -> int:
    # 64 random bits, never zero (RFC 5280 allows up to 20 octets; positive is required)
    return secrets.randbits(64) | 1


def _key_usage_for(kind: CertificateType) -> x509.KeyUsage:
    signature = kind in (CertificateType.DIGITAL_SIGNATURE, CertificateType.TLS)
    agreement = kind in (CertificateType.KEY_AGREEMENT, CertificateType.TLS)
    if not (signature or agreement):
        raise SecurityError(f"cannot issue an end-entity certificate of type {kind.name}")
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=agreement,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _issuer(
    subject: x509.Name,
    subject_key: ec.EllipticCurvePublicKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer_certificate: x509.Certificate | None,
) -> tuple[x509.Name, ec.EllipticCurvePublicKey]:
    if issuer_certificate is None:
        if issuer_key.public_key() != subject_key:
            raise SecurityError("a self-signed certificate must be signed with the subject's own key")
        return subject, subject_key
    issuer_public = certificate_public_key(issuer_certificate)
    if issuer_public != issuer_key.public_key():
        raise SecurityError("issuer key does not match the issuer certificate")
    return issuer_certificate.subject, issuer_public


def generate_certificate(
    *,
    subject_key: ec.EllipticCurvePublicKey,
    system_title: bytes,
    certificate_type: CertificateType,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer_certificate: x509.Certificate | None,
    not_before: datetime,
    not_after: datetime,
    serial_number: int | None = None,
    subject_alt_names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """An end-entity certificate for a meter or client key.

    ``issuer_certificate=None`` makes it self-signed (then ``issuer_key`` must be the subject's key).
    """
    suite_for_curve(subject_key.curve)
    subject = system_title_name(system_title)
    issuer_name, issuer_public = _issuer(subject, subject_key, issuer_key, issuer_certificate)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(subject_key)
        .serial_number(_random_serial() if serial_number is None else serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_key_usage_for(certificate_type), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    )
    if subject_alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(subject_alt_names)), critical=False)
    return builder.sign(issuer_key, _signature_hash(issuer_key))


def generate_ca_certificate(
    *,
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    not_before: datetime,
    not_after: datetime,
    issuer_key: ec.EllipticCurvePrivateKey | None = None,
    issuer_certificate: x509.Certificate | None = None,
    serial_number: int | None = None,
    path_length: int | None = None,
) -> x509.Certificate:
    """A CA certificate: self-signed root (no issuer given) or a sub-CA signed by ``issuer_key``."""
    public = key.public_key()
    suite_for_curve(public.curve)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer = key if issuer_key is None else issuer_key
    if (issuer_key is None) != (issuer_certificate is None):
        raise SecurityError("a sub-CA needs both the issuer key and the issuer certificate")
    issuer_name, issuer_public = _issuer(subject, public, signer, issuer_certificate)
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(_random_serial() if serial_number is None else serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False)
    )
    return builder.sign(signer, _signature_hash(signer))


def is_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True if ``issuer``'s name and key match and its key verifies ``certificate``'s signature."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Import / export


def certificate_to_der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def certificate_to_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def load_certificate(data: bytes | bytearray | memoryview) -> x509.Certificate:
    """Parse a certificate in PEM (recognised by its ``-----BEGIN`` line) or DER.

    Malformed input (including a non-positive serial number, a bad extension or an unsupported
    public key algorithm) raises :class:`DecodeError` (offset 0).
    """
    raw = bytes(data)
    try:
        with warnings.catch_warnings():
            # cryptography warns about some malformed fields (a non-positive serial, a country name
            # of the wrong length...): the first is reported below as a DecodeError, the rest
            # stay visible through the certificate's own fields
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            if raw.lstrip().startswith(b"-----BEGIN"):
                certificate = x509.load_pem_x509_certificate(raw)
            else:
                certificate = x509.load_der_x509_certificate(raw)
            # cryptography parses some parts lazily: touch them now so that errors surface here
            serial = certificate.serial_number
            certificate.subject.public_bytes()
            certificate.issuer.public_bytes()
            certificate.extensions  # noqa: B018
            certificate.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion, x509.DuplicateExtension):
        raise DecodeError("not an X.509 certificate", 0, "DER or PEM certificate") from None
    if serial <= 0:
        raise DecodeError("certificate serial number is not positive", 0, "a positive serial number")
    return certificate


# --------------------------------------------------------------------------------------------------
# certificate_info


@dataclass(slots=True, frozen=True)
class CertificateInfo:
    """One element of Security setup ``certificates`` (see the module docstring for the encodings)."""

    certificate_entity: CertificateEntity
    certificate_type: CertificateType
    serial_number: bytes
    issuer: bytes
    subject: bytes
    subject_alt_name: bytes

    def to_data(self) -> DataValue:
        """The COSEM Data structure of this element."""
        return (
            Enumerated(int(self.certificate_entity)),
            Enumerated(int(self.certificate_type)),
            self.serial_number,
            self.issuer,
            self.subject,
            self.subject_alt_name,
        )

    @classmethod
    def from_data(cls, value: DataValue) -> CertificateInfo:
        """Validate and convert a certificate_info Data structure (:class:`DecodeError`, offset 0)."""
        if not (isinstance(value, tuple) and len(value) == 6):
            raise DecodeError("certificate_info is not a structure of 6 elements", 0, "structure of 6")
        entity, kind, *octets = value
        if not (isinstance(entity, Enumerated) and isinstance(kind, Enumerated)):
            raise DecodeError("certificate_entity/type are not enums", 0, "enum")
        if not all(isinstance(o, bytes) for o in octets):
            raise DecodeError("certificate_info fields are not octet-strings", 0, "octet-string")
        try:
            entity_value = CertificateEntity(int(entity))
            kind_value = CertificateType(int(kind))
        except ValueError:
            raise DecodeError("unknown certificate_entity or certificate_type", 0, "0..3") from None
        serial, issuer, subject, san = (bytes(o) for o in octets if isinstance(o, bytes))
        return cls(entity_value, kind_value, serial, issuer, subject, san)


def certificate_info(certificate: x509.Certificate, entity: CertificateEntity) -> CertificateInfo:
    """The Security setup view of a certificate held for ``entity``."""
    try:
        san = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        san_bytes = san.public_bytes()
    except x509.ExtensionNotFound:
        san_bytes = b""
    return CertificateInfo(
        certificate_entity=entity,
        certificate_type=certificate_type(certificate),
        serial_number=serial_number_bytes(certificate.serial_number),
        issuer=certificate.issuer.public_bytes(),
        subject=certificate.subject.public_bytes(),
        subject_alt_name=san_bytes,
    )


# --------------------------------------------------------------------------------------------------
# Store


@dataclass(slots=True, frozen=True)
class StoredCertificate:
    """A certificate with the entity it is held for."""

    certificate_entity: CertificateEntity
    certificate: x509.Certificate

    @property
    def info(self) -> CertificateInfo:
        return certificate_info(self.certificate, self.certificate_entity)

    @property
    def certificate_type(self) -> CertificateType:
        return certificate_type(self.certificate)

    @property
    def system_title(self) -> bytes | None:
        return certificate_system_title(self.certificate)


def _serial_value(serial_number: int | bytes) -> int:
    return serial_number if isinstance(serial_number, int) else int.from_bytes(serial_number, "big")


def _issuer_name(issuer: bytes | x509.Name) -> bytes:
    return issuer if isinstance(issuer, bytes) else issuer.public_bytes()


class CertificateStore:
    """The certificates a Security setup object (or a client) holds, in insertion order.

    A certificate is identified by (issuer, serial number); adding one with the same pair replaces it.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[StoredCertificate] = []

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[StoredCertificate]:
        return iter(list(self._entries))

    def add(self, certificate: x509.Certificate, entity: CertificateEntity) -> StoredCertificate:
        """Store ``certificate`` for ``entity`` (replacing one with the same issuer and serial)."""
        self.remove_by_serial(certificate.serial_number, certificate.issuer)
        entry = StoredCertificate(CertificateEntity(entity), certificate)
        self._entries.append(entry)
        return entry

    def find_by_serial(
        self, serial_number: int | bytes, issuer: bytes | x509.Name | None = None
    ) -> StoredCertificate | None:
        """The certificate with this serial (and issuer, DER Name or Name, when given)."""
        serial = _serial_value(serial_number)
        name = None if issuer is None else _issuer_name(issuer)
        for entry in self._entries:
            if entry.certificate.serial_number == serial and (
                name is None or entry.certificate.issuer.public_bytes() == name
            ):
                return entry
        return None

    def find_all_by_system_title(
        self,
        system_title: bytes,
        certificate_type: CertificateType | None = None,
        certificate_entity: CertificateEntity | None = None,
    ) -> list[StoredCertificate]:
        """Every certificate whose subject CN is ``system_title``, optionally of one type/entity."""
        return [
            e
            for e in self._entries
            if e.system_title == bytes(system_title)
            and (certificate_type is None or e.certificate_type == certificate_type)
            and (certificate_entity is None or e.certificate_entity == certificate_entity)
        ]

    def find_by_system_title(
        self,
        system_title: bytes,
        certificate_type: CertificateType | None = None,
        certificate_entity: CertificateEntity | None = None,
    ) -> StoredCertificate | None:
        """The first certificate matching :meth:`find_all_by_system_title`, or None."""
        found = self.find_all_by_system_title(system_title, certificate_type, certificate_entity)
        return found[0] if found else None

    def remove_by_serial(self, serial_number: int | bytes, issuer: bytes | x509.Name | None = None) -> bool:
        """Remove the certificate with this serial (and issuer); True if one was removed."""
        entry = self.find_by_serial(serial_number, issuer)
        if entry is None:
            return False
        self._entries.remove(entry)
        return True

    def certificate_infos(self) -> list[CertificateInfo]:
        """The Security setup ``certificates`` attribute view of the store."""
        return [e.info for e in self._entries]


__all__ = [
    "SYSTEM_TITLE_LENGTH",
    "CertificateEntity",
    "CertificateInfo",
    "CertificateStore",
    "CertificateType",
    "StoredCertificate",
    "certificate_info",
    "certificate_public_key",
    "certificate_suite",
    "certificate_system_title",
    "certificate_to_der",
    "certificate_to_pem",
    "certificate_type",
    "generate_ca_certificate",
    "generate_certificate",
    "is_issued_by",
    "load_certificate",
    "serial_number_bytes",
    "system_title_name",
]
