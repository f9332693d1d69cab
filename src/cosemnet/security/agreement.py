"""Key agreement schemes of security suites 1 and 2 (NIST SP 800-56A ECC CDH, Green Book 9.2.3.4.6).

Three schemes, all with the one-step KDF of :mod:`cosemnet.security.kdf`:

``EPHEMERAL_UNIFIED_MODEL`` -- C(2e, 0s, ECC CDH), Security setup (class 64) method ``key_agreement``
    Both sides generate an ephemeral key pair per agreed key and sign it with their static
    digital-signature key. ``Z = ECDH(d_e_self, Q_e_peer)``,
    ``OtherInfo = AlgorithmID || system title of the client || system title of the server``.
    :class:`EphemeralKeyAgreement` is the sans-IO state machine of both roles.

``ONE_PASS_DIFFIE_HELLMAN`` -- C(1e, 1s, ECC CDH), general-ciphering agreed-key, key-parameters 0x01
    The originator generates an ephemeral key pair; the recipient uses its static key-agreement key.
    ``key-ciphered-data = Q_e || signature(Q_e)``,
    ``OtherInfo = AlgorithmID || originator system title || recipient system title``.

``STATIC_UNIFIED_MODEL`` -- C(0e, 2s, ECC CDH), general-ciphering agreed-key, key-parameters 0x02
    Both static key-agreement keys; key-ciphered-data is empty; the transaction-id makes the key
    unique per message: ``OtherInfo = AlgorithmID || originator system title ||
    A-XDR octet-string(transaction-id) || recipient system title``.

What public material pins (test vectors in ``tests/security/test_agreement.py``):

* key_agreement ``key_data`` = ``Q_e || signature``, the signature made with the sender's static
  signing key over ``key_id || Q_e`` (Green Book Ed. 8 Table C.1: the client's signature verifies over
  exactly these bytes); Party U = client, Party V = server (the client's derived GUEK of that table);
* one-pass DH: ``Z``, the KDF inputs (U = originator, V = recipient, in both directions) and the key
  that decrypts the Green Book Table C.2 general-ciphering example; the Green Book signatures of the
  two one-pass ephemeral keys verify over the bare ``Q_e`` (no key id), and public implementations
  read the key from the first half of key-ciphered-data;
* static unified model: ``Z`` and the OtherInfo layout above (the derived key decrypts the Green Book
  static-unified example); key-ciphered-data empty;
* key-parameters values 1 and 2 (and 0 for the ephemeral unified model in the same enumeration).

What is this implementation's reading (the standard's text is not public):

* the server's key_agreement response has the same shape as the request (one entry per requested
  key_id, ``Q_e || signature(key_id || Q_e)``) and must answer every requested key_id exactly once;
* one fresh ephemeral key pair per key_id, discarded after derivation; every derived key (also the
  authentication key and the master key) uses the suite's AES-GCM AlgorithmID unless told otherwise;
* one-pass DH without the signature (key-ciphered-data = ``Q_e`` only) is produced when no signing
  key is given and accepted only with ``require_signature=False``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from cryptography.hazmat.primitives.asymmetric import ec

from cosemnet.codec.axdr import decode_data_exact, length_bytes
from cosemnet.codec.ciphered import AgreedKey, GeneralCiphering
from cosemnet.codec.types import DataValue, Enumerated
from cosemnet.errors import DecodeError
from cosemnet.security.ecc import (
    PublicKeyLike,
    check_curve,
    coerce_public_key,
    ecdh_shared_secret,
    ecdsa_sign,
    ecdsa_verify,
    generate_private_key,
    public_key_from_bytes,
    public_key_length,
    public_key_to_bytes,
    signature_length,
)
from cosemnet.security.errors import (
    AuthenticationError,
    KeyMissingError,
    SecurityError,
    UnsupportedSecurityError,
)
from cosemnet.security.kdf import derive_key
from cosemnet.security.keys import GlobalKeyType
from cosemnet.security.suite import SecuritySuite, security_suite


class KeyAgreementScheme(IntEnum):
    """Key agreement scheme; values 1 and 2 are the general-ciphering agreed-key key-parameters."""

    EPHEMERAL_UNIFIED_MODEL = 0
    ONE_PASS_DIFFIE_HELLMAN = 1
    STATIC_UNIFIED_MODEL = 2


class Role(Enum):
    """Side of an ephemeral unified model agreement: the client is Party U, the server Party V."""

    CLIENT = "client"
    SERVER = "server"


class AgreementState(Enum):
    IDLE = "idle"
    AWAITING_RESPONSE = "awaiting-response"
    DONE = "done"
    FAILED = "failed"


# --------------------------------------------------------------------------------------------------
# key_agreement data: array of structure {key_id enum, key_data octet-string}


@dataclass(slots=True, frozen=True)
class KeyAgreementEntry:
    """One element of the key_agreement data: ``key_data`` = ephemeral public key || signature."""

    key_id: GlobalKeyType
    key_data: bytes


def encode_key_agreement_data(entries: Iterable[KeyAgreementEntry]) -> list[DataValue]:
    """The COSEM Data value (array of structures) of the key_agreement method parameter/response."""
    return [(Enumerated(int(e.key_id)), bytes(e.key_data)) for e in entries]


def decode_key_agreement_data(value: DataValue | bytes | bytearray | memoryview) -> list[KeyAgreementEntry]:
    """Validate a key_agreement Data value (or its A-XDR bytes) and return its entries.

    Raises :class:`DecodeError` for anything but a non-empty array of {enum, octet-string}
    structures with known, distinct key ids (offset 0 when ``value`` is an already decoded value).
    """
    if isinstance(value, bytes | bytearray | memoryview):
        value = decode_data_exact(value)
    if not isinstance(value, list) or not value:
        raise DecodeError("key agreement data is not a non-empty array", 0, "array of structures")
    entries: list[KeyAgreementEntry] = []
    seen: set[GlobalKeyType] = set()
    for element in value:
        if not (
            isinstance(element, tuple)
            and len(element) == 2
            and isinstance(element[0], Enumerated)
            and isinstance(element[1], bytes)
        ):
            raise DecodeError(
                "key agreement element is not {key_id, key_data}", 0, "structure {enum, octet-string}"
            )
        try:
            key_id = GlobalKeyType(int(element[0]))
        except ValueError:
            raise DecodeError(f"unknown key_id {int(element[0])}", 0, "key_id 0..3") from None
        if key_id in seen:
            raise DecodeError(f"key_id {int(key_id)} appears twice", 0, "distinct key ids")
        seen.add(key_id)
        entries.append(KeyAgreementEntry(key_id, element[1]))
    return entries


def ephemeral_key_signed_data(key_id: int, ephemeral_public_key: bytes) -> bytes:
    """What the sender signs in a key_agreement entry: ``key_id (1 byte) || Q_e``."""
    return bytes((key_id,)) + bytes(ephemeral_public_key)


def _asymmetric_suite(suite: int) -> SecuritySuite:
    result = security_suite(suite)
    if result == SecuritySuite.SUITE_0:
        raise UnsupportedSecurityError("security suite 0 has no key agreement")
    return result


# --------------------------------------------------------------------------------------------------
# Ephemeral unified model


class EphemeralKeyAgreement:
    """Sans-IO C(2e, 0s, ECC CDH) key agreement for Security setup ``key_agreement``.

    Client::

        ka = EphemeralKeyAgreement(suite, Role.CLIENT, signing_key=..., peer_signing_key=...,
                                   client_system_title=..., server_system_title=...)
        request = ka.create_request([GlobalKeyType.UNICAST_ENCRYPTION])  # method parameter
        keys = ka.process_response(response)  # the method's return parameter -> {key_id: key}

    Server::

        ka = EphemeralKeyAgreement(suite, Role.SERVER, ...)
        response, keys = ka.respond(request)

    Each object runs one agreement; its ephemeral private keys are dropped once the keys are derived
    or the agreement failed. Signature failures raise :class:`AuthenticationError`, malformed data
    :class:`DecodeError`; both leave the object in ``FAILED``.
    """

    __slots__ = (
        "_algorithm",
        "_client_system_title",
        "_ephemeral",
        "_peer_signing_key",
        "_server_system_title",
        "_signing_key",
        "role",
        "state",
        "suite",
    )

    def __init__(
        self,
        suite: int,
        role: Role,
        *,
        signing_key: ec.EllipticCurvePrivateKey,
        peer_signing_key: PublicKeyLike,
        client_system_title: bytes,
        server_system_title: bytes,
        algorithm: bytes | None = None,
    ) -> None:
        self.suite = _asymmetric_suite(suite)
        self.role = role
        self.state = AgreementState.IDLE
        self._signing_key = signing_key
        self._peer_signing_key = coerce_public_key(self.suite, peer_signing_key)
        self._client_system_title = bytes(client_system_title)
        self._server_system_title = bytes(server_system_title)
        self._algorithm = algorithm
        self._ephemeral: dict[GlobalKeyType, ec.EllipticCurvePrivateKey] = {}
        check_curve(signing_key.curve, self.suite)

    def __repr__(self) -> str:
        return (
            f"EphemeralKeyAgreement(suite={int(self.suite)}, role={self.role.value}, "
            f"state={self.state.value})"
        )

    # -- client ------------------------------------------------------------------------------------

    def create_request(
        self,
        key_ids: Sequence[int],
        *,
        ephemeral_keys: Mapping[int, ec.EllipticCurvePrivateKey] | None = None,
    ) -> list[DataValue]:
        """The key_agreement method parameter for ``key_ids`` (client only, once).

        ``ephemeral_keys`` replaces the fresh ephemeral keys (reproducing published vectors only).
        """
        self._expect(Role.CLIENT, AgreementState.IDLE)
        try:
            ids = [GlobalKeyType(k) for k in key_ids]
        except ValueError:
            raise SecurityError("unknown key_id in key_agreement request (0..3)") from None
        if not ids or len(set(ids)) != len(ids):
            raise SecurityError("key_agreement needs at least one key_id and no key_id twice")
        entries = [self._own_entry(k, ephemeral_keys) for k in ids]
        self.state = AgreementState.AWAITING_RESPONSE
        return encode_key_agreement_data(entries)

    def process_response(self, response: DataValue | bytes) -> dict[GlobalKeyType, bytes]:
        """Verify the server's key_agreement response and derive the agreed keys (client only)."""
        self._expect(Role.CLIENT, AgreementState.AWAITING_RESPONSE)
        try:
            entries = decode_key_agreement_data(response)
            if {e.key_id for e in entries} != set(self._ephemeral):
                raise DecodeError("response does not answer exactly the requested key ids", 0, "same key ids")
            keys = {
                e.key_id: self._derive(e.key_id, self._ephemeral[e.key_id], self._peer_key(e))
                for e in entries
            }
        except (DecodeError, SecurityError):
            self._fail()
            raise
        self._finish()
        return keys

    # -- server ------------------------------------------------------------------------------------

    def respond(
        self,
        request: DataValue | bytes,
        *,
        ephemeral_keys: Mapping[int, ec.EllipticCurvePrivateKey] | None = None,
    ) -> tuple[list[DataValue], dict[GlobalKeyType, bytes]]:
        """Verify the client's request; return the response Data value and the agreed keys (server only)."""
        self._expect(Role.SERVER, AgreementState.IDLE)
        try:
            entries = decode_key_agreement_data(request)
            peer_keys = {e.key_id: self._peer_key(e) for e in entries}
            own_entries = [self._own_entry(e.key_id, ephemeral_keys) for e in entries]
            keys = {k: self._derive(k, self._ephemeral[k], q) for k, q in peer_keys.items()}
        except (DecodeError, SecurityError):
            self._fail()
            raise
        self._finish()
        return encode_key_agreement_data(own_entries), keys

    # -- internals ---------------------------------------------------------------------------------

    def _expect(self, role: Role, state: AgreementState) -> None:
        if self.role is not role:
            raise SecurityError(f"operation not available to the {self.role.value} side")
        if self.state is not state:
            raise SecurityError(f"key agreement is {self.state.value}, expected {state.value}")

    def _own_entry(
        self, key_id: GlobalKeyType, ephemeral_keys: Mapping[int, ec.EllipticCurvePrivateKey] | None
    ) -> KeyAgreementEntry:
        private = ephemeral_keys.get(int(key_id)) if ephemeral_keys is not None else None
        if private is None:
            private = generate_private_key(self.suite)
        self._ephemeral[key_id] = private
        q = public_key_to_bytes(private.public_key())
        signature = ecdsa_sign(self._signing_key, ephemeral_key_signed_data(key_id, q), self.suite)
        return KeyAgreementEntry(key_id, q + signature)

    def _peer_key(self, entry: KeyAgreementEntry) -> ec.EllipticCurvePublicKey:
        size = public_key_length(self.suite)
        expected = size + signature_length(self.suite)
        if len(entry.key_data) != expected:
            raise DecodeError(
                f"key_data of {len(entry.key_data)} bytes", 0, f"{expected} bytes (public key || signature)"
            )
        q, signature = entry.key_data[:size], entry.key_data[size:]
        signed = ephemeral_key_signed_data(entry.key_id, q)
        if not ecdsa_verify(self._peer_signing_key, signed, signature, self.suite):
            raise AuthenticationError(f"signature of the peer's ephemeral key for key_id {int(entry.key_id)}")
        return public_key_from_bytes(self.suite, q)

    def _derive(
        self, key_id: GlobalKeyType, own: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey
    ) -> bytes:
        z = ecdh_shared_secret(own, peer, self.suite)
        return derive_key(
            z, self.suite, self._client_system_title, self._server_system_title, algorithm=self._algorithm
        )

    def _finish(self) -> None:
        self._ephemeral.clear()
        self.state = AgreementState.DONE

    def _fail(self) -> None:
        self._ephemeral.clear()
        self.state = AgreementState.FAILED


