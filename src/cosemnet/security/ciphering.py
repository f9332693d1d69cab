"""AES-GCM protection of xDLMS APDUs (IEC 62056-5-3 9.2.7.2.4, Green Book), sans-IO, on bytes.

Layers, bottom up:

* :func:`gcm_encrypt` / :func:`gcm_decrypt` / :func:`gmac` -- AES-GCM with the 12-byte DLMS tag on
  any key, IV and AAD (reused by the asymmetric side for general-ciphering with agreed keys);
* :func:`encrypt` / :func:`decrypt` -- one ciphered-content ``SC || IC || payload`` with
  IV = system title (8) || IC (4) and, per security control:

  ==========  =================  =====================  ====================
  SC bits     payload            AAD                    notes
  ==========  =================  =====================  ====================
  A (0x10)    plaintext || tag   SC || AK || plaintext  GMAC only
  E (0x20)    ciphertext         --                     no tag, no integrity
  A+E (0x30)  ciphertext || tag  SC || AK
  ==========  =================  =====================  ====================

  A security control with neither bit carries the plaintext as is.
* :func:`protect_apdu` / :func:`unprotect_apdu` -- whole APDUs and a :class:`SecurityContext`
  (keys, system titles, security policy, invocation counters, replay guard).

Every primitive comes from ``cryptography``. Speed: one ``AESGCM`` object per key is cached (the
key schedule is computed once). ``AESGCM`` only produces and checks 16-byte tags, so a 12-byte tag
is checked with two ``AESGCM`` calls: the first recovers the candidate plaintext (GCM encryption
and decryption apply the same CTR keystream; the tag it computes is discarded), the second
re-encrypts that plaintext with the AAD and the truncated tag is compared in constant time. No
plaintext leaves :func:`gcm_decrypt` before the tag verified. Per APDU this is two to three times
as fast as building a ``Cipher(AES, GCM(iv, tag, min_tag_length=12))`` decryptor, which is kept as
:func:`gcm_decrypt_reference` and cross-checked against the fast path in the tests. Inputs are
handed to ``AESGCM`` as ``bytes`` (it is markedly slower on memoryviews).

:func:`protect_apdu` and :func:`unprotect_apdu` have a fast path for the common case
(general-glo-ciphering, authenticated and encrypted, global unicast key) that caches per context
the ``AESGCM`` object, the AAD and the header layout; it is invalidated when the policy, a key, the
system title or the counter object of the context is replaced. Everything else, and every error
other than a replay or a tag mismatch, goes through the general path.
"""

from __future__ import annotations

import hmac
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cosemnet.codec.axdr import length_bytes
from cosemnet.codec.ciphered import (
    CIPHERED_TO_PLAIN,
    DED_TAGS,
    GLO_TAGS,
    CipheredEnvelope,
    GeneralCiphering,
    GeneralDedCiphering,
    GeneralGloCiphering,
    GeneralSigning,
    IdentifiedKey,
    KekId,
    KeyId,
    KeyInfo,
    SecurityHeader,
    ServiceSpecificCiphered,
    WrappedKey,
    decode_protected_apdu,
)
from cosemnet.codec.types import Buffer
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security.control import (
    AUTHENTICATION_BIT,
    BROADCAST_BIT,
    ENCRYPTION_BIT,
    SecurityControl,
    SecurityPolicy,
    check_security_control,
)
from cosemnet.security.counters import CounterSource, MemoryInvocationCounter, ReplayGuard
from cosemnet.security.errors import (
    AuthenticationError,
    DowngradeError,
    InvalidKeyError,
    KeyMissingError,
    ReplayError,
    SecurityError,
    UnsupportedSecurityError,
)
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite

TAG_LENGTH: Final = 12
"""DLMS truncates the GCM tag to 12 bytes (96 bits) in every suite."""

SYSTEM_TITLE_LENGTH: Final = 8

_KEY_LENGTHS: Final = (16, 16, 32)
_MODE_MASK: Final = AUTHENTICATION_BIT | ENCRYPTION_BIT
_AUTH_ENC: Final = AUTHENTICATION_BIT | ENCRYPTION_BIT

_IV: Final = struct.Struct(">8sI")
_GLO_HEADER_SHORT: Final = struct.Struct(">BB8sBBI")  # tag, 8, system title, length, SC, IC
_GLO_HEADER_81: Final = struct.Struct(">BB8sBBBI")  # ... 0x81, length ...
_GLO_HEADER_82: Final = struct.Struct(">BB8sBHBI")  # ... 0x82, length (2 bytes) ...

# --------------------------------------------------------------------------------------------------
# AES-GCM with a 12-byte tag

_AEAD_CACHE: dict[bytes, AESGCM] = {}
_AEAD_CACHE_MAX: Final = 256


def _aead(key: bytes) -> AESGCM:
    aead = _AEAD_CACHE.get(key)
    if aead is None:
        if len(key) not in (16, 32):
            raise InvalidKeyError(f"an AES-GCM key has 16 or 32 bytes, not {len(key)}")
        if len(_AEAD_CACHE) >= _AEAD_CACHE_MAX:
            _AEAD_CACHE.clear()
        aead = _AEAD_CACHE[bytes(key)] = AESGCM(key)
    return aead


