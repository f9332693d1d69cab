"""Service-specific block transfer, out (GET datablock, ACTION pblock, SN data-block-result) and in
(SET datablock, ACTION pblock), for one association.

Outgoing: a response that does not fit the client's PDU is sent in service-specific blocks when that
block transfer was negotiated, else left whole for general-block-transfer when that was negotiated,
else refused with pdu-too-long. Block contents: GET with-list and ACTION with-list blocks carry the
SEQUENCE OF results (count + items); ACTION blocks carry Action-Response-With-Optional-Data; SN read
blocks carry the ReadResponse SEQUENCE OF results.

Incoming: SET/ACTION blocks carry the Data value (or the SEQUENCE OF Data of the with-list forms)
[reconstructed]; the first block is checked against the access rights of every target and the
``max_block_transfer`` cap before anything is kept.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Final, Protocol

from cosemnet.codec.axdr import decode_data, decode_data_exact, decode_length, encode_data, encode_length
from cosemnet.codec.initiate import Conformance
from cosemnet.codec.obis import Obis
from cosemnet.codec.tags import ApduTag
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithOptionalData,
    ActionResponseWithPblock,
    DataAccessResult,
    DataBlockG,
    DataBlockResult,
    DataBlockSA,
    GetResponseWithDataBlock,
    ReadResponse,
    SetResponseLastDatablock,
    SetResponseLastDatablockWithList,
)
from cosemnet.codec.xdlms.common import IIP_FIELDS, ActionResult
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import CosemAccessError
from cosemnet.errors import DecodeError
from cosemnet.server.exceptions import pdu_too_long
from cosemnet.server.protection import send_limit
from cosemnet.server.session import AssociationSession, LongRequest, LongResponse, Target

if TYPE_CHECKING:
    from cosemnet.cosem.logical_device import LogicalDevice

__all__ = [
    "BLOCK_HEADER",
    "BlockCheck",
    "ServiceHost",
    "action_failure",
    "action_refusal",
    "decode_values",
    "encode_values",
    "first_block_refusal",
    "last_block_values",
    "maybe_blocks",
    "next_block",
    "set_refusal",
    "take_first_block",
    "take_next_block",
]

BLOCK_HEADER: Final = 12  # tag, choice, invoke-id, last-block, block-number(4), choice, length(<=3)

_NEEDED: Final[dict[int, Conformance]] = {
    ApduTag.GET_RESPONSE: Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
    ApduTag.ACTION_RESPONSE: Conformance.BLOCK_TRANSFER_WITH_ACTION,
    ApduTag.READ_RESPONSE: Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ,
}


class ServiceHost(Protocol):
    """What the service handlers need of their association."""

    device: LogicalDevice
    max_block_transfer: int

    @property
    def session(self) -> AssociationSession: ...

    def access_context(self, now: float) -> AccessContext: ...

    def end_access(self) -> None: ...

    def require(self, conformance: Conformance) -> None: ...

    def log_limit(self, what: str, size: int) -> None: ...


# --------------------------------------------------------------------------------------------------
# Out


def maybe_blocks(
    session: AssociationSession, service: int, invoke_byte: int, encoded: bytes, skip: int
) -> list[bytes]:
    """``encoded`` as is if it fits; otherwise the first service-specific block when that block
    transfer was negotiated, else the whole APDU for General-Block-Transfer (cut after protection),
    else pdu-too-long. ``skip``: bytes of ``encoded`` before the blocks' raw data."""
    limit = send_limit(session)
    if len(encoded) <= limit or session.via_gbt:
        return [encoded]
    block_size = limit - BLOCK_HEADER
    if not session.conformance & _NEEDED[service] or block_size < 1:
        if session.conformance & Conformance.GENERAL_BLOCK_TRANSFER:
            return [encoded]
        raise pdu_too_long()
    session.long_response = LongResponse(service, invoke_byte, encoded[skip:], block_size)
    return [block_apdu(session, 1)]


