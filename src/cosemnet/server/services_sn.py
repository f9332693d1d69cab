"""Short-name services on the server side: Read (with block-number-access), Write, UnconfirmedWrite."""

from __future__ import annotations

from cosemnet.codec.initiate import Conformance
from cosemnet.codec.tags import ApduTag
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    BlockNumber,
    BlockNumberAccess,
    DataAccessResult,
    DataBlockResult,
    ParameterizedAccess,
    ReadDataBlockAccess,
    ReadRequest,
    ReadResponse,
    SelectiveAccessDescriptor,
    UnconfirmedWriteRequest,
    VariableName,
    WriteDataBlockAccess,
    WriteRequest,
    WriteResponse,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import CosemAccessError
from cosemnet.errors import CosemnetError, EncodeError
from cosemnet.server.blocks import ServiceHost, maybe_blocks, next_block
from cosemnet.server.exceptions import decode_request, malformed, not_allowed

__all__ = ["ShortNameService"]

_READ = ApduTag.READ_RESPONSE
_SN_INVOKE_BYTE = 0xC0
"""SN services carry no invoke-id-and-priority: blocks are built as for id 0, confirmed, high priority."""


class ShortNameService:
    """SN requests of one association."""

    __slots__ = ("_host",)

    def __init__(self, host: ServiceHost) -> None:
        self._host = host

    def _read_one(self, item: object, ctx: AccessContext) -> DataValue | DataAccessResult:
        if isinstance(item, VariableName):
            name, selector, parameter = item.variable_name, None, None
        elif isinstance(item, ParameterizedAccess):
            self._host.require(Conformance.PARAMETERIZED_ACCESS)
            name, selector, parameter = item.variable_name, item.selector, item.parameter
        else:
            return DataAccessResult.OTHER_REASON
        target = self._host.device.find_by_short_name(name)
        if target is None:
            return DataAccessResult.OBJECT_UNDEFINED
        obj, kind, index = target
        try:
            if kind == "attribute":
                selection = None if selector is None else SelectiveAccessDescriptor(selector, parameter)
                return obj.get(index, ctx, selection)
            value = obj.action(index, parameter, ctx)
        except CosemAccessError as exc:
            return exc.data_access_result
        except CosemnetError:
            return DataAccessResult.OTHER_REASON
        return value

    def read(self, plain: bytes, now: float) -> list[bytes]:
        """A ReadRequest."""
        host = self._host
        host.require(Conformance.READ)
        request = decode_request(ReadRequest, plain)
        items = request.variable_access_specification
        if len(items) == 1 and isinstance(items[0], BlockNumberAccess):
            host.require(Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ)
            return next_block(host.session, _READ, items[0].block_number, _SN_INVOKE_BYTE)
        host.session.long_response = None
        if len(items) > 1:
            host.require(Conformance.MULTIPLE_REFERENCES)
        if any(isinstance(i, BlockNumberAccess | ReadDataBlockAccess | WriteDataBlockAccess) for i in items):
            raise not_allowed()
        ctx = host.access_context(now)
        results: list[DataAccessResult | DataBlockResult | BlockNumber | DataValue] = [
            self._read_one(item, ctx) for item in items
        ]
        host.end_access()
        try:
            encoded = ReadResponse(results).encode()
        except EncodeError:
            encoded = ReadResponse([DataAccessResult.OTHER_REASON for _ in results]).encode()
        return maybe_blocks(host.session, _READ, _SN_INVOKE_BYTE, encoded, 1)

    def _write_one(self, item: object, value: DataValue, ctx: AccessContext) -> DataAccessResult | None:
        if isinstance(item, ParameterizedAccess):
            self._host.require(Conformance.PARAMETERIZED_ACCESS)
        if not isinstance(item, VariableName | ParameterizedAccess):
            return DataAccessResult.OTHER_REASON
        target = self._host.device.find_by_short_name(item.variable_name)
        if target is None:
            return DataAccessResult.OBJECT_UNDEFINED
        obj, kind, index = target
        try:
            if kind == "attribute":
                obj.set(index, value, ctx)
            else:
                obj.action(index, value, ctx)
        except CosemAccessError as exc:
            return exc.data_access_result
        except CosemnetError:
            return DataAccessResult.OTHER_REASON
        return None

    def write(self, plain: bytes, now: float) -> list[bytes]:
        """A WriteRequest or an UnconfirmedWriteRequest."""
        host = self._host
        unconfirmed = plain[0] == ApduTag.UNCONFIRMED_WRITE_REQUEST
        host.require(Conformance.UNCONFIRMED_WRITE if unconfirmed else Conformance.WRITE)
        request: UnconfirmedWriteRequest | WriteRequest = (
            decode_request(UnconfirmedWriteRequest, plain)
            if unconfirmed
            else decode_request(WriteRequest, plain)
        )
        items = request.variable_access_specification
        values = request.list_of_data
        if len(items) != len(values):
            raise malformed()
        if len(items) > 1:
            host.require(Conformance.MULTIPLE_REFERENCES)
        host.session.long_response = None
        ctx = host.access_context(now)
        results: list[DataAccessResult | BlockNumber | None] = [
            self._write_one(item, value, ctx) for item, value in zip(items, values, strict=True)
        ]
        host.end_access()
        if unconfirmed:
            return []
        return [WriteResponse(results).encode()]