def clear_key_cache() -> None:
    """Drop every cached ``AESGCM`` object (and with it the cached key schedules)."""
    _AEAD_CACHE.clear()


def gcm_encrypt(key: bytes, iv: Buffer, aad: Buffer, plaintext: Buffer) -> bytes:
    """AES-GCM: ``ciphertext || tag`` with the 12-byte DLMS tag."""
    if type(plaintext) is not bytes:
        plaintext = bytes(plaintext)
    return _aead(key).encrypt(iv, plaintext, aad)[:-4]


def gcm_decrypt(key: bytes, iv: Buffer, aad: Buffer, data: Buffer) -> bytes:
    """Inverse of :func:`gcm_encrypt`; :class:`AuthenticationError` if the tag does not verify."""
    n = len(data) - TAG_LENGTH
    if n < 0:
        raise AuthenticationError("ciphered data shorter than the authentication tag")
    if type(data) is not bytes:
        data = bytes(data)  # AESGCM is markedly slower on other buffer types than on bytes
    aead = _aead(key)
    # GCM encryption of the ciphertext applies the keystream again: the candidate plaintext (its tag
    # is discarded); then the authentic tag of that plaintext under this IV and AAD
    plaintext = aead.encrypt(iv, data[:n], None)[:n]
    full = aead.encrypt(iv, plaintext, aad)
    if not hmac.compare_digest(full[n : n + TAG_LENGTH], data[n:]):
        raise AuthenticationError("authentication tag mismatch (tampered data or wrong key)")
    return plaintext


def gcm_decrypt_reference(key: bytes, iv: bytes, aad: bytes, data: bytes) -> bytes:
    """:func:`gcm_decrypt` through ``Cipher(AES, GCM(iv, tag, min_tag_length=12))`` (slower)."""
    if len(data) < TAG_LENGTH:
        raise AuthenticationError("ciphered data shorter than the authentication tag")
    n = len(data) - TAG_LENGTH
    decryptor = Cipher(algorithms.AES(key), modes.GCM(iv, data[n:], min_tag_length=TAG_LENGTH)).decryptor()
    decryptor.authenticate_additional_data(aad)
    out = decryptor.update(data[:n])
    try:
        return out + decryptor.finalize()
    except InvalidTag:
        raise AuthenticationError("authentication tag mismatch (tampered data or wrong key)") from None


def gmac(key: bytes, iv: Buffer, aad: Buffer) -> bytes:
    """GMAC: the 12-byte GCM tag of ``aad`` alone."""
    return _aead(key).encrypt(iv, b"", aad)[:TAG_LENGTH]


def gcm_keystream_xor(key: bytes, iv: Buffer, data: Buffer) -> bytes:
    """GCM encryption without authentication (security control E only): data XOR GCM keystream."""
    n = len(data)
    return _aead(key).encrypt(iv, data, None)[:n]


# --------------------------------------------------------------------------------------------------
# ciphered-content: SC || IC || payload


def _check_keys(sc: int, ek: bytes | None, ak: bytes | None) -> None:
    expected = _KEY_LENGTHS[sc & 0x0F]
    mode = sc & _MODE_MASK
    if mode & ENCRYPTION_BIT or mode == AUTHENTICATION_BIT:
        if ek is None:
            raise KeyMissingError("no encryption key")
        if len(ek) != expected:
            raise InvalidKeyError(f"encryption key has {len(ek)} bytes; suite {sc & 0x0F} needs {expected}")
    if mode & AUTHENTICATION_BIT:
        if ak is None:
            raise KeyMissingError("no authentication key")
        if len(ak) != expected:
            raise InvalidKeyError(
                f"authentication key has {len(ak)} bytes; suite {sc & 0x0F} needs {expected}"
            )


def _header(sc: int, invocation_counter: int) -> bytes:
    try:
        return bytes((sc,)) + invocation_counter.to_bytes(4, "big")
    except OverflowError:
        raise EncodeError(f"invocation counter {invocation_counter} does not fit 32 bits") from None


def _seal(
    sc: int, system_title: bytes, header: bytes, ek: bytes | None, ak: bytes | None, plaintext: Buffer
) -> Buffer:
    """The payload after the security header (a bytes or a view of one: no extra copy).

    The keys were checked by :func:`_check_keys` for the mode ``sc`` selects.
    """
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise EncodeError(f"a system title has 8 bytes, not {len(system_title)}")
    mode = sc & _MODE_MASK
    if mode == 0:
        return plaintext
    assert ek is not None
    if type(plaintext) is not bytes:
        plaintext = bytes(plaintext)  # AESGCM is markedly slower on other buffer types
    iv = system_title + header[1:]
    if mode == ENCRYPTION_BIT:
        return memoryview(_aead(ek).encrypt(iv, plaintext, None))[:-16]
    assert ak is not None
    if mode == _AUTH_ENC:
        return memoryview(_aead(ek).encrypt(iv, plaintext, header[:1] + ak))[:-4]
    tag = _aead(ek).encrypt(iv, b"", b"".join((header[:1], ak, plaintext)))
    return b"".join((plaintext, memoryview(tag)[:TAG_LENGTH]))