# --------------------------------------------------------------------------------------------------
# general-ciphering agreed-key


@dataclass(slots=True)
class ContentKey:
    """The content-encryption key of one general-ciphering APDU and the key-info that announces it."""

    key: bytes = field(repr=False)
    key_info: AgreedKey


def _scheme_of(key_info: AgreedKey) -> KeyAgreementScheme:
    if len(key_info.key_parameters) != 1:
        raise DecodeError(
            f"key-parameters of {len(key_info.key_parameters)} bytes", 0, "1 byte (key agreement scheme)"
        )
    value = key_info.key_parameters[0]
    if value == KeyAgreementScheme.ONE_PASS_DIFFIE_HELLMAN:
        return KeyAgreementScheme.ONE_PASS_DIFFIE_HELLMAN
    if value == KeyAgreementScheme.STATIC_UNIFIED_MODEL:
        return KeyAgreementScheme.STATIC_UNIFIED_MODEL
    raise UnsupportedSecurityError(f"agreed-key scheme {value} is not usable for one message (only 1 and 2)")


def one_pass_originator(
    suite: int,
    *,
    recipient_agreement_key: PublicKeyLike,
    originator_system_title: bytes,
    recipient_system_title: bytes,
    signing_key: ec.EllipticCurvePrivateKey | None,
    ephemeral_key: ec.EllipticCurvePrivateKey | None = None,
    algorithm: bytes | None = None,
) -> ContentKey:
    """Originator side of C(1e, 1s): a fresh ephemeral key against the recipient's static KA key.

    ``signing_key`` signs the ephemeral public key (key-ciphered-data = ``Q_e || signature``); None
    sends ``Q_e`` alone. ``ephemeral_key`` replaces the fresh key (reproducing published vectors only).
    """
    suite = _asymmetric_suite(suite)
    recipient = coerce_public_key(suite, recipient_agreement_key)
    private = generate_private_key(suite) if ephemeral_key is None else ephemeral_key
    q = public_key_to_bytes(private.public_key())
    data = q if signing_key is None else q + ecdsa_sign(signing_key, q, suite)
    z = ecdh_shared_secret(private, recipient, suite)
    key = derive_key(z, suite, originator_system_title, recipient_system_title, algorithm=algorithm)
    return ContentKey(key, AgreedKey(bytes((KeyAgreementScheme.ONE_PASS_DIFFIE_HELLMAN,)), data))


