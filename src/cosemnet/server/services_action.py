"""ACTION (normal, with-list, first/next pblock, next-pblock) on the server side."""

from __future__ import annotations

from typing import Final

from cosemnet.codec.initiate import Conformance
from cosemnet.codec.obis import Obis
from cosemnet.codec.tags import ApduTag
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    ActionRequestNextPblock,
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithList,
    ActionRequestWithListAndFirstPblock,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithOptionalData,
    DataBlockSA,
)
from cosemnet.codec.xdlms.common import IIP_FIELDS, ActionResult
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import CosemAccessError
from cosemnet.errors import CosemnetError, EncodeError
from cosemnet.server.blocks import (
    BlockCheck,
    ServiceHost,
    action_failure,
    action_refusal,
    last_block_values,
    maybe_blocks,
    next_block,
    take_first_block,
    take_next_block,
)
from cosemnet.server.exceptions import decode_request, malformed
from cosemnet.server.session import Target

__all__ = ["ActionService"]

_ACTION_REQUEST: Final = ApduTag.ACTION_REQUEST
_ACTION = ApduTag.ACTION_RESPONSE


def _encode_action(response: ActionResponseNormal | ActionResponseWithList) -> bytes:
    try:
        return response.encode()
    except EncodeError:
        if isinstance(response, ActionResponseNormal):
            response.single_response = ActionResponseWithOptionalData(ActionResult.OTHER_REASON)
        else:
            response.list_of_responses = [
                ActionResponseWithOptionalData(ActionResult.OTHER_REASON) for _ in response.list_of_responses
            ]
        return response.encode()


class ActionService:
    """ACTION requests of one association."""

    __slots__ = ("_host",)

    def __init__(self, host: ServiceHost) -> None:
        self._host = host

    def handle(self, plain: bytes, now: float) -> list[bytes]:
        """An ACTION-Request (any choice)."""
        choice = plain[1]
        host = self._host
        if choice == ActionRequestNextPblock.CHOICE:
            host.require(Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION)
            request_next = decode_request(ActionRequestNextPblock, plain)
            return next_block(host.session, _ACTION, request_next.block_number, plain[2])
        host.session.long_response = None
        if choice == ActionRequestNormal.CHOICE:
            return self._normal(plain, now)
        if choice == ActionRequestWithList.CHOICE:
            return self._with_list(plain, now)
        if choice in (ActionRequestWithFirstPblock.CHOICE, ActionRequestWithListAndFirstPblock.CHOICE):
            return self._first_block(plain, now)
        if choice == ActionRequestWithPblock.CHOICE:
            return self._next_block(plain, now)
        raise malformed()

    def _invoke(
        self, class_id: int, instance_id: Obis, method_id: int, parameter: DataValue, ctx: AccessContext
    ) -> ActionResponseWithOptionalData:
        try:
            value = self._host.device.action(class_id, instance_id, method_id, parameter, ctx)
        except CosemAccessError as exc:
            return ActionResponseWithOptionalData(exc.action_result)
        except CosemnetError:
            return ActionResponseWithOptionalData(ActionResult.OTHER_REASON)
        if value is None:
            return ActionResponseWithOptionalData(ActionResult.SUCCESS)
        return ActionResponseWithOptionalData(ActionResult.SUCCESS, value)

    def _normal(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        invoke_byte = plain[2]
        iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
        host.require(Conformance.ACTION)
        request = decode_request(ActionRequestNormal, plain)
        host.session.long_request = None
        d = request.cosem_method_descriptor
        response = self._invoke(
            d.class_id,
            d.instance_id,
            d.method_id,
            request.method_invocation_parameters,
            host.access_context(now),
        )
        host.end_access()
        if not service_class:
            return []
        encoded = _encode_action(ActionResponseNormal(iid, response, service_class, priority, reserved))
        return maybe_blocks(host.session, _ACTION, invoke_byte, encoded, 3)

    def _with_list(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        invoke_byte = plain[2]
        iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
        host.require(Conformance.ACTION | Conformance.MULTIPLE_REFERENCES)
        request = decode_request(ActionRequestWithList, plain)
        host.session.long_request = None
        methods = request.cosem_method_descriptor_list
        parameters = request.method_invocation_parameters
        if len(methods) != len(parameters):
            raise malformed()
        ctx = host.access_context(now)
        responses = [
            self._invoke(d.class_id, d.instance_id, d.method_id, p, ctx)
            for d, p in zip(methods, parameters, strict=True)
        ]
        host.end_access()
        if not service_class:
            return []
        encoded = _encode_action(ActionResponseWithList(iid, responses, service_class, priority, reserved))
        return maybe_blocks(host.session, _ACTION, invoke_byte, encoded, 3)

    def _first_block(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        invoke_byte = plain[2]
        host.require(Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION)
        targets: list[Target]
        if plain[1] == ActionRequestWithFirstPblock.CHOICE:
            first = decode_request(ActionRequestWithFirstPblock, plain)
            d = first.cosem_method_descriptor
            targets = [(d.class_id, d.instance_id, d.method_id, None)]
            block = first.pblock
            with_list = False
        else:
            host.require(Conformance.MULTIPLE_REFERENCES)
            first_list = decode_request(ActionRequestWithListAndFirstPblock, plain)
            targets = [
                (d.class_id, d.instance_id, d.method_id, None)
                for d in first_list.cosem_method_descriptor_list
            ]
            block = first_list.pblock
            with_list = True
        check, refused = take_first_block(host, _ACTION_REQUEST, invoke_byte, targets, with_list, block, now)
        if check is BlockCheck.FIRST_NUMBER_INVALID:
            return [action_failure(invoke_byte, ActionResult.OTHER_REASON)]
        if refused is not None:
            return [action_refusal(invoke_byte, with_list, refused)]
        return self._block_done(block, now)

    def _next_block(self, plain: bytes, now: float) -> list[bytes]:
        host = self._host
        invoke_byte = plain[2]
        host.require(Conformance.ACTION | Conformance.BLOCK_TRANSFER_WITH_ACTION)
        block = decode_request(ActionRequestWithPblock, plain).pblock
        check, _ = take_next_block(host, _ACTION_REQUEST, block, "ACTION block transfer")
        if check is BlockCheck.NO_TRANSFER:
            return [action_failure(invoke_byte, ActionResult.NO_LONG_ACTION_IN_PROGRESS)]
        if check is not BlockCheck.TAKEN:
            return [action_failure(invoke_byte, ActionResult.LONG_ACTION_ABORTED)]
        return self._block_done(block, now)

    def _block_done(self, block: DataBlockSA, now: float) -> list[bytes]:
        host = self._host
        long = host.session.long_request
        assert long is not None
        iid, service_class, priority, reserved = IIP_FIELDS[long.invoke_byte]
        if not block.last_block:
            return [
                ActionResponseNextPblock(iid, block.block_number, service_class, priority, reserved).encode()
            ]
        values = last_block_values(host, long)
        if values is None:
            return [action_failure(long.invoke_byte, ActionResult.TYPE_UNMATCHED)]
        ctx = host.access_context(now)
        responses = [
            self._invoke(class_id, instance_id, method_id, value, ctx)
            for (class_id, instance_id, method_id, _), value in zip(long.targets, values, strict=True)
        ]
        host.end_access()
        if long.with_list:
            encoded = _encode_action(
                ActionResponseWithList(iid, responses, service_class, priority, reserved)
            )
        else:
            encoded = _encode_action(
                ActionResponseNormal(iid, responses[0], service_class, priority, reserved)
            )
        return maybe_blocks(host.session, _ACTION, long.invoke_byte, encoded, 3)