def encrypt(
    security_control: int | SecurityControl,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes | None,
    ak: bytes | None,
    plaintext: Buffer,
) -> bytes:
    """Protect ``plaintext``: returns the ciphered-content ``SC || IC || payload``.

    ``system_title`` is the sender's (8 bytes). ``ek`` is the encryption key the APDU is ciphered
    with (global unicast, broadcast or dedicated), ``ak`` the authentication key.
    """
    sc = int(security_control)
    check_security_control(sc)
    _check_keys(sc, ek, ak)
    header = _header(sc, invocation_counter)
    return b"".join((header, _seal(sc, system_title, header, ek, ak, plaintext)))


def decrypt_payload(
    security_control: int,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes | None,
    ak: bytes | None,
    payload: Buffer,
) -> bytes:
    """Verify and decipher the payload that follows a security header."""
    sc = security_control
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise DecodeError(f"a system title has 8 bytes, not {len(system_title)}", 0, "8-byte system title")
    mode = sc & _MODE_MASK
    if mode == 0:
        return bytes(payload)
    assert ek is not None
    iv = system_title + invocation_counter.to_bytes(4, "big")
    if mode == ENCRYPTION_BIT:
        return gcm_keystream_xor(ek, iv, payload)
    assert ak is not None
    if mode == _AUTH_ENC:
        return gcm_decrypt(ek, iv, bytes((sc,)) + ak, payload)
    n = len(payload) - TAG_LENGTH
    if n < 0:
        raise AuthenticationError("ciphered data shorter than the authentication tag")
    view = memoryview(payload)
    plaintext = bytes(view[:n])
    tag = _aead(ek).encrypt(iv, b"", b"".join((bytes((sc,)), ak, plaintext)))
    if not hmac.compare_digest(memoryview(tag)[:TAG_LENGTH], view[n:]):
        raise AuthenticationError("authentication tag mismatch (tampered data or wrong key)")
    return plaintext


def decrypt(system_title: bytes, ek: bytes | None, ak: bytes | None, ciphered_content: Buffer) -> bytes:
    """Inverse of :func:`encrypt`: verify and decipher ``SC || IC || payload``; returns the plaintext.

    Raises :class:`DecodeError` (too short), :class:`UnsupportedSecurityError` (compression, suite
    3..15), :class:`InvalidKeyError` / :class:`KeyMissingError`, :class:`AuthenticationError`.
    """
    if len(ciphered_content) < 5:
        raise DecodeError("ciphered content shorter than its security header", 0, "SC and IC")
    sc = ciphered_content[0]
    check_security_control(sc)
    _check_keys(sc, ek, ak)
    ic = int.from_bytes(ciphered_content[1:5], "big")
    return decrypt_payload(sc, system_title, ic, ek, ak, bytes(ciphered_content[5:]))


# --------------------------------------------------------------------------------------------------
# general-ciphering


def general_ciphering_aad(security_control: int, ak: bytes | None, envelope: GeneralCiphering) -> bytes:
    """AAD of authenticated-and-encrypted general-ciphering: ``SC || AK`` (suite 0) or, for suites
    1 and 2, ``SC || AK || transaction-id || originator-system-title || recipient-system-title ||
    date-time || other-information`` with the fields A-XDR encoded as on the wire.

    [reconstructed] The extra fields follow the only public implementation found (gurux-dlms, which
    adds them for suites 1 and 2 only); the Green Book text itself is not public.
    """
    out = bytearray((security_control,))
    if ak is not None:
        out += ak
    if security_control & 0x0F:
        envelope.encode_addressing(out)
    return bytes(out)


def seal_general_ciphering(
    plain_apdu: Buffer,
    *,
    security_control: int,
    invocation_counter: int,
    content_key: bytes,
    ak: bytes | None,
    originator_system_title: bytes,
    recipient_system_title: bytes,
    key_info: KeyInfo | None,
    transaction_id: bytes | None = None,
    date_time: bytes = b"",
    other_information: bytes = b"",
) -> GeneralCiphering:
    """Build a :class:`GeneralCiphering` around ``plain_apdu`` ciphered with ``content_key``.

    ``key_info`` is put on the wire as given (an IdentifiedKey, WrappedKey or AgreedKey). The
    transaction-id defaults to the invocation counter as 8 bytes big-endian [design].
    """
    sc = security_control
    check_security_control(sc)
    _check_keys(sc, content_key, ak)
    if len(originator_system_title) != SYSTEM_TITLE_LENGTH:
        raise EncodeError(f"a system title has 8 bytes, not {len(originator_system_title)}")
    header = _header(sc, invocation_counter)
    envelope = GeneralCiphering(
        transaction_id if transaction_id is not None else invocation_counter.to_bytes(8, "big"),
        originator_system_title,
        recipient_system_title,
        date_time,
        other_information,
        key_info,
        b"",
    )
    iv = originator_system_title + header[1:]
    if sc & _MODE_MASK == _AUTH_ENC:
        payload: Buffer = gcm_encrypt(content_key, iv, general_ciphering_aad(sc, ak, envelope), plain_apdu)
    else:
        payload = _seal(sc, originator_system_title, header, content_key, ak, plain_apdu)
    envelope.ciphered_content = b"".join((header, payload))
    return envelope


