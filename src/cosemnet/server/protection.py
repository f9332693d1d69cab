"""Ciphering of one association's requests and responses (server side).

Requests are verified and deciphered with :func:`cosemnet.security.ciphering.unprotect_apdu` (which
enforces the Security setup's security policy); responses get the envelope kind of the request. The
Security setup is re-read before each request, so a key or policy change applies at once.
"""

from __future__ import annotations

from typing import Final

from cosemnet.codec.ciphered import (
    GENERAL_CIPHERING_TAG,
    GENERAL_DED_CIPHERING_TAG,
    GENERAL_GLO_CIPHERING_TAG,
    GENERAL_SIGNING_TAG,
    GeneralCiphering,
    GeneralDedCiphering,
    GeneralGloCiphering,
    ServiceSpecificCiphered,
)
from cosemnet.codec.xdlms import ExceptionServiceError, StateError
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security.ciphering import ProtectionKind, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import AUTHENTICATION_BIT, ENCRYPTION_BIT, SecurityPolicy
from cosemnet.security.counters import ReplayFloors
from cosemnet.security.errors import ReplayError, SecurityError
from cosemnet.security.keys import KeyRole
from cosemnet.server.exceptions import ServiceException, malformed
from cosemnet.server.session import PLAIN, AssociationSession, Protection

__all__ = ["ENVELOPE_OVERHEAD", "kind_of", "protect", "refresh_security", "send_limit", "unprotect"]

_SERVICE_SPECIFIC_MARGIN: Final = 1
"""One byte of margin over the service-specific envelope's maximum that the server has always kept
(responses split the same way as before the overheads came from the envelope classes)."""

ENVELOPE_OVERHEAD: Final[dict[str, int]] = {
    "general-glo": GeneralGloCiphering.MAX_OVERHEAD,
    "general-ded": GeneralDedCiphering.MAX_OVERHEAD,
    "service-specific-glo": ServiceSpecificCiphered.MAX_OVERHEAD + _SERVICE_SPECIFIC_MARGIN,
    "service-specific-ded": ServiceSpecificCiphered.MAX_OVERHEAD + _SERVICE_SPECIFIC_MARGIN,
    "general-ciphering": GeneralCiphering.MAX_OVERHEAD,
}
"""Bytes a response envelope may add, per kind (what a response must leave free of the client's PDU)."""

_GENERAL_TAGS: Final = frozenset(
    {GENERAL_GLO_CIPHERING_TAG, GENERAL_DED_CIPHERING_TAG, GENERAL_CIPHERING_TAG, GENERAL_SIGNING_TAG}
)


def kind_of(envelope: object) -> ProtectionKind:
    """The protection kind of a received envelope (responses use the same)."""
    if isinstance(envelope, ServiceSpecificCiphered):
        return "service-specific-ded" if envelope.dedicated else "service-specific-glo"
    if isinstance(envelope, GeneralGloCiphering):
        return "general-glo"
    if isinstance(envelope, GeneralDedCiphering):
        return "general-ded"
    if isinstance(envelope, GeneralCiphering):
        return "general-ciphering"
    return "general-glo"


def send_limit(session: AssociationSession) -> int:
    """Largest plain APDU we may send (client max receive PDU minus the ciphering envelope)."""
    kind = session.protection.kind
    overhead = 0 if kind is None else ENVELOPE_OVERHEAD.get(kind, GeneralCiphering.MAX_OVERHEAD)
    return session.max_send_pdu_size - overhead


def protect(plain: bytes, protection: Protection, security: SecurityContext | None) -> bytes:
    """``plain`` protected like the request was (as is for a plain request)."""
    if protection.kind is None or security is None:
        return plain
    sc = protection.security_control
    need_auth, need_enc = SecurityPolicy(int(security.policy)).requirements(False)
    sc |= (AUTHENTICATION_BIT if need_auth else 0) | (ENCRYPTION_BIT if need_enc else 0)
    default = security.outgoing_security_control()
    try:
        if sc == default:
            return protect_apdu(plain, security, protection.kind)
        return protect_apdu(plain, security, protection.kind, security_control=sc)
    except (SecurityError, EncodeError):
        raise ServiceException(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.OTHER_REASON) from None


def refresh_security(security: SecurityContext, setup: SecuritySetup, floors: ReplayFloors | None) -> None:
    """Bring the association's security context up to the Security setup's policy and keys."""
    policy = int(setup.security_policy)
    if int(security.policy) != policy:
        security.policy = SecurityPolicy(policy)
    keys = security.keys
    source = setup.keys
    if keys.ek is not source.ek:
        keys.ek = source.ek
        if floors is not None:  # a new key has its own replay windows
            security.replay_guard = floors.guard(source.ek)
    if keys.ak is not source.ak:
        keys.ak = source.ak
    if keys.broadcast_key is not source.broadcast_key:
        keys.broadcast_key = source.broadcast_key
    if keys.kek is not source.kek:
        keys.kek = source.kek


def unprotect(apdu: bytes, session: AssociationSession, floors: ReplayFloors | None) -> bytes:
    """The plain request; records its protection in the session (ServiceException on failure)."""
    security = session.security
    tag = apdu[0]
    if security is None:
        if tag in ServiceSpecificCiphered.TAGS or tag in _GENERAL_TAGS:
            raise ServiceException(StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.DECIPHERING_ERROR)
        session.protection = PLAIN
        return apdu
    profile = session.profile
    assert profile is not None and profile.security_setup is not None
    refresh_security(security, profile.security_setup, floors)
    try:
        plain, envelope, header = unprotect_apdu(apdu, security)
    except ReplayError:
        window = security.replay_guard.last((security.peer_system_title, KeyRole.GLOBAL_UNICAST))
        raise ServiceException(
            StateError.SERVICE_NOT_ALLOWED,
            ExceptionServiceError.INVOCATION_COUNTER_ERROR,
            min((window or 0) + 1, 0xFFFFFFFF),
        ) from None
    except DecodeError:
        raise malformed() from None
    except SecurityError:
        raise ServiceException(
            StateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.DECIPHERING_ERROR
        ) from None
    if envelope is None or header is None:
        session.protection = PLAIN
    else:
        session.protection = Protection(kind_of(envelope), header.security_control)
    return plain
