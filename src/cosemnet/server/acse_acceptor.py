"""The ACSE side of a server association: AARQ -> negotiated parameters + AARE, HLS passes 3/4, RLRQ.

:meth:`AcseAcceptor.handle_aarq` finds the :class:`~cosemnet.server.config.AssociationProfile` of the
client SAP, checks the application context, the mechanism, the calling AP title of ciphered contexts,
the LLS password or stores the HLS CtoS, deciphers a protected InitiateRequest with the Security setup
keys, checks the InitiateRequest (DLMS version 6, client max receive PDU >= 12, common conformance) and
answers the AARE; an accepted AARQ gives a fresh :class:`~cosemnet.server.session.AssociationSession`
holding everything that was negotiated. The design choices where the standard is silent are listed in
the docstring of :mod:`cosemnet.server.association`.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final

from cosemnet.codec.acse import (
    AARE,
    AARQ,
    ACSE_REQUIREMENTS_AUTHENTICATION,
    RLRE,
    RLRQ,
    ApplicationContextName,
    AssociateSourceDiagnostic,
    AssociationResult,
    MechanismName,
    ReleaseResponseReason,
)
from cosemnet.codec.initiate import VAA_NAME_LN, Conformance, InitiateRequest, InitiateResponse
from cosemnet.codec.service_error import (
    ConfirmedService,
    ConfirmedServiceError,
    Initiate,
    ServiceError,
    initiate_error,
)
from cosemnet.codec.xdlms.common import ActionResult
from cosemnet.cosem.association import AssociationStatus
from cosemnet.cosem.context import AccessContext, SideEffects
from cosemnet.cosem.results import CosemAccessError
from cosemnet.cosem.security_setup import KeyPairType, SecuritySetup
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security.ciphering import Role, SecurityContext, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import CounterSource, ReplayFloors, ReplayGuard
from cosemnet.security.errors import KeyMissingError, SecurityError
from cosemnet.security.hls import HlsServer, Mechanism
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.server.auth_limiter import AuthFailureLimiter
from cosemnet.server.config import AssociationProfile, ServedDevice
from cosemnet.server.exceptions import ServiceException, malformed
from cosemnet.server.protection import kind_of, protect, refresh_security
from cosemnet.server.session import PLAIN, AssociationSession, AssociationState, Protection

__all__ = ["AUTHENTICATION_FAILURE_EVENT", "AcseAcceptor", "CounterProvider", "Negotiated"]

_logger = logging.getLogger("cosemnet.server.association")

AUTHENTICATION_FAILURE_EVENT: Final = "association_authentication_failure"
"""The event name reported to ``ServedDevice.on_security_event`` (docs/decisions/0034)."""

CounterProvider = Callable[[SecuritySetup], CounterSource]
"""Gives the server's sending invocation counter (global unicast key) of a Security setup."""

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_HLS: Final = frozenset(
    {Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_GMAC, Mechanism.HLS_SHA256, Mechanism.HLS_ECDSA}
)
_NULL: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_NULL
_NO_REASON: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_NO_REASON_GIVEN
_CONTEXT_NOT_SUPPORTED: Final = (
    AssociateSourceDiagnostic.ACSE_SERVICE_USER_APPLICATION_CONTEXT_NAME_NOT_SUPPORTED
)
_CALLING_AP_TITLE: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_CALLING_AP_TITLE_NOT_RECOGNIZED
_MECHANISM_NOT_RECOGNISED: Final = (
    AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED
)
_MECHANISM_REQUIRED: Final = (
    AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_MECHANISM_NAME_REQUIRED
)
_AUTHENTICATION_FAILURE: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_FAILURE
_AUTHENTICATION_REQUIRED: Final = AssociateSourceDiagnostic.ACSE_SERVICE_USER_AUTHENTICATION_REQUIRED
_SN_DEFAULT_VAA_NAME: Final = 0xFA00