def open_general_ciphering(
    envelope: GeneralCiphering, content_key: bytes, ak: bytes | None
) -> tuple[SecurityHeader, bytes]:
    """Verify and decipher a :class:`GeneralCiphering` whose content key is known."""
    content = envelope.ciphered_content
    if len(content) < 5:
        raise DecodeError("ciphered content shorter than its security header", 0, "SC and IC")
    sc = content[0]
    check_security_control(sc)
    _check_keys(sc, content_key, ak)
    header = SecurityHeader(sc, int.from_bytes(content[1:5], "big"))
    title = envelope.originator_system_title
    if len(title) != SYSTEM_TITLE_LENGTH:
        raise DecodeError(f"originator-system-title has {len(title)} bytes", 0, "8-byte system title")
    payload = content[5:]
    if sc & _MODE_MASK == _AUTH_ENC:
        iv = title + content[1:5]
        plaintext = gcm_decrypt(content_key, iv, general_ciphering_aad(sc, ak, envelope), payload)
    else:
        plaintext = decrypt_payload(sc, title, header.invocation_counter, content_key, ak, payload)
    return header, plaintext


# --------------------------------------------------------------------------------------------------
# Security context and APDU-level protection


class Role(Enum):
    """Which side of the association the context belongs to (selects request/response policy bits)."""

    CLIENT = "client"
    SERVER = "server"


ProtectionKind = Literal[
    "general-glo",
    "general-ded",
    "service-specific-glo",
    "service-specific-ded",
    "general-ciphering",
    "general-ciphering-wrapped",
]
"""Envelope :func:`protect_apdu` produces. ``general-ciphering`` names the key with identified-key;
``general-ciphering-wrapped`` ciphers with a fresh random key wrapped (RFC 3394) with the KEK."""

KeyAgreementHook = Callable[[GeneralCiphering, "SecurityContext"], bytes]
"""Returns the content key of a general-ciphering with agreed-key (supplied by the asymmetric side)."""


class _FastSend:
    """Cached per-context state for the common send path (global unicast key, A+E)."""

    __slots__ = ("aad", "aead", "ak", "counter", "ek", "next_ic", "policy", "sc", "sc_byte", "system_title")

    def __init__(
        self,
        policy: SecurityPolicy,
        ek: bytes,
        ak: bytes,
        system_title: bytes,
        counter: CounterSource,
        sc: int,
    ) -> None:
        self.policy = policy
        self.ek = ek
        self.ak = ak
        self.system_title = system_title
        self.counter = counter
        self.next_ic = counter.next
        self.sc = sc
        self.sc_byte = bytes((sc,))
        self.aead = _aead(ek)
        self.aad = self.sc_byte + ak


class _FastReceive:
    """Cached per-context state for the common receive path (general-glo, global unicast key, A+E)."""

    __slots__ = ("aad", "aead", "ak", "ek", "peer", "policy", "sc")

    def __init__(self, policy: SecurityPolicy, ek: bytes, ak: bytes, peer: bytes | None, sc: int) -> None:
        self.policy = policy
        self.ek = ek
        self.ak = ak
        self.peer = peer
        self.sc = sc
        self.aead = _aead(ek)
        self.aad = bytes((sc,)) + ak