def one_pass_recipient(
    suite: int,
    key_info: AgreedKey,
    *,
    agreement_key: ec.EllipticCurvePrivateKey,
    originator_system_title: bytes,
    recipient_system_title: bytes,
    originator_signing_key: PublicKeyLike | None,
    require_signature: bool = True,
    algorithm: bytes | None = None,
) -> bytes:
    """Recipient side of C(1e, 1s): the content key from the originator's ephemeral key.

    The signature of the ephemeral key is checked with ``originator_signing_key``; an unsigned key is
    accepted only with ``require_signature=False``.
    """
    suite = _asymmetric_suite(suite)
    if _scheme_of(key_info) is not KeyAgreementScheme.ONE_PASS_DIFFIE_HELLMAN:
        raise SecurityError("key-info is not a one-pass Diffie-Hellman agreed key")
    size = public_key_length(suite)
    data = key_info.key_ciphered_data
    if len(data) == size:
        if require_signature:
            raise AuthenticationError("the originator's ephemeral key is not signed")
    elif len(data) == size + signature_length(suite):
        if originator_signing_key is None:
            if require_signature:
                raise KeyMissingError("no signing key of the originator to check its ephemeral key")
        elif not ecdsa_verify(originator_signing_key, data[:size], data[size:], suite):
            raise AuthenticationError("signature of the originator's ephemeral key")
    else:
        raise DecodeError(f"key-ciphered-data of {len(data)} bytes", 0, f"{size} or {size + size} bytes")
    ephemeral = public_key_from_bytes(suite, data[:size])
    z = ecdh_shared_secret(agreement_key, ephemeral, suite)
    return derive_key(z, suite, originator_system_title, recipient_system_title, algorithm=algorithm)


