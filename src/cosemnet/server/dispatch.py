"""Dispatch of one plain (deciphered, reassembled) request to its service handler, by APDU tag.

While HLS pass 3 is pending only reply_to_HLS_authentication is served (ACTION on the LN association
object, or a Read/Write of its method short name for SN); anything else gets an ExceptionResponse
(service-not-allowed, operation-not-possible). A tag the server never receives as a request gets
(service-not-allowed, operation-not-possible); an unknown tag gets (service-unknown,
service-not-supported).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cosemnet.codec.tags import ApduTag
from cosemnet.codec.xdlms import (
    ActionRequestNormal,
    ExceptionServiceError,
    ParameterizedAccess,
    ReadRequest,
    StateError,
    VariableName,
    WriteRequest,
)
from cosemnet.cosem.association_sn import AssociationSN
from cosemnet.server.blocks import ServiceHost
from cosemnet.server.exceptions import ServiceException, decode_request, malformed, not_allowed
from cosemnet.server.services_action import ActionService
from cosemnet.server.services_get import GetService
from cosemnet.server.services_set import SetService
from cosemnet.server.services_sn import ShortNameService
from cosemnet.server.session import AssociationState

__all__ = ["Dispatcher", "Handler"]

Handler = Callable[[bytes, float], list[bytes]]
"""A service handler: (plain request, now) -> APDUs to send."""

_NOT_REQUESTS: Final = frozenset(
    {
        ApduTag.INITIATE_REQUEST,
        ApduTag.EVENT_NOTIFICATION_REQUEST,
        ApduTag.GET_RESPONSE,
        ApduTag.SET_RESPONSE,
        ApduTag.ACTION_RESPONSE,
        ApduTag.READ_RESPONSE,
        ApduTag.WRITE_RESPONSE,
        ApduTag.CONFIRMED_SERVICE_ERROR,
        ApduTag.DATA_NOTIFICATION,
        ApduTag.INFORMATION_REPORT_REQUEST,
        ApduTag.EXCEPTION_RESPONSE,
        ApduTag.GENERAL_BLOCK_TRANSFER,
    }
)
"""Tags a server is never asked with (a GBT inside a GBT included)."""

_LN_SERVICES: Final = frozenset({ApduTag.GET_REQUEST, ApduTag.SET_REQUEST, ApduTag.ACTION_REQUEST})
_REPLY_TO_HLS_LN: Final = 1
_REPLY_TO_HLS_SN: Final = 8
_REPLY_TO_HLS_SN_OFFSET: Final = 0x58
"""Association SN method 8 reply_to_HLS_authentication sits at base_name + 0x58."""


class Dispatcher:
    """The service handlers of one association, in a table keyed by :class:`ApduTag`."""

    __slots__ = ("_action", "_host", "_set", "_sn", "get")

    def __init__(self, host: ServiceHost, send: Callable[[list[bytes]], list[bytes]]) -> None:
        self._host = host
        self.get = GetService(host, send)
        self._action = ActionService(host)
        # created on first use (memory per association: a fleet of meters mostly serves GET)
        self._set: SetService | None = None
        self._sn: ShortNameService | None = None

    def _handler(self, tag: int) -> Handler | None:
        if tag == ApduTag.GET_REQUEST:
            return self.get.handle
        if tag == ApduTag.ACTION_REQUEST:
            return self._action.handle
        if tag == ApduTag.SET_REQUEST:
            if self._set is None:
                self._set = SetService(self._host)
            return self._set.handle
        if tag in (ApduTag.READ_REQUEST, ApduTag.WRITE_REQUEST, ApduTag.UNCONFIRMED_WRITE_REQUEST):
            if self._sn is None:
                self._sn = ShortNameService(self._host)
            return self._sn.read if tag == ApduTag.READ_REQUEST else self._sn.write
        return None

    def dispatch(self, plain: bytes, now: float) -> list[bytes]:
        """The responses to one plain request."""
        if len(plain) < 2:
            raise malformed()
        tag = plain[0]
        if tag in _LN_SERVICES and len(plain) < 3:
            raise malformed()
        if self._host.session.state is AssociationState.PENDING:
            return self._pending(plain, now)
        handler = self._handler(tag)
        if handler is not None:
            return handler(plain, now)
        if tag in _NOT_REQUESTS:
            raise not_allowed()
        raise ServiceException(StateError.SERVICE_UNKNOWN, ExceptionServiceError.SERVICE_NOT_SUPPORTED)

    def _pending(self, plain: bytes, now: float) -> list[bytes]:
        """HLS pass 3: only reply_to_HLS_authentication is served."""
        profile = self._host.session.profile
        assert profile is not None
        association = profile.association
        tag = plain[0]
        if (
            tag == ApduTag.ACTION_REQUEST
            and plain[1] == ActionRequestNormal.CHOICE
            and not profile.short_names
        ):
            request = decode_request(ActionRequestNormal, plain)
            d = request.cosem_method_descriptor
            method = _REPLY_TO_HLS_SN if isinstance(association, AssociationSN) else _REPLY_TO_HLS_LN
            if d.class_id == association.CLASS_ID and d.method_id == method:
                return self._action.handle(plain, now)
        if (
            profile.short_names
            and tag in (ApduTag.READ_REQUEST, ApduTag.WRITE_REQUEST)
            and association.base_name is not None
        ):
            target = association.base_name + _REPLY_TO_HLS_SN_OFFSET
            request_sn: ReadRequest | WriteRequest
            if tag == ApduTag.READ_REQUEST:
                request_sn = decode_request(ReadRequest, plain)
            else:
                request_sn = decode_request(WriteRequest, plain)
            items = request_sn.variable_access_specification
            if (
                len(items) == 1
                and isinstance(items[0], VariableName | ParameterizedAccess)
                and items[0].variable_name == target
            ):
                handler = self._handler(tag)
                assert handler is not None
                return handler(plain, now)
        raise not_allowed()
