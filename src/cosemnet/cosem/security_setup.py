"""Security setup (class_id 64, version 1): security policy, suite, keys and certificates.

Attributes: 2 security_policy (enum, version 1 bit flags), 3 security_suite (enum 0..2),
4 client_system_title, 5 server_system_title (octet-string), 6 certificates (array of
certificate_info). Methods (x + 0x30 ...): 1 security_activate(security_policy), 2 key_transfer
(array of key_data {key_id enum, key_wrapped octet-string}), 3 key_agreement (array of
{key_id enum, key_ciphered_data octet-string}) -> same shape, 4 generate_key_pair(enum key_pair),
5 generate_certificate_request(enum key_pair) -> octet-string (DER PKCS #10),
6 import_certificate(octet-string DER), 7 export_certificate(certificate_identification) ->
octet-string, 8 remove_certificate(certificate_identification).

Cryptography is :mod:`cosemnet.security`'s: RFC 3394 unwrap (:mod:`~cosemnet.security.keywrap`),
the ephemeral unified model key agreement (:mod:`~cosemnet.security.agreement`), ECC keys
(:mod:`~cosemnet.security.ecc`), certificates (:mod:`~cosemnet.security.certificates`). The keys
live in :attr:`SecuritySetup.keys` (a :class:`~cosemnet.security.keys.KeySet`, repr without bytes).

Design choices where the standard is silent or not public:

* new keys (key_transfer, key_agreement) apply at once, unless ``defer_key_changes``: then they wait
  in ``pending_keys`` until the application layer calls :meth:`SecuritySetup.commit_pending_keys`
  after the response went out (the response itself must still use the old keys);
  ``ctx.effects.keys_changed`` is called either way;
* key_transfer is all-or-nothing: one key that does not unwrap (wrong KEK, tampering), has the wrong
  length for the suite, or a malformed parameter fails the whole method (other-reason resp.
  type-unmatched) and changes no key;
* security_activate may only add policy bits (version 1 semantics); removing one fails with
  read-write-denied; a policy that needs a key that is not set (authentication -> ak, encryption ->
  ek) fails with other-reason;
* key_agreement, generate_key_pair, generate_certificate_request need suite 1 or 2 (other-reason in
  suite 0); key_agreement verifies the client's ephemeral keys with the client's digital-signature
  certificate found in the store by client_system_title;
* import_certificate classifies the certificate: subject system title = server -> server, = client
  -> client, CA -> certification authority, else other; a server certificate must certify one of the
  server's own key pairs of its type;
* the CSR's subject is the server system title (CN = hex), as the certificates module does; no
  extensions;
* certificate_identification: structure {certificate_identification_type enum (0 by entity, 1 by
  serial), options}: by entity = structure {certificate_entity enum, certificate_type enum,
  system_title octet-string}, by serial = structure {serial_number octet-string, issuer
  octet-string (DER Name)} (reconstructed).
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Enumerated
from cosemnet.cosem.base import (
    LOGICAL_NAME_DEF,
    AttributeDef,
    InterfaceClass,
    MethodDef,
    SelectiveAccess,
    read_only,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import ActionResult, CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_int, as_octet_string, as_struct
from cosemnet.errors import DecodeError
from cosemnet.security.agreement import EphemeralKeyAgreement, Role
from cosemnet.security.certificates import (
    CertificateEntity,
    CertificateStore,
    CertificateType,
    StoredCertificate,
    certificate_public_key,
    certificate_system_title,
    certificate_to_der,
    certificate_type,
    load_certificate,
    system_title_name,
)
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.ecc import generate_private_key, hash_for_suite
from cosemnet.security.errors import SecurityError
from cosemnet.security.keys import GlobalKeyType, KeySet
from cosemnet.security.keywrap import parse_key_transfer_data, unwrap_key
from cosemnet.security.suite import SecuritySuite

SECURITY_SETUP_LN = Obis(bytes((0, 0, 43, 0, 0, 255)))


class KeyPairType(IntEnum):
    """key_pair of generate_key_pair / generate_certificate_request (same values as certificate_type)."""

    DIGITAL_SIGNATURE = 0
    KEY_AGREEMENT = 1
    TLS = 2


class CertificateIdentificationType(IntEnum):
    BY_ENTITY = 0
    BY_SERIAL = 1


_AUTHENTICATION_BITS = SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.AUTHENTICATED_RESPONSE
_ENCRYPTION_BITS = SecurityPolicy.ENCRYPTED_REQUEST | SecurityPolicy.ENCRYPTED_RESPONSE
_ALL_POLICY_BITS = 0xFC


def _fail(reason: str) -> CosemAccessError:
    return CosemAccessError(ActionResult.OTHER_REASON, reason)


class SecuritySetup(InterfaceClass):
    """Security setup (version 1)."""

    CLASS_ID: ClassVar[int] = 64
    VERSION: ClassVar[int] = 1
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "security_policy", False, 0x08),
        AttributeDef(3, "security_suite", True, 0x10),
        AttributeDef(4, "client_system_title", False, 0x18),
        AttributeDef(5, "server_system_title", True, 0x20),
        AttributeDef(6, "certificates", False, 0x28),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "security_activate", 0x30),
        MethodDef(2, "key_transfer", 0x38),
        MethodDef(3, "key_agreement", 0x40),
        MethodDef(4, "generate_key_pair", 0x48),
        MethodDef(5, "generate_certificate_request", 0x50),
        MethodDef(6, "import_certificate", 0x58),
        MethodDef(7, "export_certificate", 0x60),
        MethodDef(8, "remove_certificate", 0x68),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = SECURITY_SETUP_LN,
        server_system_title: bytes = bytes(8),
        security_suite: SecuritySuite = SecuritySuite.SUITE_0,
        keys: KeySet | None = None,
        *,
        security_policy: SecurityPolicy = SecurityPolicy.NONE,
        client_system_title: bytes = b"",
        defer_key_changes: bool = False,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        if len(server_system_title) != 8:
            raise ValueError("a system title has 8 bytes")
        self.server_system_title = server_system_title
        self.client_system_title = client_system_title
        self.security_suite = security_suite
        self.security_policy = security_policy
        self.keys = keys if keys is not None else KeySet()
        self.defer_key_changes = defer_key_changes
        self.pending_keys: dict[GlobalKeyType, bytes] = {}
        self.certificates = CertificateStore()
        self._key_pairs: dict[KeyPairType, ec.EllipticCurvePrivateKey] = {}

    # ----------------------------------------------------------------------------------------------
    # Keys

    def private_key(self, key_pair: KeyPairType) -> ec.EllipticCurvePrivateKey | None:
        """The server's private key of a type (for HLS-ECDSA, signing, TLS), None if not generated."""
        return self._key_pairs.get(key_pair)

    def set_private_key(self, key_pair: KeyPairType, key: ec.EllipticCurvePrivateKey) -> None:
        """Install a provisioned key pair (factory personalisation)."""
        self._key_pairs[key_pair] = key

    def _store_keys(self, new_keys: dict[GlobalKeyType, bytes], ctx: AccessContext) -> None:
        if self.defer_key_changes:
            self.pending_keys.update(new_keys)
        else:
            self._apply(new_keys)
        ctx.effects.keys_changed(self, tuple(int(k) for k in new_keys), ctx)

    def _apply(self, new_keys: dict[GlobalKeyType, bytes]) -> None:
        for key_id, key in new_keys.items():
            if key_id is GlobalKeyType.UNICAST_ENCRYPTION:
                self.keys.ek = key
            elif key_id is GlobalKeyType.BROADCAST_ENCRYPTION:
                self.keys.broadcast_key = key
            elif key_id is GlobalKeyType.AUTHENTICATION:
                self.keys.ak = key
            else:
                self.keys.kek = key

    def commit_pending_keys(self) -> tuple[GlobalKeyType, ...]:
        """Apply the deferred keys (after the response that announced them was sent)."""
        ids = tuple(self.pending_keys)
        self._apply(self.pending_keys)
        self.pending_keys = {}
        return ids

    def key_transfer(self, parameter: DataValue, ctx: AccessContext) -> None:
        try:
            items = parse_key_transfer_data(parameter)
        except DecodeError as exc:
            raise type_unmatched(f"key_transfer: {exc.reason}") from None
        if self.keys.kek is None:
            raise _fail("no master key (KEK) to unwrap with")
        expected = self.security_suite.parameters.key_length
        new_keys: dict[GlobalKeyType, bytes] = {}
        for key_id, wrapped in items:
            if key_id in new_keys:
                raise type_unmatched(f"key_id {key_id.name} twice")
            try:
                key = unwrap_key(self.keys.kek, wrapped)
            except SecurityError:
                raise _fail(f"key {key_id.name} does not unwrap") from None
            if len(key) != expected:
                raise _fail(f"key {key_id.name} has {len(key)} bytes, suite needs {expected}")
            new_keys[key_id] = key
        self._store_keys(new_keys, ctx)

    def key_agreement(self, parameter: DataValue, ctx: AccessContext) -> DataValue:
        suite = self._asymmetric_suite()
        signing_key = self._key_pairs.get(KeyPairType.DIGITAL_SIGNATURE)
        if signing_key is None:
            raise _fail("no digital-signature key pair")
        client_cert = self.certificates.find_by_system_title(
            self.client_system_title, CertificateType.DIGITAL_SIGNATURE
        )
        if client_cert is None:
            raise _fail("no digital-signature certificate of the client")
        try:
            agreement = EphemeralKeyAgreement(
                int(suite),
                Role.SERVER,
                signing_key=signing_key,
                peer_signing_key=certificate_public_key(client_cert.certificate),
                client_system_title=self.client_system_title,
                server_system_title=self.server_system_title,
            )
            response, new_keys = agreement.respond(parameter)
        except DecodeError as exc:
            raise type_unmatched(f"key_agreement: {exc.reason}") from None
        except SecurityError:
            raise _fail("key agreement failed (signature or key)") from None
        self._store_keys(dict(new_keys), ctx)
        return response

    def _asymmetric_suite(self) -> SecuritySuite:
        if self.security_suite is SecuritySuite.SUITE_0:
            raise _fail("security suite 0 has no public-key operations")
        return self.security_suite

    # ----------------------------------------------------------------------------------------------
    # Policy

    def security_activate(self, policy: int, ctx: AccessContext) -> None:
        if policy & ~_ALL_POLICY_BITS:
            raise type_unmatched(f"security_policy 0x{policy:02X} has unknown bits")
        new = SecurityPolicy(policy)
        if self.security_policy & ~new:
            raise CosemAccessError(ActionResult.READ_WRITE_DENIED, "the security policy can only be raised")
        if new & _AUTHENTICATION_BITS and self.keys.ak is None:
            raise _fail("authentication needs the authentication key")
        if new & _ENCRYPTION_BITS and self.keys.ek is None:
            raise _fail("encryption needs the global unicast encryption key")
        self.security_policy = new
        ctx.effects.security_policy_activated(self, int(new), ctx)

    # ----------------------------------------------------------------------------------------------
    # Key pairs and certificates

    def generate_key_pair(self, key_pair: KeyPairType) -> ec.EllipticCurvePrivateKey:
        key = generate_private_key(int(self._asymmetric_suite()))
        self._key_pairs[key_pair] = key
        return key

    def certificate_request(self, key_pair: KeyPairType) -> bytes:
        """A DER PKCS #10 request for the server's key pair ``key_pair``."""
        suite = self._asymmetric_suite()
        key = self._key_pairs.get(key_pair)
        if key is None:
            raise _fail(f"no {key_pair.name} key pair")
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(system_title_name(self.server_system_title))
            .sign(key, hash_for_suite(int(suite)))  # type: ignore[arg-type]
        )
        return csr.public_bytes(serialization.Encoding.DER)

    def import_certificate(self, der: bytes) -> StoredCertificate:
        try:
            certificate = load_certificate(der)
        except DecodeError:
            raise _fail("not an X.509 certificate") from None
        title = certificate_system_title(certificate)
        kind = certificate_type(certificate)
        if title is not None and title == self.server_system_title:
            entity = CertificateEntity.SERVER
            own = self._key_pairs.get(KeyPairType(kind)) if kind is not CertificateType.OTHER else None
            try:
                matches = own is not None and certificate_public_key(certificate) == own.public_key()
            except SecurityError:
                matches = False
            if not matches:
                raise _fail("server certificate does not certify a server key pair")
        elif title is not None and title == self.client_system_title:
            entity = CertificateEntity.CLIENT
        elif _is_ca(certificate):
            entity = CertificateEntity.CERTIFICATION_AUTHORITY
        else:
            entity = CertificateEntity.OTHER
        return self.certificates.add(certificate, entity)

    def find_certificate(self, identification: DataValue) -> StoredCertificate:
        kind, options = as_struct(identification, 2, "certificate_identification")
        try:
            id_type = CertificateIdentificationType(
                as_int(kind, Enumerated, "certificate_identification_type")
            )
        except ValueError:
            raise type_unmatched("certificate_identification_type must be 0 or 1") from None
        if id_type is CertificateIdentificationType.BY_ENTITY:
            entity, cert_type, title = as_struct(options, 3, "certificate_identification_entity")
            try:
                found = self.certificates.find_by_system_title(
                    as_octet_string(title, what="system_title"),
                    CertificateType(as_int(cert_type, Enumerated, "certificate_type")),
                    CertificateEntity(as_int(entity, Enumerated, "certificate_entity")),
                )
            except ValueError:
                raise type_unmatched("certificate_entity / certificate_type out of range") from None
        else:
            serial, issuer = as_struct(options, 2, "certificate_identification_serial")
            found = self.certificates.find_by_serial(
                as_octet_string(serial, what="serial_number"), as_octet_string(issuer, what="issuer")
            )
        if found is None:
            raise _fail("no such certificate")
        return found

    # ----------------------------------------------------------------------------------------------
    # Services

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return Enumerated(self.security_policy)
        if index == 3:
            return Enumerated(self.security_suite)
        if index == 4:
            return self.client_system_title
        if index == 5:
            return self.server_system_title
        return [info.to_data() for info in self.certificates.certificate_infos()]

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        raise read_only(index)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        if index == 1:
            self.security_activate(as_int(parameter, Enumerated, "security_policy"), ctx)
        elif index == 2:
            self.key_transfer(parameter, ctx)
        elif index == 3:
            return self.key_agreement(parameter, ctx)
        elif index in (4, 5):
            try:
                key_pair = KeyPairType(as_int(parameter, Enumerated, "key_pair"))
            except ValueError:
                raise type_unmatched("key_pair must be 0..2") from None
            if index == 4:
                self.generate_key_pair(key_pair)
            else:
                return self.certificate_request(key_pair)
        elif index == 6:
            self.import_certificate(as_octet_string(parameter, what="certificate"))
        elif index == 7:
            return certificate_to_der(self.find_certificate(parameter).certificate)
        else:
            stored = self.find_certificate(parameter)
            self.certificates.remove_by_serial(stored.certificate.serial_number, stored.certificate.issuer)
        return None


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


__all__ = [
    "SECURITY_SETUP_LN",
    "CertificateIdentificationType",
    "KeyPairType",
    "SecurityPolicy",
    "SecuritySetup",
]