@dataclass(slots=True)
class SecurityContext:
    """Everything needed to protect and unprotect the APDUs of one association (or one peer).

    ``system_title`` is ours, ``peer_system_title`` the other side's (None: accept any sender of
    general-glo/ded-ciphering, e.g. a head-end collecting pushes). ``invocation_counters`` holds the
    sending-side counter per key role; a dedicated-key counter is created in memory when needed
    (the dedicated key lives only as long as the association). ``security_events`` counts rejected
    APDUs (authentication failures, replays, downgrades).

    ``suite`` and ``role`` are fixed once the context is in use (make a new context to change them);
    ``policy``, the keys of ``keys``, the system titles and the counters may be replaced at any time.

    Replay windows are kept per (sender system title, key role). Design choice: general-ciphering
    uses the sender's global unicast (or broadcast) window whatever its key-info says, and a wrapped
    content key is sent with the global unicast counter, so one persisted counter covers both.
    """

    suite: SecuritySuite
    policy: SecurityPolicy
    system_title: bytes
    peer_system_title: bytes | None
    keys: KeySet
    invocation_counters: dict[KeyRole, CounterSource] = field(default_factory=dict)
    replay_guard: ReplayGuard = field(default_factory=ReplayGuard)
    role: Role = Role.CLIENT
    key_agreement: KeyAgreementHook | None = None
    security_events: int = 0
    _policy_cache: int = field(default=-1, init=False, repr=False)
    _out_sc: int = field(default=0, init=False, repr=False)
    _in_auth: bool = field(default=False, init=False, repr=False)
    _in_enc: bool = field(default=False, init=False, repr=False)
    _send_fast: _FastSend | None = field(default=None, init=False, repr=False)
    _recv_fast: _FastReceive | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.system_title) != SYSTEM_TITLE_LENGTH:
            raise EncodeError(f"a system title has 8 bytes, not {len(self.system_title)}")
        if self.peer_system_title is not None and len(self.peer_system_title) != SYSTEM_TITLE_LENGTH:
            raise EncodeError(f"a system title has 8 bytes, not {len(self.peer_system_title)}")
        self.keys.validate(self.suite)

    def _refresh_policy(self) -> None:
        policy = int(self.policy)
        outgoing_request = self.role is Role.CLIENT
        out_auth, out_enc = SecurityPolicy(policy).requirements(outgoing_request)
        in_auth, in_enc = SecurityPolicy(policy).requirements(not outgoing_request)
        mode = (AUTHENTICATION_BIT if out_auth else 0) | (ENCRYPTION_BIT if out_enc else 0)
        # design: a policy that requires nothing still gets full protection when asked to protect
        self._out_sc = int(self.suite) | (mode or _AUTH_ENC)
        self._in_auth, self._in_enc = in_auth, in_enc
        self._policy_cache = policy

    def outgoing_security_control(self, broadcast: bool = False) -> int:
        """The security control byte :func:`protect_apdu` uses by default."""
        if int(self.policy) != self._policy_cache:
            self._refresh_policy()
        return self._out_sc | (BROADCAST_BIT if broadcast else 0)

    def incoming_requirements(self) -> tuple[bool, bool]:
        """(authentication, encryption) required on received APDUs by the policy."""
        if int(self.policy) != self._policy_cache:
            self._refresh_policy()
        return self._in_auth, self._in_enc

    def _fast_sender(self) -> _FastSend | None:
        """State of the common send path, or None when it does not apply (then the general path runs)."""
        keys = self.keys
        counter = self.invocation_counters.get(KeyRole.GLOBAL_UNICAST)
        state = self._send_fast
        if (
            state is not None
            and state.policy is self.policy
            and state.ek is keys.ek
            and state.ak is keys.ak
            and state.system_title is self.system_title
            and state.counter is counter
        ):
            return state
        self._send_fast = None
        sc = self.outgoing_security_control()
        ek, ak = keys.ek, keys.ak
        if sc & _MODE_MASK != _AUTH_ENC or counter is None or ek is None or ak is None:
            return None
        _check_keys(sc, ek, ak)
        if len(self.system_title) != SYSTEM_TITLE_LENGTH:
            return None
        self._send_fast = _FastSend(self.policy, ek, ak, self.system_title, counter, sc)
        return self._send_fast

    def _fast_receiver(self) -> _FastReceive | None:
        """State of the common receive path, or None when it does not apply."""
        keys = self.keys
        state = self._recv_fast
        if (
            state is not None
            and state.policy is self.policy
            and state.ek is keys.ek
            and state.ak is keys.ak
            and state.peer is self.peer_system_title
        ):
            return state
        self._recv_fast = None
        ek, ak = keys.ek, keys.ak
        sc = _AUTH_ENC | int(self.suite)
        if ek is None or ak is None:
            return None
        _check_keys(sc, ek, ak)
        self._recv_fast = _FastReceive(self.policy, ek, ak, self.peer_system_title, sc)
        return self._recv_fast

    def counter(self, role: KeyRole) -> CounterSource:
        """The sending-side invocation counter for ``role``."""
        source = self.invocation_counters.get(role)
        if source is None:
            if role is not KeyRole.DEDICATED and role is not KeyRole.CONTENT:
                raise KeyMissingError(f"no invocation counter for the {role.name.lower()} key")
            source = self.invocation_counters[role] = MemoryInvocationCounter()
        return source

    def set_dedicated_key(self, key: bytes | None) -> None:
        """Install (or drop) the dedicated key of a new association; restarts its counters."""
        if key is not None and len(key) != self.suite.parameters.key_length:
            raise InvalidKeyError(f"dedicated key has {len(key)} bytes")
        self.keys.dedicated_key = key
        self.invocation_counters.pop(KeyRole.DEDICATED, None)
        if self.peer_system_title is not None:
            self.replay_guard.forget((self.peer_system_title, KeyRole.DEDICATED))


def _envelope_bytes(tag: int, system_title: bytes | None, header: bytes, payload: Buffer) -> bytes:
    size = len(header) + len(payload)
    if system_title is None:
        return b"".join((bytes((tag,)), length_bytes(size), header, payload))
    return b"".join((bytes((tag, len(system_title))), system_title, length_bytes(size), header, payload))


