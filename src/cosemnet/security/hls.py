"""Authentication mechanisms (IEC 62056-5-3 9.2.2.2, Green Book 9.2.7.4), sans-IO.

==  =========  ================================================================================
id  mechanism  processing f() of a challenge
==  =========  ================================================================================
0   none       --
1   LLS        the password itself is the calling-authentication-value
2   HLS        manufacturer specific: not supported
3   HLS MD5    MD5(challenge || HLS secret)
4   HLS SHA-1  SHA-1(challenge || HLS secret)
5   HLS GMAC   SC || IC || GMAC(EK, IV = system title || IC, AAD = SC || AK || challenge),
               SC = 0x10 | suite (authentication only)
6   HLS SHA-2  SHA-256(HLS secret || ST_responder || ST_verifier || challenge || own challenge)
7   ECDSA      ECDSA(private key, ST_responder || ST_verifier || challenge || own challenge)
==  =========  ================================================================================

Mechanisms 6 and 7, written out for the two directions: the client answers the server challenge
with f(StoC) over ``ST-C || ST-S || StoC || CtoS``, the server answers with f(CtoS) over
``ST-S || ST-C || CtoS || StoC``. Source for pass 3 of mechanism 6, quoting IEC 62056-5-3:
"SHA-256 (HLS_Secret || SystemTitle-C || SystemTitle-S || StoC || CtoS)" (Gurux forum,
https://www.gurux.fi/comment/15503); pass 4 and mechanism 7 mirror it (the same order is used by
the public Gurux implementations). The ECDSA signature itself comes from
:func:`cosemnet.security.ecc.hls7_sign` / ``hls7_verify``, imported when first needed.

Four passes (HLS): (1) AARQ calling-authentication-value = CtoS, (2) AARE
responding-authentication-value = StoC, (3) client -> server reply_to_HLS_authentication with
f(StoC), (4) server's return value f(CtoS). :class:`HlsClient` and :class:`HlsServer` implement
both sides with the same four calls: ``challenge()``, ``receive_challenge()``, ``response()``,
``verify_response()``.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
from enum import IntEnum
from typing import Any, Final

from cosemnet.errors import DecodeError
from cosemnet.security.ciphering import SYSTEM_TITLE_LENGTH, TAG_LENGTH, gmac
from cosemnet.security.counters import CounterSource, ReplayGuard
from cosemnet.security.errors import (
    AuthenticationError,
    InvalidKeyError,
    KeyMissingError,
    ReplayError,
    SecurityError,
    UnsupportedSecurityError,
)
from cosemnet.security.keys import KeyRole
from cosemnet.security.suite import SecuritySuite

MIN_CHALLENGE_LENGTH: Final = 8
MAX_CHALLENGE_LENGTH: Final = 64
DEFAULT_CHALLENGE_LENGTH: Final = 16
"""Design choice: 16 bytes (the standard allows 8..64; some meters accept only 16)."""

GMAC_SECURITY_CONTROL: Final = 0x10


class Mechanism(IntEnum):
    """Authentication mechanism id (last arc of the mechanism-name 2.16.756.5.8.2.x)."""

    NONE = 0
    LLS = 1
    HLS = 2
    HLS_MD5 = 3
    HLS_SHA1 = 4
    HLS_GMAC = 5
    HLS_SHA256 = 6
    HLS_ECDSA = 7


_MECHANISM_NAME_PREFIX: Final = bytes.fromhex("608574050802")


def mechanism_name(mechanism: Mechanism) -> bytes:
    """BER contents of the mechanism-name object identifier (``60 85 74 05 08 02 id``)."""
    return _MECHANISM_NAME_PREFIX + bytes((int(mechanism),))


def mechanism_from_name(oid: bytes) -> Mechanism:
    """Inverse of :func:`mechanism_name`; :class:`DecodeError` for anything else."""
    if len(oid) != 7 or oid[:6] != _MECHANISM_NAME_PREFIX:
        raise DecodeError("not a DLMS mechanism-name", 0, "608574050802xx")
    try:
        return Mechanism(oid[6])
    except ValueError:
        raise DecodeError(f"unknown authentication mechanism {oid[6]}", 6, "0..7") from None


def generate_challenge(length: int = DEFAULT_CHALLENGE_LENGTH) -> bytes:
    """A random challenge of ``length`` (8..64) bytes from :mod:`secrets`."""
    if not MIN_CHALLENGE_LENGTH <= length <= MAX_CHALLENGE_LENGTH:
        raise SecurityError(f"a challenge has 8..64 bytes, not {length}")
    return secrets.token_bytes(length)


def check_challenge(challenge: bytes) -> None:
    """:class:`AuthenticationError` if a received challenge is not 8..64 bytes long."""
    if not MIN_CHALLENGE_LENGTH <= len(challenge) <= MAX_CHALLENGE_LENGTH:
        raise AuthenticationError(f"challenge of {len(challenge)} bytes (8..64 expected)")


def lls_password_matches(expected: bytes, received: bytes) -> bool:
    """Constant-time comparison of an LLS password."""
    return hmac.compare_digest(expected, received)


def hls_md5(challenge: bytes, secret: bytes) -> bytes:
    """Mechanism 3: MD5(challenge || secret)."""
    return hashlib.md5(challenge + secret, usedforsecurity=False).digest()


def hls_sha1(challenge: bytes, secret: bytes) -> bytes:
    """Mechanism 4: SHA-1(challenge || secret)."""
    return hashlib.sha1(challenge + secret, usedforsecurity=False).digest()


def hls_sha256(
    secret: bytes,
    responder_system_title: bytes,
    verifier_system_title: bytes,
    challenge: bytes,
    own_challenge: bytes,
) -> bytes:
    """Mechanism 6: SHA-256(secret || ST_responder || ST_verifier || challenge || own challenge).

    ``challenge`` is the one being answered; the client passes (ST-C, ST-S, StoC, CtoS), the server
    (ST-S, ST-C, CtoS, StoC).
    """
    return hashlib.sha256(
        b"".join((secret, responder_system_title, verifier_system_title, challenge, own_challenge))
    ).digest()


def hls_ecdsa_data(
    responder_system_title: bytes, verifier_system_title: bytes, challenge: bytes, own_challenge: bytes
) -> bytes:
    """Mechanism 7: the signed data, ST_responder || ST_verifier || challenge || own challenge."""
    return b"".join((responder_system_title, verifier_system_title, challenge, own_challenge))


def hls_gmac(
    challenge: bytes,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    suite: SecuritySuite = SecuritySuite.SUITE_0,
) -> bytes:
    """Mechanism 5: ``SC || IC || GMAC`` (17 bytes) by the sender ``system_title``."""
    sc = GMAC_SECURITY_CONTROL | int(suite)
    _check_gmac_keys(ek, ak, suite)
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise SecurityError(f"a system title has 8 bytes, not {len(system_title)}")
    if not 0 <= invocation_counter <= 0xFFFFFFFF:
        raise SecurityError(f"invocation counter {invocation_counter} does not fit 32 bits")
    ic = invocation_counter.to_bytes(4, "big")
    tag = gmac(ek, system_title + ic, b"".join((bytes((sc,)), ak, challenge)))
    return bytes((sc,)) + ic + tag


def verify_hls_gmac(
    response: bytes,
    challenge: bytes,
    system_title: bytes,
    ek: bytes,
    ak: bytes,
    suite: SecuritySuite = SecuritySuite.SUITE_0,
) -> int:
    """Check a mechanism 5 response of sender ``system_title`` to ``challenge``; returns its IC.

    :class:`AuthenticationError` on a wrong length, security control or tag.
    """
    _check_gmac_keys(ek, ak, suite)
    if len(response) != 5 + TAG_LENGTH:
        raise AuthenticationError(f"GMAC response of {len(response)} bytes (17 expected)")
    sc = response[0]
    if sc != GMAC_SECURITY_CONTROL | int(suite):
        raise AuthenticationError(f"GMAC response with security control 0x{sc:02X}")
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise AuthenticationError(f"a system title has 8 bytes, not {len(system_title)}")
    expected = gmac(ek, system_title + response[1:5], b"".join((response[:1], ak, challenge)))
    if not hmac.compare_digest(expected, response[5:]):
        raise AuthenticationError("GMAC response does not verify")
    return int.from_bytes(response[1:5], "big")


def _check_gmac_keys(ek: bytes | None, ak: bytes | None, suite: SecuritySuite) -> None:
    if ek is None or ak is None:
        raise KeyMissingError("HLS GMAC needs the encryption and the authentication key")
    length = suite.parameters.key_length
    if len(ek) != length or len(ak) != length:
        raise InvalidKeyError(f"HLS GMAC keys must have {length} bytes for suite {int(suite)}")


def _ecc() -> Any:
    try:
        return importlib.import_module("cosemnet.security.ecc")
    except ImportError:
        raise UnsupportedSecurityError("HLS ECDSA needs cosemnet.security.ecc") from None


class HlsExchange:
    """One side of an authentication exchange (base of :class:`HlsClient` and :class:`HlsServer`).

    Secrets: ``secret`` is the LLS password (mechanism 1) or the HLS secret (3, 4, 6); mechanism 5
    uses ``ek``/``ak`` and ``invocation_counter`` (our counter for the global unicast key);
    mechanism 7 uses ``signing_key`` (our private key) and ``peer_public_key``. None of them shows
    in ``repr``. ``replay_guard`` (optional, typically the security context's) rejects a mechanism 5
    response whose invocation counter is not greater than the last one accepted from that peer for
    its global unicast key (the window ``(peer system title, KeyRole.GLOBAL_UNICAST)``).
    """

    is_client: bool = False

    def __init__(
        self,
        mechanism: Mechanism,
        system_title: bytes,
        *,
        peer_system_title: bytes | None = None,
        secret: bytes | None = None,
        ek: bytes | None = None,
        ak: bytes | None = None,
        invocation_counter: CounterSource | None = None,
        signing_key: object | None = None,
        peer_public_key: object | None = None,
        suite: SecuritySuite = SecuritySuite.SUITE_0,
        challenge_length: int = DEFAULT_CHALLENGE_LENGTH,
        own_challenge: bytes | None = None,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self.mechanism = Mechanism(mechanism)
        if self.mechanism is Mechanism.HLS:
            raise UnsupportedSecurityError("HLS mechanism 2 (manufacturer specific) is not supported")
        if self.mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_SHA256, Mechanism.HLS_ECDSA) and (
            len(system_title) != SYSTEM_TITLE_LENGTH
        ):
            raise SecurityError(f"a system title has 8 bytes, not {len(system_title)}")
        self.system_title = system_title
        self.peer_system_title = peer_system_title
        self.suite = suite
        self._secret = secret
        self._ek = ek
        self._ak = ak
        self._counter = invocation_counter
        self._signing_key = signing_key
        self._peer_public_key = peer_public_key
        self._replay_guard = replay_guard
        self._check_credentials()
        if own_challenge is None:
            own_challenge = (
                generate_challenge(challenge_length) if self.mechanism >= Mechanism.HLS_MD5 else b""
            )
        elif self.mechanism >= Mechanism.HLS_MD5:
            check_challenge(own_challenge)
        self.own_challenge = own_challenge
        self.peer_challenge: bytes | None = None
        self.peer_authenticated = False
        """True once the peer proved itself (LLS password or HLS pass 3/4 verified)."""
        self._responded = False

    def __repr__(self) -> str:
        role = "client" if self.is_client else "server"
        name = type(self).__name__
        return f"{name}({role}, {self.mechanism.name}, peer_authenticated={self.peer_authenticated})"

    def _check_credentials(self) -> None:
        m = self.mechanism
        if (
            m in (Mechanism.LLS, Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_SHA256)
            and self._secret is None
        ):
            raise KeyMissingError(f"mechanism {m.name} needs a secret")
        if m is Mechanism.HLS_GMAC:
            _check_gmac_keys(self._ek, self._ak, self.suite)
            if self._counter is None:
                raise KeyMissingError("HLS GMAC needs our invocation counter")
        if m is Mechanism.HLS_ECDSA and (self._signing_key is None or self._peer_public_key is None):
            raise KeyMissingError("HLS ECDSA needs our signing key and the peer's public key")

    @property
    def is_hls(self) -> bool:
        """True for the four-pass mechanisms (3..7)."""
        return self.mechanism >= Mechanism.HLS_MD5

    def _require_hls(self, what: str) -> None:
        if not self.is_hls:
            raise SecurityError(f"{what} is not part of mechanism {self.mechanism.name}")

    def _require_peer_system_title(self) -> bytes:
        title = self.peer_system_title
        if title is None or len(title) != SYSTEM_TITLE_LENGTH:
            raise AuthenticationError("the peer system title is needed (and must have 8 bytes)")
        return title

    # -- the four calls -------------------------------------------------------------------------

    def challenge(self) -> bytes:
        """Our challenge (client: CtoS for the AARQ; server: StoC for the AARE)."""
        self._require_hls("a challenge")
        return self.own_challenge

    def receive_challenge(self, challenge: bytes, peer_system_title: bytes | None = None) -> None:
        """The peer's challenge (client: StoC from the AARE; server: CtoS from the AARQ)."""
        if peer_system_title is not None:
            self.peer_system_title = peer_system_title
        self._require_hls("a peer challenge")
        check_challenge(challenge)
        self.peer_challenge = challenge

    def response(self) -> bytes:
        """f(peer challenge): client pass 3 f(StoC), server pass 4 f(CtoS)."""
        self._require_hls("a challenge response")
        if self.peer_challenge is None:
            raise SecurityError("no peer challenge received yet")
        if not self.is_client and not self.peer_authenticated:
            raise SecurityError("the server answers only after the client's response verified")
        self._responded = True
        return self._f(self.peer_challenge)

    def verify_response(self, response: bytes) -> None:
        """Check the peer's f(our challenge); :class:`AuthenticationError` if it is wrong."""
        self._require_hls("a challenge response")
        if self.peer_challenge is None:
            raise SecurityError("no peer challenge received yet")
        if self.is_client and not self._responded:
            raise SecurityError("the client verifies the server only after sending its own response")
        m = self.mechanism
        challenge = self.own_challenge
        if m is Mechanism.HLS_GMAC:
            assert self._ek is not None and self._ak is not None
            peer = self._require_peer_system_title()
            ic = verify_hls_gmac(response, challenge, peer, self._ek, self._ak, self.suite)
            if self._replay_guard is not None:
                try:
                    self._replay_guard.accept((peer, KeyRole.GLOBAL_UNICAST), ic)
                except ReplayError:
                    raise AuthenticationError(
                        "HLS GMAC response with a replayed invocation counter"
                    ) from None
        elif m is Mechanism.HLS_ECDSA:
            peer = self._require_peer_system_title()
            data = hls_ecdsa_data(peer, self.system_title, challenge, self.peer_challenge)
            ok = _ecc().hls7_verify(self._peer_public_key, data, response, int(self.suite))
            if ok is not True:
                raise AuthenticationError("HLS ECDSA signature does not verify")
        else:
            expected = self._expected(challenge)
            if not hmac.compare_digest(expected, response):
                raise AuthenticationError(f"{m.name} response does not verify")
        self.peer_authenticated = True

    # -- processing ---------------------------------------------------------------------------

    def _f(self, challenge: bytes) -> bytes:
        m = self.mechanism
        if m is Mechanism.HLS_GMAC:
            assert self._ek is not None and self._ak is not None and self._counter is not None
            return hls_gmac(
                challenge, self.system_title, self._counter.next(), self._ek, self._ak, self.suite
            )
        if m is Mechanism.HLS_ECDSA:
            peer = self._require_peer_system_title()
            data = hls_ecdsa_data(self.system_title, peer, challenge, self.own_challenge)
            signature: bytes = _ecc().hls7_sign(self._signing_key, data, int(self.suite))
            return signature
        assert self._secret is not None
        if m is Mechanism.HLS_MD5:
            return hls_md5(challenge, self._secret)
        if m is Mechanism.HLS_SHA1:
            return hls_sha1(challenge, self._secret)
        peer = self._require_peer_system_title()
        return hls_sha256(self._secret, self.system_title, peer, challenge, self.own_challenge)

    def _expected(self, own_challenge: bytes) -> bytes:
        """What the peer must answer to ``own_challenge`` (mechanisms 3, 4, 6)."""
        assert self._secret is not None and self.peer_challenge is not None
        m = self.mechanism
        if m is Mechanism.HLS_MD5:
            return hls_md5(own_challenge, self._secret)
        if m is Mechanism.HLS_SHA1:
            return hls_sha1(own_challenge, self._secret)
        peer = self._require_peer_system_title()
        return hls_sha256(self._secret, peer, self.system_title, own_challenge, self.peer_challenge)


class HlsClient(HlsExchange):
    """Client side. Pass 1 :meth:`calling_authentication_value`, pass 2 :meth:`receive_challenge`
    (StoC, server system title), pass 3 :meth:`response`, pass 4 :meth:`verify_response`."""

    is_client = True

    def calling_authentication_value(self) -> bytes:
        """What goes in the AARQ: the LLS password, the CtoS challenge for HLS, nothing for 0."""
        if self.mechanism is Mechanism.NONE:
            return b""
        if self.mechanism is Mechanism.LLS:
            assert self._secret is not None
            return self._secret
        return self.own_challenge


class HlsServer(HlsExchange):
    """Server side. Pass 1 :meth:`receive_calling_authentication` (LLS password or CtoS), pass 2
    :meth:`challenge` (StoC), pass 3 :meth:`verify_response`, pass 4 :meth:`response`."""

    is_client = False

    def receive_calling_authentication(self, value: bytes, client_system_title: bytes | None = None) -> None:
        """The AARQ calling-authentication-value: checks an LLS password, stores an HLS CtoS."""
        if client_system_title is not None:
            self.peer_system_title = client_system_title
        if self.mechanism is Mechanism.NONE:
            self.peer_authenticated = True
            return
        if self.mechanism is Mechanism.LLS:
            assert self._secret is not None
            if not lls_password_matches(self._secret, value):
                raise AuthenticationError("LLS password does not match")
            self.peer_authenticated = True
            return
        self.receive_challenge(value)


__all__ = [
    "DEFAULT_CHALLENGE_LENGTH",
    "MAX_CHALLENGE_LENGTH",
    "MIN_CHALLENGE_LENGTH",
    "HlsClient",
    "HlsExchange",
    "HlsServer",
    "Mechanism",
    "check_challenge",
    "generate_challenge",
    "hls_ecdsa_data",
    "hls_gmac",
    "hls_md5",
    "hls_sha1",
    "hls_sha256",
    "lls_password_matches",
    "mechanism_from_name",
    "mechanism_name",
    "verify_hls_gmac",
]
