"""Issue 16: all per-association state lives in one AssociationSession, replaced on release or abort.

After an RLRQ, a new AARQ on the same pair, or a release by the server (timeout, connection closed), no
block transfer (in or out), general-block-transfer, HLS or ciphering state of the previous association
survives into the next one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cosemnet.codec.acse import AARE, AssociationResult, MechanismName
from cosemnet.codec.obis import Obis
from cosemnet.codec.xdlms import (
    ActionRequestNormal,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataAccessResult,
    DataBlockSA,
    ExceptionResponse,
    ExceptionServiceError,
    GeneralBlockTransfer,
    GetRequestNext,
    GetRequestNormal,
    GetResponseWithDataBlock,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
)
from cosemnet.cosem.association_ln import CONTEXT_LN_NO_CIPHERING
from cosemnet.server import AssociationState, ServedDevice, ServerAssociation
from cosemnet.server.session import AssociationSession

from .helpers import CLIENT_TITLE, CTOS, PROFILE, SERIAL, STOC, T0, aarq, answer_apdu, initiate, make_device

ALL = 0x205E1D  # GET/SET/ACTION, their block transfers, multiple references, GBT
GET_PROFILE = GetRequestNormal(1, CosemAttributeDescriptor(7, PROFILE, 2)).encode()
RLRQ = bytes.fromhex("6200")
PLAIN_AARQ = aarq(user_information=initiate(ALL, 256).encode())


def one(association: ServerAssociation, apdu: bytes) -> bytes:
    out = answer_apdu(association, apdu, T0)
    assert len(out) == 1, out
    return out[0]


def accepted(association: ServerAssociation, request: bytes) -> None:
    assert AARE.decode(one(association, request)).result == AssociationResult.ACCEPTED


def busy_public_association() -> ServerAssociation:
    """Client 16 with a long GET, a SET block transfer and a GBT request all in progress."""
    association = ServerAssociation(ServedDevice(make_device(rows=300)), 16)
    accepted(association, PLAIN_AARQ)
    first = GetResponseWithDataBlock.decode(one(association, GET_PROFILE))
    assert not first.result.last_block  # a long GET in progress
    block = SetRequestWithFirstDatablock(
        1, CosemAttributeDescriptor(1, SERIAL, 2), None, DataBlockSA(False, 1, b"\x09\x04AB")
    )
    assert one(association, block.encode())[1] == SetResponseDatablock.CHOICE  # a SET in progress
    gbt = GeneralBlockTransfer(False, False, 5, 1, 0, GET_PROFILE[:6]).encode()
    assert GeneralBlockTransfer.decode(one(association, gbt)).block_number_ack == 1  # a GBT request
    session = association.session
    assert session.long_request is not None and session.gbt.received and session.gbt.window == 5
    return association


def rlrq(association: ServerAssociation) -> None:
    assert one(association, RLRQ)[0] == 0x63


def new_aarq(association: ServerAssociation) -> None:
    accepted(association, PLAIN_AARQ)


def server_release(association: ServerAssociation) -> None:
    association.release()


@pytest.mark.parametrize("end", [rlrq, new_aarq, server_release], ids=["rlrq", "aarq", "release"])
def test_no_block_or_gbt_state_survives(end: Callable[[ServerAssociation], None]) -> None:
    association = busy_public_association()
    before = association.session
    end(association)
    assert association.session is not before
    if association.associated:  # a new AARQ: a new association with nothing in progress
        assert association.session.long_response is None and association.session.long_request is None
        assert association.session.gbt == AssociationSession().gbt
    else:
        assert association.session == AssociationSession()
        accepted(association, PLAIN_AARQ)
    # the new association knows nothing of the old transfers
    answer = GetResponseWithDataBlock.decode(one(association, GetRequestNext(1, 1).encode()))
    assert answer.result.result == DataAccessResult.NO_LONG_GET_IN_PROGRESS
    following = SetRequestWithDatablock(1, DataBlockSA(True, 2, b"")).encode()
    assert SetResponseLastDatablock.decode(one(association, following)).result == (
        DataAccessResult.NO_LONG_SET_IN_PROGRESS
    )
    second = GeneralBlockTransfer(True, False, 5, 2, 0, GET_PROFILE[6:]).encode()
    refused = ExceptionResponse.decode(one(association, second))
    assert refused.service_error == ExceptionServiceError.OPERATION_NOT_POSSIBLE


def hls_pending() -> ServerAssociation:
    device = make_device(management_context=CONTEXT_LN_NO_CIPHERING, client_system_title=CLIENT_TITLE)
    association = ServerAssociation(ServedDevice(device), 1, challenge_factory=lambda: STOC)
    accepted(association, aarq(mechanism=MechanismName.HIGH_GMAC, value=CTOS, calling_ap_title=CLIENT_TITLE))
    assert association.state is AssociationState.PENDING and association.session.hls is not None
    return association


@pytest.mark.parametrize("end", [rlrq, server_release], ids=["rlrq", "release"])
def test_no_hls_state_survives(end: Callable[[ServerAssociation], None]) -> None:
    association = hls_pending()
    end(association)
    assert association.session == AssociationSession()
    # pass 3 for the old challenge: no association, no pending HLS
    reply = ActionRequestNormal(1, CosemMethodDescriptor(15, Obis.parse("0-0:40.0.0*255"), 1), bytes(17))
    refused = ExceptionResponse.decode(one(association, reply.encode()))
    assert refused.service_error == ExceptionServiceError.OPERATION_NOT_POSSIBLE


def test_a_refused_aarq_leaves_no_hls_or_ciphering_state() -> None:
    association = hls_pending()
    # a new AARQ with the wrong mechanism is refused: the pending association is gone with its HLS state
    refused = AARE.decode(one(association, aarq(mechanism=MechanismName.LOW, value=b"x")))
    assert refused.result == AssociationResult.REJECTED_PERMANENT
    assert association.session == AssociationSession()
    # a ciphered association (LLS, ciphered context) then a refused AARQ: no security context is kept
    ciphered = ServerAssociation(ServedDevice(make_device(management_mechanism=1)), 1)
    accepted(
        ciphered,
        bytes.fromhex(
            "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201AC0A8008313233343536"
            "3738BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D"
            "39EE6FDB8E356855"
        ),
    )
    assert ciphered.security is not None and ciphered.security.keys.dedicated_key is not None
    assert AARE.decode(one(ciphered, aarq())).result == AssociationResult.REJECTED_PERMANENT
    assert ciphered.security is None and ciphered.session == AssociationSession()
