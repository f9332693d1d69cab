"""SET (normal, with-list, first/next datablock) on the server side."""

from __future__ import annotations

from typing import Final

from cosemnet.codec.initiate import Conformance
from cosemnet.codec.obis import Obis
from cosemnet.codec.tags import ApduTag
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    DataAccessResult,
    DataBlockSA,
    SetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetRequestWithList,
    SetRequestWithListAndFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseLastDatablockWithList,
    SetResponseNormal,
    SetResponseWithList,
)
from cosemnet.codec.xdlms.common import IIP_FIELDS
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import CosemAccessError
from cosemnet.errors import CosemnetError
from cosemnet.server.blocks import (
    BlockCheck,
    ServiceHost,
    last_block_values,
    set_refusal,
    take_first_block,
    take_next_block,
)
from cosemnet.server.exceptions import decode_request, malformed
from cosemnet.server.session import Target

__all__ = ["SetService"]

_SET_REQUEST: Final = ApduTag.SET_REQUEST


def _last_datablock(invoke_byte: int, result: DataAccessResult, block_number: int) -> bytes:
    iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
    return SetResponseLastDatablock(iid, result, block_number, service_class, priority, reserved).encode()


class SetService:
    """SET requests of one association."""

    __slots__ = ("_host",)

    def __init__(self, host: ServiceHost) -> None:
        self._host = host

    def handle(self, plain: bytes, now: float) -> list[bytes]:
        """A SET-Request (any choice)."""
        choice = plain[1]
        self._host.session.long_response = None
        if choice == SetRequestNormal.CHOICE:
            return self._normal(plain, now)
        if choice == SetRequestWithList.CHOICE:
            return self._with_list(plain, now)
        if choice in (SetRequestWithFirstDatablock.CHOICE, SetRequestWithListAndFirstDatablock.CHOICE):
            return self._first_block(plain, now)
        if choice == SetRequestWithDatablock.CHOICE:
            return self._next_block(plain, now)
        raise malformed()

    def _write_attribute(
        self, class_id: int, instance_id: Obis, attribute_id: int, value: DataValue, ctx: AccessContext
    ) -> DataAccessResult:
        try:
            self._host.device.set(class_id, instance_id, attribute_id, value, ctx)
        except CosemAccessError as exc:
            return exc.data_access_result
        except CosemnetError:
            return DataAccessResult.OTHER_REASON
        return DataAccessResult.SUCCESS

    def _normal(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        iid, service_class, priority, reserved = IIP_FIELDS[plain[2]]
        host.require(Conformance.SET)
        request = decode_request(SetRequestNormal, plain)
        host.session.long_request = None
        if request.access_selection is not None:
            host.require(Conformance.SELECTIVE_ACCESS)
        d = request.cosem_attribute_descriptor
        result = self._write_attribute(
            d.class_id, d.instance_id, d.attribute_id, request.value, host.access_context(now)
        )
        host.end_access()
        if not service_class:
            return []
        return [SetResponseNormal(iid, result, service_class, priority, reserved).encode()]

    def _with_list(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        iid, service_class, priority, reserved = IIP_FIELDS[plain[2]]
        host.require(Conformance.SET | Conformance.MULTIPLE_REFERENCES)
        request = decode_request(SetRequestWithList, plain)
        host.session.long_request = None
        if len(request.value_list) != len(request.attribute_descriptor_list):
            raise malformed()
        ctx = host.access_context(now)
        results = [
            self._write_attribute(
                item.cosem_attribute_descriptor.class_id,
                item.cosem_attribute_descriptor.instance_id,
                item.cosem_attribute_descriptor.attribute_id,
                value,
                ctx,
            )
            for item, value in zip(request.attribute_descriptor_list, request.value_list, strict=True)
        ]
        host.end_access()
        if not service_class:
            return []
        return [SetResponseWithList(iid, results, service_class, priority, reserved).encode()]

    def _first_block(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        invoke_byte = plain[2]
        host.require(Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE)
        block: DataBlockSA
        targets: list[Target]
        if plain[1] == SetRequestWithFirstDatablock.CHOICE:
            first = decode_request(SetRequestWithFirstDatablock, plain)
            d = first.cosem_attribute_descriptor
            targets = [(d.class_id, d.instance_id, d.attribute_id, first.access_selection)]
            block = first.datablock
            with_list = False
        else:
            host.require(Conformance.MULTIPLE_REFERENCES)
            first_list = decode_request(SetRequestWithListAndFirstDatablock, plain)
            targets = [
                (
                    item.cosem_attribute_descriptor.class_id,
                    item.cosem_attribute_descriptor.instance_id,
                    item.cosem_attribute_descriptor.attribute_id,
                    item.access_selection,
                )
                for item in first_list.attribute_descriptor_list
            ]
            block = first_list.datablock
            with_list = True
        check, refused = take_first_block(host, _SET_REQUEST, invoke_byte, targets, with_list, block, now)
        if check is BlockCheck.FIRST_NUMBER_INVALID:
            return [
                _last_datablock(invoke_byte, DataAccessResult.DATA_BLOCK_NUMBER_INVALID, block.block_number)
            ]
        if refused is not None:
            return [set_refusal(invoke_byte, with_list, refused, block.block_number)]
        return self._block_done(block, now)

    def _next_block(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        invoke_byte = plain[2]
        host.require(Conformance.SET | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE)
        block = decode_request(SetRequestWithDatablock, plain).datablock
        check, long = take_next_block(host, _SET_REQUEST, block, "SET block transfer")
        if check is BlockCheck.NO_TRANSFER:
            return [
                _last_datablock(invoke_byte, DataAccessResult.NO_LONG_SET_IN_PROGRESS, block.block_number)
            ]
        if check is BlockCheck.OUT_OF_SEQUENCE:
            return [
                _last_datablock(invoke_byte, DataAccessResult.DATA_BLOCK_NUMBER_INVALID, block.block_number)
            ]
        if check is BlockCheck.TOO_LARGE and long is not None:
            aborted = [int(DataAccessResult.LONG_SET_ABORTED)] * len(long.targets)
            return [set_refusal(invoke_byte, long.with_list, aborted, block.block_number)]
        return self._block_done(block, now)

    def _block_done(self, block: DataBlockSA, now: float) -> list[bytes]:
        host = self._host
        long = host.session.long_request
        assert long is not None
        iid, service_class, priority, reserved = IIP_FIELDS[long.invoke_byte]
        if not block.last_block:
            return [SetResponseDatablock(iid, block.block_number, service_class, priority, reserved).encode()]
        values = last_block_values(host, long)
        if values is None:
            unmatched = [int(DataAccessResult.TYPE_UNMATCHED)] * len(long.targets)
            return [set_refusal(long.invoke_byte, long.with_list, unmatched, block.block_number)]
        ctx = host.access_context(now)
        results = [
            self._write_attribute(class_id, instance_id, attribute_id, value, ctx)
            for (class_id, instance_id, attribute_id, _), value in zip(long.targets, values, strict=True)
        ]
        host.end_access()
        if long.with_list:
            return [
                SetResponseLastDatablockWithList(
                    iid, results, block.block_number, service_class, priority, reserved
                ).encode()
            ]
        return [
            SetResponseLastDatablock(
                iid, results[0], block.block_number, service_class, priority, reserved
            ).encode()
        ]
