"""GET (normal, next, with-list) on the server side, with the fast path for a plain GET-request-normal.

The fast GET path caches the objects it resolved for the lifetime of the association (objects added to
or removed from the device mid-association may be seen late by that association).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from cosemnet.codec.axdr import encode_data
from cosemnet.codec.initiate import Conformance
from cosemnet.codec.obis import Obis
from cosemnet.codec.tags import ApduTag
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    DataAccessResult,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithList,
    SelectiveAccessDescriptor,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import CosemAccessError
from cosemnet.errors import CosemnetError, EncodeError
from cosemnet.server.blocks import ServiceHost, maybe_blocks, next_block
from cosemnet.server.exceptions import ServiceException, decode_request, malformed, not_negotiated
from cosemnet.server.session import PLAIN

__all__ = ["GetService"]

_GET_NORMAL: Final = struct.Struct(">BBBH6sbB")
_GET: Final = ApduTag.GET_RESPONSE
_GET_TAG: Final = int(ApduTag.GET_RESPONSE)  # a plain int: the fast path builds bytes from it
_OBJECT_CACHE: Final = 1024


class GetService:
    """GET requests of one association."""

    __slots__ = ("_host", "_send")

    def __init__(self, host: ServiceHost, send: Callable[[list[bytes]], list[bytes]]) -> None:
        self._host = host
        self._send = send
        """Protects and cuts (GBT) the responses of the fast path."""

    def fast(self, apdu: bytes, now: float) -> list[bytes] | None:
        """GET-request-normal without selection on a plain association: the benchmarked path. None
        when the request needs the general path."""
        _, _, iip, class_id, instance_id, attribute_id, flag = _GET_NORMAL.unpack(apdu)
        host = self._host
        session = host.session
        if flag or not iip & 0x40 or not session.get_negotiated:
            return None
        session.protection = PLAIN
        session.long_response = None
        ctx = host.access_context(now)
        try:
            key = (class_id, instance_id)
            objects = session.objects
            obj = objects.get(key)
            if obj is None:
                obj = host.device.resolve(class_id, instance_id, ctx)
                if len(objects) >= _OBJECT_CACHE:
                    objects.clear()
                objects[key] = obj
            value = obj.get(attribute_id, ctx)
        except CosemAccessError as exc:
            host.end_access()
            return [bytes((_GET_TAG, 1, iip, 1, exc.data_access_result))]
        except CosemnetError:
            host.end_access()
            return [bytes((_GET_TAG, 1, iip, 1, DataAccessResult.OTHER_REASON))]
        host.end_access()
        try:
            body = encode_data(value)
        except EncodeError:
            return [bytes((_GET_TAG, 1, iip, 1, DataAccessResult.OTHER_REASON))]
        encoded = bytes((_GET_TAG, 1, iip, 0)) + body
        if len(encoded) <= session.max_send_pdu_size:
            return [encoded]
        session.via_gbt = False
        try:
            return self._send(maybe_blocks(session, _GET, iip, encoded, 4))
        except ServiceException as exc:
            return [exc.response.encode()]

    def handle(self, plain: bytes, now: float) -> list[bytes]:
        """A GET-Request (any choice)."""
        choice = plain[1]
        host = self._host
        if choice == GetRequestNext.CHOICE:
            host.require(Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ)
            request_next = decode_request(GetRequestNext, plain)
            return next_block(host.session, _GET, request_next.block_number, plain[2])
        host.session.long_response = None
        if choice == GetRequestNormal.CHOICE:
            return self._normal(plain, now)
        if choice == GetRequestWithList.CHOICE:
            return self._with_list(plain, now)
        raise malformed()

    def _read_attribute(
        self,
        class_id: int,
        instance_id: Obis,
        attribute_id: int,
        selection: SelectiveAccessDescriptor | None,
        ctx: AccessContext,
    ) -> DataValue | DataAccessResult:
        host = self._host
        if selection is not None and not host.session.conformance & Conformance.SELECTIVE_ACCESS:
            raise not_negotiated()
        try:
            return host.device.get(class_id, instance_id, attribute_id, ctx, selection)
        except CosemAccessError as exc:
            return exc.data_access_result
        except CosemnetError:
            return DataAccessResult.OTHER_REASON

    def _normal(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        host.require(Conformance.GET)
        request = decode_request(GetRequestNormal, plain)
        ctx = host.access_context(now)
        d = request.cosem_attribute_descriptor
        result = self._read_attribute(
            d.class_id, d.instance_id, d.attribute_id, request.access_selection, ctx
        )
        host.end_access()
        if not plain[2] & 0x40:
            return []
        try:
            encoded = GetResponseNormal(
                request.invoke_id, result, request.service_class, request.priority
            ).encode()
        except EncodeError:
            encoded = bytes((_GET_TAG, 1, plain[2], 1, DataAccessResult.OTHER_REASON))
        if type(result) is DataAccessResult:
            return [encoded]
        return maybe_blocks(host.session, _GET, plain[2], encoded, 4)

    def _with_list(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        host.require(Conformance.GET | Conformance.MULTIPLE_REFERENCES)
        request = decode_request(GetRequestWithList, plain)
        ctx = host.access_context(now)
        results: list[DataAccessResult | DataValue] = []
        for item in request.attribute_descriptor_list:
            d = item.cosem_attribute_descriptor
            results.append(
                self._read_attribute(d.class_id, d.instance_id, d.attribute_id, item.access_selection, ctx)
            )
        host.end_access()
        if not plain[2] & 0x40:
            return []
        try:
            encoded = GetResponseWithList(
                request.invoke_id, results, request.service_class, request.priority
            ).encode()
        except EncodeError:
            encoded = GetResponseWithList(
                request.invoke_id,
                [DataAccessResult.OTHER_REASON] * len(results),
                request.service_class,
                request.priority,
            ).encode()
        return maybe_blocks(host.session, _GET, plain[2], encoded, 3)