def _protect_glo_fast(plain_apdu: Buffer, context: SecurityContext) -> bytes | None:
    """general-glo-ciphering with the context's cached sender (None when it has none: the general path)."""
    fast = context._send_fast
    keys = context.keys
    if (
        fast is None
        or fast.policy is not context.policy
        or fast.ek is not keys.ek
        or fast.ak is not keys.ak
        or fast.system_title is not context.system_title
        or fast.counter is not context.invocation_counters.get(KeyRole.GLOBAL_UNICAST)
    ):
        fast = context._fast_sender()
    if fast is None:
        return None
    ic = fast.next_ic()
    title = fast.system_title
    try:
        iv = _IV.pack(title, ic)
    except struct.error:
        raise EncodeError(f"invocation counter {ic} does not fit 32 bits") from None
    if type(plain_apdu) is not bytes:
        plain_apdu = bytes(plain_apdu)  # AESGCM is markedly slower on other buffer types
    sealed = fast.aead.encrypt(iv, plain_apdu, fast.aad)
    size = len(sealed) + 1  # + 5 header bytes - 4 bytes of the 16-byte tag
    if 0x100 <= size < 0x10000:
        return _GLO_HEADER_82.pack(0xDB, 8, title, 0x82, size, fast.sc, ic) + sealed[:-4]
    return _glo_header(title, size, fast.sc, ic) + sealed[:-4]


def _protect_wrapped(plain_apdu: Buffer, context: SecurityContext, sc: int) -> bytes:
    """general-ciphering with a fresh content key wrapped with the master key (KEK)."""
    keys = context.keys
    if keys.kek is None:
        raise KeyMissingError("no key encrypting key (master key) to wrap the content key")
    from cosemnet.security.keywrap import wrap_key

    content_key = secrets.token_bytes(context.suite.parameters.key_length)
    key_info: KeyInfo = WrappedKey(KekId.MASTER_KEY, wrap_key(keys.kek, content_key))
    ic = context.counter(KeyRole.GLOBAL_UNICAST).next()
    return seal_general_ciphering(
        plain_apdu,
        security_control=sc,
        invocation_counter=ic,
        content_key=content_key,
        ak=keys.ak,
        originator_system_title=context.system_title,
        recipient_system_title=context.peer_system_title or b"",
        key_info=key_info,
    ).encode()


def protect_apdu(
    plain_apdu: Buffer,
    context: SecurityContext,
    kind: ProtectionKind = "general-glo",
    *,
    security_control: int | SecurityControl | None = None,
    broadcast: bool = False,
) -> bytes:
    """Cipher a plain xDLMS APDU into the envelope ``kind``; returns the APDU bytes.

    The security control defaults to what the context's security policy requires for our
    direction (requests for a client, responses for a server), with authentication and encryption
    when the policy requires nothing. ``broadcast`` selects the global broadcast key (glo kinds and
    general-ciphering only). The invocation counter comes from the context, per key role.
    """
    if security_control is None and not broadcast and kind == "general-glo":
        sealed = _protect_glo_fast(plain_apdu, context)
        if sealed is not None:
            return sealed
    if security_control is None:
        sc = context.outgoing_security_control(broadcast)
    else:
        sc = int(security_control)
        if broadcast:
            sc |= BROADCAST_BIT
        broadcast = bool(sc & BROADCAST_BIT)
    if (sc & 0x0F) != context.suite:
        raise EncodeError(
            f"security control suite {sc & 0x0F} differs from the context suite {int(context.suite)}"
        )
    check_security_control(sc)
    keys = context.keys
    dedicated = kind == "general-ded" or kind == "service-specific-ded"
    if dedicated:
        if broadcast:
            raise EncodeError("dedicated ciphering cannot use the broadcast key")
        role = KeyRole.DEDICATED
    else:
        role = KeyRole.GLOBAL_BROADCAST if broadcast else KeyRole.GLOBAL_UNICAST
    title = context.system_title

    if kind == "general-ciphering-wrapped":
        return _protect_wrapped(plain_apdu, context, sc)

    ek = keys.encryption_key(role)
    _check_keys(sc, ek, keys.ak)
    if kind == "general-ciphering":
        key_id = KeyId.GLOBAL_BROADCAST_ENCRYPTION_KEY if broadcast else KeyId.GLOBAL_UNICAST_ENCRYPTION_KEY
        ic = context.counter(role).next()
        return seal_general_ciphering(
            plain_apdu,
            security_control=sc,
            invocation_counter=ic,
            content_key=ek,
            ak=keys.ak,
            originator_system_title=title,
            recipient_system_title=context.peer_system_title or b"",
            key_info=IdentifiedKey(key_id),
        ).encode()

    if kind == "general-glo" or kind == "general-ded":
        tag = 0xDB if kind == "general-glo" else 0xDC
        envelope_title: bytes | None = title
    elif kind == "service-specific-glo" or kind == "service-specific-ded":
        if not plain_apdu:
            raise EncodeError("empty APDU")
        table = DED_TAGS if dedicated else GLO_TAGS
        tag_or_none = table.get(plain_apdu[0])
        if tag_or_none is None:
            raise EncodeError(f"APDU tag 0x{plain_apdu[0]:02X} has no {kind} form")
        tag = tag_or_none
        envelope_title = None
    else:
        raise EncodeError(f"unknown protection kind {kind!r}")
    header = _header(sc, context.counter(role).next())
    return _envelope_bytes(tag, envelope_title, header, _seal(sc, title, header, ek, keys.ak, plain_apdu))


def _glo_header(title: bytes, size: int, sc: int, ic: int) -> bytes:
    if size < 0x80:
        return _GLO_HEADER_SHORT.pack(0xDB, 8, title, size, sc, ic)
    if size < 0x100:
        return _GLO_HEADER_81.pack(0xDB, 8, title, 0x81, size, sc, ic)
    if size < 0x10000:
        return _GLO_HEADER_82.pack(0xDB, 8, title, 0x82, size, sc, ic)
    return b"".join((b"\xdb\x08", title, length_bytes(size), bytes((sc,)), ic.to_bytes(4, "big")))