class Refusal(Exception):
    """Internal: an AARQ refusal with its diagnostic and optional initiate error."""

    def __init__(
        self,
        diagnostic: AssociateSourceDiagnostic,
        error: ConfirmedServiceError | None = None,
        *,
        cipher_error: bool = False,
        failure: str | None = None,
        security: SecurityContext | None = None,
        protection: Protection = PLAIN,
    ) -> None:
        super().__init__(diagnostic.name)
        self.diagnostic = diagnostic
        self.error = error
        self.cipher_error = cipher_error
        self.failure = failure
        """An authentication failure to rate-limit and record (what failed), or None."""
        self.security = security
        self.protection = protection
        """How to protect the initiate error (a ciphered InitiateRequest's protection, else plain)."""


@dataclass(slots=True)
class Negotiated:
    """What an accepted AARQ negotiated."""

    profile: AssociationProfile
    mechanism: Mechanism
    conformance: Conformance
    max_send_pdu_size: int
    """The client's max receive PDU size (capped): the limit of what the server sends."""
    server_max_receive_pdu_size: int
    hls: HlsServer | None
    security: SecurityContext | None
    protection: Protection
    """The InitiateRequest's protection (the InitiateResponse gets the same)."""
    client_title: bytes | None


def _context_unsupported() -> ConfirmedServiceError:
    return ConfirmedServiceError(
        ConfirmedService.INITIATE_ERROR, ServiceError.APPLICATION_REFERENCE_APPLICATION_CONTEXT_UNSUPPORTED
    )


def _deciphering_error() -> ConfirmedServiceError:
    return ConfirmedServiceError(
        ConfirmedService.INITIATE_ERROR, ServiceError.APPLICATION_REFERENCE_DECIPHERING_ERROR
    )