def static_unified_key_info() -> AgreedKey:
    """The key-info of a static unified model message: key-parameters 0x02, empty key-ciphered-data."""
    return AgreedKey(bytes((KeyAgreementScheme.STATIC_UNIFIED_MODEL,)), b"")


def static_unified_key(
    suite: int,
    *,
    agreement_key: ec.EllipticCurvePrivateKey,
    peer_agreement_key: PublicKeyLike,
    originator_system_title: bytes,
    recipient_system_title: bytes,
    transaction_id: bytes,
    algorithm: bytes | None = None,
) -> bytes:
    """C(0e, 2s) content key, the same on both sides (each uses its own private, the peer's public key).

    ``transaction_id`` enters OtherInfo as an A-XDR octet-string (length byte(s) then value) between
    the two system titles, so every message gets its own key.
    """
    suite = _asymmetric_suite(suite)
    z = ecdh_shared_secret(agreement_key, peer_agreement_key, suite)
    tid = length_bytes(len(transaction_id)) + bytes(transaction_id)
    return derive_key(
        z, suite, originator_system_title, tid + bytes(recipient_system_title), algorithm=algorithm
    )


def static_unified_originator(
    suite: int,
    *,
    agreement_key: ec.EllipticCurvePrivateKey,
    recipient_agreement_key: PublicKeyLike,
    originator_system_title: bytes,
    recipient_system_title: bytes,
    transaction_id: bytes,
    algorithm: bytes | None = None,
) -> ContentKey:
    """Originator side of C(0e, 2s): the content key and its key-info."""
    key = static_unified_key(
        suite,
        agreement_key=agreement_key,
        peer_agreement_key=recipient_agreement_key,
        originator_system_title=originator_system_title,
        recipient_system_title=recipient_system_title,
        transaction_id=transaction_id,
        algorithm=algorithm,
    )
    return ContentKey(key, static_unified_key_info())