def _reject(context: SecurityContext, error: SecurityError) -> SecurityError:
    context.security_events += 1
    return error


def _check_policy(context: SecurityContext, sc: int) -> None:
    if (sc & 0x0F) != context.suite:
        raise _reject(
            context,
            DowngradeError(f"APDU uses security suite {sc & 0x0F}, the context suite {int(context.suite)}"),
        )
    need_auth, need_enc = context.incoming_requirements()
    if need_auth and not sc & AUTHENTICATION_BIT:
        raise _reject(context, DowngradeError("the security policy requires authentication"))
    if need_enc and not sc & ENCRYPTION_BIT:
        raise _reject(context, DowngradeError("the security policy requires encryption"))


def _unprotect_general(
    apdu: Buffer, context: SecurityContext
) -> tuple[bytes, CipheredEnvelope | None, SecurityHeader | None]:
    """The general path of :func:`unprotect_apdu` (every envelope, every error)."""
    if not apdu:
        raise DecodeError("empty APDU", 0, "an APDU tag")
    tag = apdu[0]
    if tag not in CIPHERED_TO_PLAIN and tag not in (0xDB, 0xDC, 0xDD, 0xDF):
        need_auth, need_enc = context.incoming_requirements()
        if need_auth or need_enc:
            raise _reject(context, DowngradeError("plain APDU where the security policy requires protection"))
        return bytes(apdu), None, None
    envelope = decode_protected_apdu(apdu)
    if isinstance(envelope, GeneralSigning):
        raise UnsupportedSecurityError("general-signing: verify it with cosemnet.security.signing first")
    content = envelope.ciphered_content
    if len(content) < 5:
        raise DecodeError(
            "ciphered content shorter than its security header", len(apdu) - len(content), "SC and IC"
        )
    sc = content[0]
    check_security_control(sc)
    _check_policy(context, sc)
    header = SecurityHeader(sc, int.from_bytes(content[1:5], "big"))
    keys = context.keys
    broadcast = bool(sc & BROADCAST_BIT)

    if isinstance(envelope, ServiceSpecificCiphered):
        sender = context.peer_system_title
        if sender is None:
            raise KeyMissingError("a service-specific ciphered APDU needs the peer system title")
        dedicated = envelope.dedicated
    elif isinstance(envelope, GeneralCiphering):
        sender = envelope.originator_system_title
        dedicated = False
    else:
        sender = envelope.system_title
        dedicated = isinstance(envelope, GeneralDedCiphering)
    if context.peer_system_title is not None and sender != context.peer_system_title:
        raise _reject(context, AuthenticationError("APDU from an unexpected system title"))
    if len(sender) != SYSTEM_TITLE_LENGTH:
        raise DecodeError(f"system title of {len(sender)} bytes", 1, "8-byte system title")
    if dedicated:
        if broadcast:
            raise _reject(context, DowngradeError("dedicated ciphering with the broadcast key bit"))
        role = KeyRole.DEDICATED
    else:
        role = KeyRole.GLOBAL_BROADCAST if broadcast else KeyRole.GLOBAL_UNICAST

    window = (sender, role)
    guard = context.replay_guard
    try:
        guard.check(window, header.invocation_counter)
    except ReplayError as exc:
        raise _reject(context, exc) from None

    try:
        if isinstance(envelope, GeneralCiphering):
            plaintext = _open_general(envelope, context, role)[1]
        else:
            ek = keys.encryption_key(role)
            _check_keys(sc, ek, keys.ak)
            plaintext = decrypt_payload(sc, sender, header.invocation_counter, ek, keys.ak, content[5:])
    except AuthenticationError as exc:
        raise _reject(context, exc) from None
    guard.accept(window, header.invocation_counter)
    if isinstance(envelope, ServiceSpecificCiphered) and (
        not plaintext or plaintext[0] != envelope.plain_tag
    ):
        raise DecodeError(
            f"deciphered APDU does not start with 0x{envelope.plain_tag:02X} as its envelope announces",
            len(apdu) - len(content) + 5,
            f"0x{envelope.plain_tag:02X}",
        )
    return plaintext, envelope, header


def unprotect_apdu(
    apdu: Buffer, context: SecurityContext
) -> tuple[bytes, CipheredEnvelope | None, SecurityHeader | None]:
    """Verify and decipher a received APDU; returns ``(plain APDU, envelope, security header)``.

    A plain (unciphered) APDU passes through as ``(apdu, None, None)`` only if the security policy
    requires nothing for its direction; otherwise :class:`DowngradeError`. Order of checks: envelope
    decoding (:class:`DecodeError`), supported security control (:class:`UnsupportedSecurityError`),
    policy and suite (:class:`DowngradeError`), invocation counter greater than the last accepted
    one for that sender and key (:class:`ReplayError`), tag (:class:`AuthenticationError`). Only an
    APDU that passes everything moves the replay window. Every rejection increments
    ``context.security_events``.
    """
    opened = _open_glo_fast(apdu, context)
    if opened is None:
        return _unprotect_general(apdu, context)
    plaintext, data, title, start, sc, ic = opened
    return plaintext, GeneralGloCiphering(title, data[start:]), SecurityHeader(sc, ic)