class AcseAcceptor:
    """AARQ/AARE, HLS passes 3/4 and RLRQ/RLRE of one (client SAP, logical device) pair."""

    def __init__(
        self,
        served: ServedDevice,
        client_sap: int,
        server_sap: int,
        *,
        counters: CounterProvider,
        effects: SideEffects,
        challenge_factory: Callable[[], bytes] | None,
        log: Callable[[str], None] | None,
        replay_floors: ReplayFloors | None,
        auth_limiter: AuthFailureLimiter | None,
        peer: Hashable,
    ) -> None:
        self.served = served
        self.client_sap = client_sap
        self.server_sap = server_sap
        self._counters = counters
        self._effects = effects
        self._challenge_factory = challenge_factory
        self._log = log
        self.floors = replay_floors
        self._limiter = auth_limiter
        self.peer = peer

    # ----------------------------------------------------------------------------------------------
    # AARQ

    def handle_aarq(
        self, data: bytes, now: float, pdu_size_limit: int
    ) -> tuple[bytes, AssociationSession | None]:
        """The AARE and, when the AARQ is accepted, the new association's session."""
        profile = self.served.by_client_sap.get(self.client_sap)
        if self._limiter is not None:
            until = self._limiter.blocked_until((self.client_sap, self.peer), now)
            if until is not None:  # back-off: refused without looking at the AARQ's secret
                _logger.info(
                    "AARQ refused during authentication back-off: client SAP %d server SAP %d from %s "
                    "(%.1f s left)", self.client_sap, self.server_sap, self.peer, until - now,
                )  # fmt: skip
                return AARE(
                    application_context_name=(
                        profile.application_context_name if profile is not None else ApplicationContextName.LN
                    ),
                    result=AssociationResult.REJECTED_TRANSIENT,
                    result_source_diagnostic=_NO_REASON,
                ).encode(), None
        try:
            aarq = AARQ.decode(data)
        except DecodeError:
            context = profile.application_context_name if profile is not None else ApplicationContextName.LN
            return AARE(
                application_context_name=context,
                result=AssociationResult.REJECTED_PERMANENT,
                result_source_diagnostic=AssociateSourceDiagnostic.ACSE_SERVICE_PROVIDER_NO_REASON_GIVEN,
            ).encode(), None
        if profile is None:
            return self._reject(aarq.application_context_name, _NO_REASON), None
        try:
            negotiated = self.negotiate(aarq, profile, pdu_size_limit)
        except Refusal as refusal:
            return self._refused(profile, refusal, now), None
        session = self._open(negotiated)
        return self._aare(aarq, negotiated), session

    def _refused(self, profile: AssociationProfile, refusal: Refusal, now: float) -> bytes:
        if refusal.failure is not None:
            self.authentication_failed(refusal.failure, now)
        user_information = None
        if refusal.error is not None:
            user_information = refusal.error.encode()
            if (
                not refusal.cipher_error
                and refusal.protection.kind is not None
                and refusal.security is not None
            ):
                try:
                    user_information = protect(user_information, refusal.protection, refusal.security)
                except ServiceException:
                    user_information = refusal.error.encode()
        return self._reject(profile.application_context_name, refusal.diagnostic, user_information)

    def _reject(
        self,
        context: ApplicationContextName,
        diagnostic: AssociateSourceDiagnostic,
        user_information: bytes | None = None,
    ) -> bytes:
        if self._log is not None:
            self._log(
                f"association refused: client {self.client_sap} server {self.server_sap}: "
                f"{diagnostic.detail.name.lower()}"
            )
        return AARE(
            application_context_name=context,
            result=AssociationResult.REJECTED_PERMANENT,
            result_source_diagnostic=diagnostic,
            user_information=user_information,
        ).encode()

    def negotiate(self, aarq: AARQ, profile: AssociationProfile, pdu_size_limit: int) -> Negotiated:
        """Check ``aarq`` against ``profile``: the negotiated parameters, or :class:`Refusal`."""
        if aarq.application_context_name != profile.application_context_name:
            raise Refusal(_CONTEXT_NOT_SUPPORTED)
        proposed = Mechanism(int(aarq.mechanism_name)) if aarq.mechanism_name is not None else Mechanism.NONE
        if proposed != profile.mechanism:
            raise Refusal(_MECHANISM_REQUIRED if proposed is Mechanism.NONE else _MECHANISM_NOT_RECOGNISED)
        client_title = self._client_title(aarq, profile)
        hls = self._authenticate(aarq, profile, proposed, client_title)
        initiate, security, protection = self._initiate(aarq, profile, client_title)
        if initiate.proposed_dlms_version_number < 6:
            raise self._initiate_refusal(Initiate.DLMS_VERSION_TOO_LOW, security, protection)
        if initiate.client_max_receive_pdu_size < 12:
            raise self._initiate_refusal(Initiate.PDU_SIZE_TOO_SHORT, security, protection)
        conformance = Conformance(int(initiate.proposed_conformance) & int(profile.conformance))
        if not conformance:
            raise self._initiate_refusal(Initiate.INCOMPATIBLE_CONFORMANCE, security, protection)
        if security is not None and initiate.dedicated_key is not None:
            try:
                security.set_dedicated_key(initiate.dedicated_key)
            except SecurityError:
                raise self._initiate_refusal(Initiate.OTHER, security, protection) from None
        return Negotiated(
            profile=profile,
            mechanism=proposed,
            conformance=conformance,
            max_send_pdu_size=min(initiate.client_max_receive_pdu_size, pdu_size_limit),
            server_max_receive_pdu_size=min(profile.max_receive_pdu_size, pdu_size_limit),
            hls=hls,
            security=security,
            protection=protection,
            client_title=client_title,
        )

    @staticmethod
    def _client_title(aarq: AARQ, profile: AssociationProfile) -> bytes | None:
        """The client system title: the calling AP title (required for ciphered contexts), else the
        Security setup's client_system_title; None when neither is 8 bytes."""
        setup = profile.security_setup
        client_title = aarq.calling_ap_title
        if profile.ciphered:
            if client_title is None or len(client_title) != 8:
                raise Refusal(_CALLING_AP_TITLE)
            if setup is None:
                raise Refusal(_NO_REASON)
        if client_title is None and setup is not None and len(setup.client_system_title) == 8:
            client_title = setup.client_system_title
        if client_title is not None and len(client_title) != 8:
            client_title = None
        return client_title

    def _authenticate(
        self, aarq: AARQ, profile: AssociationProfile, proposed: Mechanism, client_title: bytes | None
    ) -> HlsServer | None:
        """Authentication pass 1: the LLS password, or the HLS CtoS (the HLS exchange is returned)."""
        value = aarq.calling_authentication_value
        if proposed is Mechanism.LLS:
            if not isinstance(value, bytes) or not profile.association.check_lls_secret(value):
                raise Refusal(_AUTHENTICATION_FAILURE, failure="LLS password")
            return None
        if proposed in _HLS:
            if not isinstance(value, bytes):
                raise Refusal(_AUTHENTICATION_FAILURE, failure="HLS pass 1")
            hls = self._hls_server(profile, client_title)
            try:
                hls.receive_calling_authentication(value, client_title)
            except SecurityError:
                raise Refusal(_AUTHENTICATION_FAILURE, failure="HLS pass 1") from None
            return hls
        if proposed is not Mechanism.NONE:
            raise Refusal(_MECHANISM_NOT_RECOGNISED)
        return None

    def _initiate(
        self, aarq: AARQ, profile: AssociationProfile, client_title: bytes | None
    ) -> tuple[InitiateRequest, SecurityContext | None, Protection]:
        """The xDLMS InitiateRequest of the AARQ (deciphered in a ciphered context)."""
        if aarq.user_information is None:
            raise Refusal(_NO_REASON)
        try:
            decoded = aarq.decode_user_information()
        except DecodeError:
            raise Refusal(_NO_REASON, initiate_error(Initiate.OTHER), cipher_error=True) from None
        if not profile.ciphered:
            if not isinstance(decoded, InitiateRequest):
                raise Refusal(_NO_REASON, _context_unsupported(), cipher_error=True)
            return decoded, None, PLAIN
        if not isinstance(decoded, bytes):
            raise Refusal(_NO_REASON, _context_unsupported(), cipher_error=True)
        setup = profile.security_setup
        assert setup is not None and client_title is not None
        security = self._security_context(setup, client_title)
        try:
            plain, envelope, header = unprotect_apdu(decoded, security)
            if envelope is None or header is None:
                raise Refusal(_NO_REASON, _context_unsupported(), cipher_error=True)
            initiate = InitiateRequest.decode(plain)
        except (SecurityError, DecodeError):
            raise Refusal(
                _NO_REASON, _deciphering_error(), cipher_error=True, failure="InitiateRequest deciphering"
            ) from None
        return initiate, security, Protection(kind_of(envelope), header.security_control)

    @staticmethod
    def _initiate_refusal(
        error: Initiate, security: SecurityContext | None, protection: Protection
    ) -> Refusal:
        """An initiate error, ciphered like the InitiateRequest when that one was ciphered."""
        return Refusal(_NO_REASON, initiate_error(error), security=security, protection=protection)

    def _security_context(self, setup: SecuritySetup, client_title: bytes) -> SecurityContext:
        source = setup.keys
        try:
            return SecurityContext(
                suite=setup.security_suite,
                policy=SecurityPolicy(int(setup.security_policy)),
                system_title=setup.server_system_title,
                peer_system_title=client_title,
                keys=KeySet(source.ek, source.ak, source.broadcast_key, None, source.kek),
                invocation_counters={KeyRole.GLOBAL_UNICAST: self._counters(setup)},
                replay_guard=self.floors.guard(source.ek) if self.floors is not None else ReplayGuard(),
                role=Role.SERVER,
            )
        except (SecurityError, EncodeError):
            raise Refusal(_NO_REASON) from None

    def _hls_kwargs(self, profile: AssociationProfile, client_title: bytes | None) -> dict[str, object]:
        """The secrets and keys the mechanism of ``profile`` needs."""
        setup = profile.security_setup
        mechanism = profile.mechanism
        kwargs: dict[str, object] = {}
        if mechanism in (Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_SHA256):
            kwargs["secret"] = profile.association.secret
        if mechanism is Mechanism.HLS_GMAC:
            if setup is None:
                raise Refusal(_NO_REASON)
            kwargs.update(ek=setup.keys.ek, ak=setup.keys.ak, invocation_counter=self._counters(setup))
        if mechanism is Mechanism.HLS_ECDSA:
            if setup is None or client_title is None:
                raise Refusal(_AUTHENTICATION_FAILURE)
            from cosemnet.security.certificates import CertificateType, certificate_public_key

            stored = setup.certificates.find_by_system_title(client_title, CertificateType.DIGITAL_SIGNATURE)
            signing_key = setup.private_key(KeyPairType.DIGITAL_SIGNATURE)
            if stored is None or signing_key is None:
                raise Refusal(_AUTHENTICATION_FAILURE)
            kwargs.update(signing_key=signing_key, peer_public_key=certificate_public_key(stored.certificate))
        return kwargs

    def _hls_server(self, profile: AssociationProfile, client_title: bytes | None) -> HlsServer:
        setup = profile.security_setup
        mechanism = profile.mechanism
        kwargs = self._hls_kwargs(profile, client_title)
        if (
            mechanism in (Mechanism.HLS_GMAC, Mechanism.HLS_SHA256, Mechanism.HLS_ECDSA)
            and client_title is None
        ):
            raise Refusal(_CALLING_AP_TITLE)
        own_challenge = self._challenge_factory() if self._challenge_factory is not None else None
        try:
            return HlsServer(
                mechanism,
                setup.server_system_title if setup is not None else bytes(8),
                peer_system_title=client_title,
                suite=setup.security_suite if setup is not None else SecuritySuite.SUITE_0,
                own_challenge=own_challenge,
                replay_guard=None,
                **kwargs,  # type: ignore[arg-type]
            )
        except KeyMissingError:
            raise Refusal(_NO_REASON) from None
        except SecurityError:
            raise Refusal(_AUTHENTICATION_FAILURE) from None

    def _open(self, negotiated: Negotiated) -> AssociationSession:
        """The session of an accepted association."""
        profile = negotiated.profile
        hls = negotiated.hls
        setup = profile.security_setup
        client_title = negotiated.client_title
        if setup is not None and client_title is not None and (profile.ciphered or hls is not None):
            setup.client_system_title = client_title
        return AssociationSession(
            state=AssociationState.PENDING if hls is not None else AssociationState.ASSOCIATED,
            profile=profile,
            conformance=negotiated.conformance,
            max_send_pdu_size=negotiated.max_send_pdu_size,
            security=negotiated.security,
            hls=hls,
            ctx=AccessContext(
                now=_EPOCH,
                effects=self._effects,
                client_sap=self.client_sap,
                server_sap=self.server_sap,
                mechanism=int(negotiated.mechanism),
                association=profile.association,
            ),
            status=AssociationStatus.ASSOCIATION_PENDING if hls is not None else AssociationStatus.ASSOCIATED,
            get_negotiated=bool(negotiated.conformance & Conformance.GET),
            protection=negotiated.protection,
        )

    def _aare(self, aarq: AARQ, negotiated: Negotiated) -> bytes:
        """The AARE accepting ``aarq`` (the InitiateResponse protected like the InitiateRequest)."""
        profile = negotiated.profile
        association = profile.association
        hls = negotiated.hls
        setup = profile.security_setup
        vaa_name = VAA_NAME_LN
        if profile.short_names:
            vaa_name = association.base_name if association.base_name is not None else _SN_DEFAULT_VAA_NAME
        response = InitiateResponse(
            negotiated_conformance=negotiated.conformance,
            server_max_receive_pdu_size=negotiated.server_max_receive_pdu_size,
            vaa_name=vaa_name,
        ).encode()
        if negotiated.protection.kind is not None:
            response = protect(response, negotiated.protection, negotiated.security)
        responding_title = None
        if setup is not None and (profile.ciphered or aarq.calling_ap_title is not None):
            responding_title = setup.server_system_title
        if hls is None and negotiated.mechanism is not Mechanism.NONE and self._limiter is not None:
            self._limiter.success((self.client_sap, self.peer))
        if self._log is not None:
            self._log(
                f"association accepted: client {self.client_sap} server {self.server_sap} "
                f"context {profile.application_context_name.name} mechanism {negotiated.mechanism.name}"
                + (" (HLS pending)" if hls is not None else "")
            )
        return AARE(
            application_context_name=profile.application_context_name,
            result=AssociationResult.ACCEPTED,
            result_source_diagnostic=_AUTHENTICATION_REQUIRED if hls is not None else _NULL,
            responding_ap_title=responding_title,
            responder_acse_requirements=ACSE_REQUIREMENTS_AUTHENTICATION if hls is not None else None,
            mechanism_name=MechanismName(int(negotiated.mechanism)) if hls is not None else None,
            responding_authentication_value=hls.challenge() if hls is not None else None,
            user_information=response,
        ).encode()

    # ----------------------------------------------------------------------------------------------
    # HLS passes 3 and 4, failures

    def complete_hls(self, session: AssociationSession, client_response: bytes, now: float) -> bytes:
        """HLS passes 3 and 4 (called through the association object's reply_to_HLS_authentication)."""
        hls = session.hls
        if hls is None or session.state is not AssociationState.PENDING:
            raise CosemAccessError(ActionResult.READ_WRITE_DENIED, "no HLS authentication pending")
        try:
            hls.verify_response(client_response)
            answer = hls.response()
        except SecurityError:
            session.release_after = True
            self.authentication_failed("HLS pass 3", now)
            raise CosemAccessError(ActionResult.READ_WRITE_DENIED, "HLS response does not verify") from None
        if self._limiter is not None:
            self._limiter.success((self.client_sap, self.peer))
        session.state = AssociationState.ASSOCIATED
        if self._log is not None:
            self._log(f"HLS authentication completed: client {self.client_sap} server {self.server_sap}")
        return answer

    def authentication_failed(self, what: str, now: float) -> None:
        """Count a failed authentication of (client SAP, peer), log it and report it to the device."""
        if now != now:  # no time seen yet on this association (NaN)
            now = 0.0
        backoff = None
        if self._limiter is not None:
            backoff = self._limiter.failure((self.client_sap, self.peer), now)
        text = f"authentication failure ({what}): client {self.client_sap} server {self.server_sap}"
        if self.peer is not None:
            text += f" from {self.peer}"
        if backoff is not None:
            text += f", back-off {backoff - now:.1f} s"
        _logger.warning("%s", text)
        if self._log is not None:
            self._log(text)
        report = self.served.on_security_event
        if report is not None:
            try:
                report(AUTHENTICATION_FAILURE_EVENT, now)
            except Exception as exc:  # the event log must not break the server
                _logger.error("recording %s failed: %s", AUTHENTICATION_FAILURE_EVENT, type(exc).__name__)

    # ----------------------------------------------------------------------------------------------
    # RLRQ

    def handle_rlrq(self, session: AssociationSession, data: bytes) -> tuple[bytes, bool]:
        """The RLRE, and whether the association is released (docs/decisions/0035)."""
        try:
            rlrq = RLRQ.decode(data)
        except DecodeError:
            raise malformed() from None
        user_information = None
        security = session.security
        profile = session.profile
        if security is not None and profile is not None:
            # a ciphered association is released only by a protected RLRQ (docs/decisions/0035)
            try:
                if rlrq.user_information is None:
                    raise SecurityError("plain RLRQ in a ciphered association")
                assert profile.security_setup is not None
                refresh_security(security, profile.security_setup, self.floors)
                plain, envelope, header = unprotect_apdu(rlrq.user_information, security)
                if envelope is None or header is None:
                    raise SecurityError("plain InitiateRequest in the RLRQ of a ciphered association")
                InitiateRequest.decode(plain)
            except (SecurityError, DecodeError) as exc:
                _logger.warning(
                    "release refused: client %d server %d from %s: %s",
                    self.client_sap, self.server_sap, self.peer, exc.__class__.__name__,
                )  # fmt: skip
                if self._log is not None:
                    self._log(
                        f"release refused (RLRQ not protected): client {self.client_sap} "
                        f"server {self.server_sap}"
                    )
                return RLRE(reason=ReleaseResponseReason.NOT_FINISHED).encode(), False
            session.protection = Protection(kind_of(envelope), header.security_control)
            response = InitiateResponse(
                negotiated_conformance=session.conformance,
                server_max_receive_pdu_size=profile.max_receive_pdu_size,
                vaa_name=VAA_NAME_LN,
            ).encode()
            user_information = protect(response, session.protection, security)
        return RLRE(reason=ReleaseResponseReason.NORMAL, user_information=user_information).encode(), True