def general_ciphering_key(
    apdu: GeneralCiphering,
    suite: int,
    *,
    agreement_key: ec.EllipticCurvePrivateKey,
    originator_agreement_key: PublicKeyLike | None = None,
    originator_signing_key: PublicKeyLike | None = None,
    require_signature: bool = True,
    algorithm: bytes | None = None,
) -> bytes:
    """Recipient side: the content key of a received general-ciphering APDU with an agreed-key key-info.

    ``agreement_key`` is the recipient's static key-agreement private key; ``originator_agreement_key``
    (the originator's static KA public key) is needed for the static unified model,
    ``originator_signing_key`` for a signed one-pass ephemeral key.
    """
    key_info = apdu.key_info
    if not isinstance(key_info, AgreedKey):
        raise SecurityError("general-ciphering APDU does not carry an agreed key")
    scheme = _scheme_of(key_info)
    if scheme is KeyAgreementScheme.ONE_PASS_DIFFIE_HELLMAN:
        return one_pass_recipient(
            suite,
            key_info,
            agreement_key=agreement_key,
            originator_system_title=apdu.originator_system_title,
            recipient_system_title=apdu.recipient_system_title,
            originator_signing_key=originator_signing_key,
            require_signature=require_signature,
            algorithm=algorithm,
        )
    if key_info.key_ciphered_data:
        raise DecodeError("static unified model key-ciphered-data is not empty", 0, "empty key-ciphered-data")
    if originator_agreement_key is None:
        raise KeyMissingError("no key-agreement key of the originator for the static unified model")
    return static_unified_key(
        suite,
        agreement_key=agreement_key,
        peer_agreement_key=originator_agreement_key,
        originator_system_title=apdu.originator_system_title,
        recipient_system_title=apdu.recipient_system_title,
        transaction_id=apdu.transaction_id,
        algorithm=algorithm,
    )


__all__ = [
    "AgreementState",
    "ContentKey",
    "EphemeralKeyAgreement",
    "KeyAgreementEntry",
    "KeyAgreementScheme",
    "Role",
    "decode_key_agreement_data",
    "encode_key_agreement_data",
    "ephemeral_key_signed_data",
    "general_ciphering_key",
    "one_pass_originator",
    "one_pass_recipient",
    "static_unified_key",
    "static_unified_key_info",
    "static_unified_originator",
]