def block_apdu(session: AssociationSession, number: int) -> bytes:
    """Block ``number`` of the long response in progress."""
    long = session.long_response
    assert long is not None
    last, chunk = long.block(number)
    long.sent = max(long.sent, number)
    if last:
        session.long_response = None
    iid, service_class, priority, reserved = IIP_FIELDS[long.invoke_byte]
    if long.service == ApduTag.GET_RESPONSE:
        return GetResponseWithDataBlock(
            iid, DataBlockG(last, number, chunk), service_class, priority, reserved
        ).encode()
    if long.service == ApduTag.ACTION_RESPONSE:
        return ActionResponseWithPblock(
            iid, DataBlockSA(last, number, chunk), service_class, priority, reserved
        ).encode()
    return ReadResponse([DataBlockResult(last, number, chunk)]).encode()


def next_block(session: AssociationSession, service: int, block_number: int, invoke_byte: int) -> list[bytes]:
    """The block after ``block_number`` (the client acknowledged it), or the error ending the transfer."""
    long = session.long_response
    if long is not None and long.service == service and long.sent - 1 <= block_number <= long.sent:
        return [block_apdu(session, block_number + 1)]
    session.long_response = None
    iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
    if service == ApduTag.GET_RESPONSE:
        result = (
            DataAccessResult.NO_LONG_GET_IN_PROGRESS
            if long is None
            else DataAccessResult.DATA_BLOCK_NUMBER_INVALID
        )
        return [
            GetResponseWithDataBlock(
                iid, DataBlockG(True, block_number, result), service_class, priority, reserved
            ).encode()
        ]
    if service == ApduTag.ACTION_RESPONSE:
        return [action_failure(invoke_byte, ActionResult.NO_LONG_ACTION_IN_PROGRESS)]
    return [ReadResponse([DataAccessResult.NO_LONG_GET_IN_PROGRESS]).encode()]


# --------------------------------------------------------------------------------------------------
# In


def first_block_refusal(
    host: ServiceHost, targets: list[Target], method: bool, now: float, size: int
) -> list[int] | None:
    """The first block of a SET/ACTION block transfer: the access rights of every target and the
    size limit, checked before anything is kept. None when the transfer may go on, else the result
    per target (a DataAccessResult for SET, an ActionResult for ACTION; 0 where it is allowed)."""
    if size > host.max_block_transfer:
        host.log_limit("block transfer", size)
        aborted = ActionResult.LONG_ACTION_ABORTED if method else DataAccessResult.LONG_SET_ABORTED
        return [int(aborted)] * len(targets)
    ctx = host.access_context(now)
    codes: list[int] = []
    for class_id, instance_id, index, _ in targets:
        try:
            check_block_target(host.device, class_id, instance_id, index, method, ctx)
        except CosemAccessError as exc:
            codes.append(int(exc.action_result if method else exc.data_access_result))
        else:
            codes.append(0)
    host.end_access()
    return codes if any(codes) else None


class BlockCheck(Enum):
    """What became of an incoming SET/ACTION block (each service answers a refusal its own way)."""

    TAKEN = "taken"
    FIRST_NUMBER_INVALID = "first block number is not 1"
    REFUSED = "refused by access rights or the size cap"
    NO_TRANSFER = "no block transfer of this service in progress"
    OUT_OF_SEQUENCE = "block number out of sequence"
    TOO_LARGE = "the transfer would exceed max_block_transfer"


def take_first_block(
    host: ServiceHost,
    service: int,
    invoke_byte: int,
    targets: list[Target],
    with_list: bool,
    block: DataBlockSA,
    now: float,
) -> tuple[BlockCheck, list[int] | None]:
    """Start a SET (``service`` SET_REQUEST) or ACTION block transfer with its first block: TAKEN (the
    session holds the transfer), FIRST_NUMBER_INVALID, or REFUSED with the per-target codes of
    :func:`first_block_refusal`."""
    host.session.long_request = None
    if block.block_number != 1:
        return BlockCheck.FIRST_NUMBER_INVALID, None
    method = service == ApduTag.ACTION_REQUEST
    refused = first_block_refusal(host, targets, method, now, len(block.raw_data))
    if refused is not None:
        return BlockCheck.REFUSED, refused
    host.session.long_request = LongRequest(
        service, invoke_byte, targets, with_list, bytearray(block.raw_data), 1
    )
    return BlockCheck.TAKEN, None