def decipher_apdu(apdu: Buffer, context: SecurityContext) -> bytes:
    """The plain APDU of :func:`unprotect_apdu` alone: same checks, errors and replay window, without
    building the envelope and security header objects (a receive path that needs only the plaintext)."""
    opened = _open_glo_fast(apdu, context)
    if opened is None:
        return _unprotect_general(apdu, context)[0]
    return opened[0]


_Opened = tuple[bytes, bytes, bytes, int, int, int]


def _open_glo_fast(apdu: Buffer, context: SecurityContext) -> _Opened | None:
    """general-glo-ciphering, A+E, global unicast key, 8-byte system title: ``(plaintext, data,
    system title, offset of the security header, security control, invocation counter)``; None for
    anything else (and every error but replay and tag mismatch): the general path handles it."""
    if len(apdu) < 30 or apdu[0] != 0xDB or apdu[1] != 8:
        return None
    fast = context._recv_fast
    keys = context.keys
    if (
        fast is None
        or fast.policy is not context.policy
        or fast.ek is not keys.ek
        or fast.ak is not keys.ak
        or fast.peer is not context.peer_system_title
    ):
        fast = context._fast_receiver()
        if fast is None:
            return None
    data = apdu if type(apdu) is bytes else bytes(apdu)
    first = data[10]
    if first == 0x82:
        _, _, title, _, size, sc, ic = _GLO_HEADER_82.unpack_from(data)
        start = 13
        minimum = 0x100
    elif first < 0x80:
        _, _, title, size, sc, ic = _GLO_HEADER_SHORT.unpack_from(data)
        start = 11
        minimum = 0
    elif first == 0x81:
        _, _, title, _, size, sc, ic = _GLO_HEADER_81.unpack_from(data)
        start = 12
        minimum = 0x80
    else:
        return None
    end = len(data)
    peer = fast.peer
    if (
        start + size != end
        or size < minimum
        or size < 5 + TAG_LENGTH
        or sc != fast.sc
        or (peer is not None and title != peer)
    ):
        return None
    window = (title, KeyRole.GLOBAL_UNICAST)
    windows = context.replay_guard.windows
    last = windows.get(window)
    if last is not None and ic <= last:
        raise _reject(context, ReplayError(f"invocation counter {ic} is not greater than {last}"))
    # bytes, not memoryviews: AESGCM takes a slower path for other buffer types
    iv = _IV.pack(title, ic)
    aead = fast.aead
    n = size - 5 - TAG_LENGTH
    plaintext = aead.encrypt(iv, data[start + 5 : end - TAG_LENGTH], None)[:n]
    full = aead.encrypt(iv, plaintext, fast.aad)
    if not hmac.compare_digest(full[n : n + TAG_LENGTH], data[end - TAG_LENGTH :]):
        raise _reject(
            context, AuthenticationError("authentication tag mismatch (tampered data or wrong key)")
        )
    windows[window] = ic
    return plaintext, data, title, start, sc, ic


def _open_general(
    envelope: GeneralCiphering, context: SecurityContext, role: KeyRole
) -> tuple[SecurityHeader, bytes]:
    key_info = envelope.key_info
    keys = context.keys
    if key_info is None:
        content_key = keys.encryption_key(role)
    elif isinstance(key_info, IdentifiedKey):
        wanted = (
            KeyRole.GLOBAL_BROADCAST
            if key_info.key_id == KeyId.GLOBAL_BROADCAST_ENCRYPTION_KEY
            else KeyRole.GLOBAL_UNICAST
        )
        if wanted is not role:
            raise AuthenticationError("key-info names another key than the security control key set bit")
        content_key = keys.encryption_key(role)
    elif isinstance(key_info, WrappedKey):
        if keys.kek is None:
            raise KeyMissingError("no key encrypting key (master key) to unwrap the content key")
        from cosemnet.security.keywrap import unwrap_key

        content_key = unwrap_key(keys.kek, key_info.key_ciphered_data)
    else:
        if context.key_agreement is None:
            raise UnsupportedSecurityError("general-ciphering with agreed-key needs context.key_agreement")
        content_key = context.key_agreement(envelope, context)
    return open_general_ciphering(envelope, content_key, keys.ak)


__all__ = [
    "SYSTEM_TITLE_LENGTH",
    "TAG_LENGTH",
    "KeyAgreementHook",
    "ProtectionKind",
    "Role",
    "SecurityContext",
    "clear_key_cache",
    "decipher_apdu",
    "decrypt",
    "decrypt_payload",
    "encrypt",
    "gcm_decrypt",
    "gcm_decrypt_reference",
    "gcm_encrypt",
    "gcm_keystream_xor",
    "general_ciphering_aad",
    "gmac",
    "open_general_ciphering",
    "protect_apdu",
    "seal_general_ciphering",
    "unprotect_apdu",
]