def take_next_block(
    host: ServiceHost, service: int, block: DataBlockSA, what: str
) -> tuple[BlockCheck, LongRequest | None]:
    """Append a following block to the ``service`` transfer in progress: TAKEN, NO_TRANSFER,
    OUT_OF_SEQUENCE or TOO_LARGE (the last two end the transfer), with the transfer (None for
    NO_TRANSFER). ``what`` names the transfer in the size-limit log."""
    session = host.session
    long = session.long_request
    if long is None or long.service != service:
        return BlockCheck.NO_TRANSFER, None
    if block.block_number != long.block_number + 1:
        session.long_request = None
        return BlockCheck.OUT_OF_SEQUENCE, long
    if len(long.data) + len(block.raw_data) > host.max_block_transfer:
        session.long_request = None
        host.log_limit(what, len(long.data) + len(block.raw_data))
        return BlockCheck.TOO_LARGE, long
    long.data += block.raw_data
    long.block_number = block.block_number
    return BlockCheck.TAKEN, long


def last_block_values(host: ServiceHost, long: LongRequest) -> list[DataValue] | None:
    """End the transfer ``long`` at its last block: its values, one per target, or None when they do
    not decode or their count does not match the targets."""
    host.session.long_request = None
    try:
        values: list[DataValue] | None = decode_values(bytes(long.data), long.with_list)
    except DecodeError:
        values = None
    if values is None or len(values) != len(long.targets):
        return None
    return values


def check_block_target(
    device: LogicalDevice, class_id: int, instance_id: Obis, index: int, method: bool, ctx: AccessContext
) -> None:
    """Raise CosemAccessError when the association may not write the attribute / run the method."""
    obj = device.resolve(class_id, instance_id, ctx)
    if method:
        obj.method_def(index)
    else:
        obj.attribute_def(index)
    association = ctx.association
    if association is None:
        return
    rights = association.rights_for(class_id, obj.logical_name)
    if rights is None:
        raise CosemAccessError(DataAccessResult.OBJECT_UNDEFINED, "not in the association's object list")
    if method:
        if not rights.method_mode(index).allows(ctx.request_authenticated):
            raise CosemAccessError(ActionResult.READ_WRITE_DENIED, f"method {index} not allowed")
    elif index == 1 or not rights.attribute_mode(index).allows_write(ctx.request_authenticated):
        raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, f"attribute {index} not writable")


def set_refusal(invoke_byte: int, with_list: bool, codes: list[int], block_number: int) -> bytes:
    """SET-Response-Last-Datablock(-With-List) ending a block transfer early."""
    iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
    results = [DataAccessResult(c) for c in codes]
    if with_list:
        return SetResponseLastDatablockWithList(
            iid, results, block_number, service_class, priority, reserved
        ).encode()
    return SetResponseLastDatablock(iid, results[0], block_number, service_class, priority, reserved).encode()


def action_refusal(invoke_byte: int, with_list: bool, codes: list[int]) -> bytes:
    """ACTION-Response ending a pblock transfer at its first block (one result per method)."""
    results = [ActionResult(c) for c in codes]
    if not with_list:
        return action_failure(invoke_byte, results[0])
    iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
    return ActionResponseWithList(
        iid,
        [ActionResponseWithOptionalData(r) for r in results],
        service_class,
        priority,
        reserved,
    ).encode()


def action_failure(invoke_byte: int, result: ActionResult) -> bytes:
    """ACTION-Response-Normal with ``result`` and no data."""
    iid, service_class, priority, reserved = IIP_FIELDS[invoke_byte]
    return ActionResponseNormal(
        iid, ActionResponseWithOptionalData(result), service_class, priority, reserved
    ).encode()


def decode_values(raw: bytes, with_list: bool) -> list[DataValue]:
    """The Data value (or SEQUENCE OF Data) a SET/ACTION block transfer carried."""
    if not with_list:
        return [decode_data_exact(raw)]
    count, pos = decode_length(raw, 0)
    values: list[DataValue] = []
    for _ in range(count):
        value, pos = decode_data(raw, pos)
        values.append(value)
    if pos != len(raw):
        raise DecodeError("trailing bytes after the values", pos, "end of input")
    return values


def encode_values(values: list[DataValue]) -> bytes:
    """SEQUENCE OF Data (what with-list SET/ACTION block transfers carry)."""
    out = bytearray()
    encode_length(len(values), out)
    for value in values:
        out += encode_data(value)
    return bytes(out)
