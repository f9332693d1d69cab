"""Association LN / SN: attributes, write-only secret, HLS pass 3/4 through the effects, object list
methods, SN base names, the current-association alias."""

from __future__ import annotations

import pytest

from cosemnet.codec.axdr import encode_data
from cosemnet.codec.types import BitString, Enumerated, Integer, Long, LongUnsigned, Unsigned
from cosemnet.cosem import (
    CURRENT_ASSOCIATION_LN,
    AccessContext,
    AssociationLN,
    AssociationSN,
    AssociationStatus,
    Data,
    DeviceEffects,
    InterfaceClass,
    LogicalDevice,
    ObjectAccessRights,
    ObjectListEntry,
    Register,
    XDlmsContextInfo,
)
from cosemnet.cosem.association_ln import CONTEXT_LN_CIPHERING, mechanism_name, object_list_element
from cosemnet.cosem.association_sn import base_name_to_long, long_to_base_name
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult
from cosemnet.cosem.selective import SelectiveAccessDescriptor
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.errors import SecurityError
from cosemnet.security.hls import HlsServer, Mechanism

from .helpers import T0

H = bytes.fromhex
EK = H("000102030405060708090A0B0C0D0E0F")
AK = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CLIENT_TITLE = H("4D4D4D0000000001")
SERVER_TITLE = H("4D4D4D0000BC614E")
CTOS = H("4B35366956616759")
STOC = H("503677524A323146")
CLIENT_F_STOC = H("10000000011A52FE7DD3E72748973C1E28")
SERVER_F_CTOS = H("1001234567FE1466AFB3DBCD4F9389E2B7")


class HlsEffects(DeviceEffects):
    """What the application layer will do: keep the HlsServer of the association and run pass 3/4."""

    def __init__(self, device: LogicalDevice, server: HlsServer) -> None:
        super().__init__(device)
        self.server = server

    def reply_to_hls_authentication(
        self, association: InterfaceClass, client_response: bytes, ctx: AccessContext
    ) -> bytes:
        try:
            self.server.verify_response(client_response)
        except SecurityError as exc:
            raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, str(exc)) from None
        return self.server.response()


def hls_setup() -> tuple[AssociationLN, AccessContext]:
    device = LogicalDevice(b"COSEMNET00000001")
    association = device.add(AssociationLN("0-0:40.0.3*255", client_sap=1, mechanism_id=5))
    device.grant_all(association, lambda o: ObjectAccessRights.full(type(o)))
    server = HlsServer(
        Mechanism.HLS_GMAC,
        SERVER_TITLE,
        ek=EK,
        ak=AK,
        invocation_counter=MemoryInvocationCounter(0x01234567),
        own_challenge=STOC,
    )
    server.receive_calling_authentication(CTOS, CLIENT_TITLE)
    association.associate(5)
    ctx = AccessContext(now=T0, effects=HlsEffects(device, server), association=association, mechanism=5)
    return association, ctx


def test_hls_gmac_pass_3_and_4_green_book_vectors() -> None:
    association, ctx = hls_setup()
    assert association.association_status is AssociationStatus.ASSOCIATION_PENDING
    answer = association.action(1, CLIENT_F_STOC, ctx)
    assert answer == SERVER_F_CTOS
    assert encode_data(answer) == H("0911") + SERVER_F_CTOS  # the ACTION-response return parameter
    assert association.association_status is AssociationStatus.ASSOCIATED
    assert association.get(8, ctx) == Enumerated(2)
    with pytest.raises(CosemAccessError) as info:  # nothing pending any more
        association.action(1, CLIENT_F_STOC, ctx)
    assert info.value.result is ActionResult.READ_WRITE_DENIED


def test_hls_wrong_response_stays_pending() -> None:
    association, ctx = hls_setup()
    bad = CLIENT_F_STOC[:-1] + bytes((CLIENT_F_STOC[-1] ^ 1,))
    with pytest.raises(CosemAccessError) as info:
        association.action(1, bad, ctx)
    assert info.value.result is ActionResult.READ_WRITE_DENIED
    assert association.association_status is AssociationStatus.ASSOCIATION_PENDING
    with pytest.raises(CosemAccessError) as info:
        association.action(1, Unsigned(1), ctx)
    assert info.value.result is ActionResult.TYPE_UNMATCHED


def test_hls_without_an_effects_hook_is_refused() -> None:
    association = AssociationLN(mechanism_id=3)
    association.associate(3)
    with pytest.raises(CosemAccessError) as info:
        association.action(1, b"\x01" * 16, AccessContext.local(T0))
    assert info.value.result is ActionResult.READ_WRITE_DENIED


def test_ln_attributes() -> None:
    association = AssociationLN(
        "0-0:40.0.1*255", client_sap=16, server_sap=1, mechanism_id=1, secret=b"12345678"
    )
    context = XDlmsContextInfo(BitString(H("00501F"), 24), 1200, 1200, 6, 0, b"")
    association.associate_with(16, 1, 1, CONTEXT_LN_CIPHERING, context)
    ctx = AccessContext.local(T0)
    assert association.get(3, ctx) == (Integer(16), LongUnsigned(1))
    assert association.get(4, ctx) == H("60857405080103")
    assert association.get(5, ctx) == (
        BitString(H("00501F"), 24),
        LongUnsigned(1200),
        LongUnsigned(1200),
        Unsigned(6),
        Integer(0),
        b"",
    )
    assert association.get(6, ctx) == H("60857405080201") == mechanism_name(1)
    assert association.get(8, ctx) == Enumerated(AssociationStatus.ASSOCIATED)
    assert association.get(9, ctx) == H("00002B0000FF")
    assert association.get(11, ctx) == (Unsigned(0), "")
    association.release()
    assert association.association_status is AssociationStatus.NON_ASSOCIATED


def test_secret_is_write_only_and_never_shown() -> None:
    association = AssociationLN(secret=b"12345678")
    ctx = AccessContext.local(T0)
    with pytest.raises(CosemAccessError) as info:
        association.get(7, ctx)
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    association.set(7, b"abcdefgh", ctx)
    assert association.check_lls_secret(b"abcdefgh") and not association.check_lls_secret(b"12345678")
    assert "abcdefgh" not in repr(association)
    association.action(2, b"new-secret", ctx)  # change_HLS_secret
    assert association.secret == b"new-secret"
    assert not AssociationLN().check_lls_secret(b"")


def test_add_remove_object_and_users() -> None:
    association = AssociationLN("0-0:40.0.1*255")
    ctx = AccessContext.local(T0)
    register = Register("1-0:1.8.0*255")
    element = object_list_element(association.grant(register, ObjectAccessRights.read_only(Register)))
    assert association.get(2, ctx) == [element]
    association.action(4, element, ctx)  # remove_object
    assert association.get(2, ctx) == []
    with pytest.raises(CosemAccessError) as info:
        association.action(4, element, ctx)
    assert info.value.result is ActionResult.OTHER_REASON
    association.action(3, element, ctx)  # add_object
    assert association.rights_for(3, register.logical_name) == ObjectAccessRights.read_only(Register)
    association.action(5, (Unsigned(7), "bob"), ctx)
    association.action(5, (Unsigned(7), "bobby"), ctx)  # same id replaces
    assert association.get(10, ctx) == [(Unsigned(7), "bobby")]
    association.action(6, (Unsigned(7), "bobby"), ctx)
    assert association.get(10, ctx) == []
    with pytest.raises(CosemAccessError):
        association.action(6, (Unsigned(7), "bobby"), ctx)
    with pytest.raises(CosemAccessError) as info:
        association.set(2, [], ctx)
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED


def test_object_list_selective_access() -> None:
    association = AssociationLN("0-0:40.0.1*255")
    association.grant(Register("1-0:1.8.0*255"))
    association.grant(Register("1-0:2.8.0*255"))
    association.grant(Data("0-0:42.0.0*255", b"x"))
    ctx = AccessContext.local(T0)
    by_class = association.get(2, ctx, SelectiveAccessDescriptor(1, [LongUnsigned(1)]))
    assert isinstance(by_class, list) and len(by_class) == 1
    by_id = association.get(
        2,
        ctx,
        SelectiveAccessDescriptor(
            2, [(LongUnsigned(3), H("0100020800FF")), (LongUnsigned(1), H("0100020800FF"))]
        ),
    )
    assert isinstance(by_id, list) and len(by_id) == 1 and by_id[0][2] == H("0100020800FF")  # type: ignore[index]


def test_current_association_alias_in_a_device() -> None:
    device = LogicalDevice(b"COSEMNET00000001")
    public = device.add(AssociationLN("0-0:40.0.1*255", client_sap=16))
    management = device.add(AssociationLN("0-0:40.0.2*255", client_sap=1))
    for a in (public, management):
        a.grant(a, ObjectAccessRights.read_only(AssociationLN))  # itself under its own name
    management.add_entry(  # and under 0-0:40.0.0*255
        ObjectListEntry(15, 2, CURRENT_ASSOCIATION_LN, ObjectAccessRights.read_only(AssociationLN))
    )
    ctx = AccessContext(now=T0, effects=DeviceEffects(device), association=public)
    assert device.get(15, CURRENT_ASSOCIATION_LN, 3, ctx) == (Integer(16), LongUnsigned(1))
    ctx_m = AccessContext(now=T0, effects=DeviceEffects(device), association=management)
    assert device.get(15, CURRENT_ASSOCIATION_LN, 3, ctx_m) == (Integer(1), LongUnsigned(1))
    # the public association does not list the management one
    with pytest.raises(CosemAccessError) as info:
        device.get(15, "0-0:40.0.2*255", 3, ctx)
    assert info.value.result is DataAccessResult.OBJECT_UNDEFINED


def test_sn_object_list_and_base_names() -> None:
    sn = AssociationSN(secret=b"pw")
    register = Register("1-0:1.8.0*255", base_name=0xFB00)
    sn.grant(register)
    sn.grant(sn)
    ctx = AccessContext.local(T0)
    objects = sn.get(2, ctx)
    assert objects == [
        (Long(0xFB00 - 0x10000), LongUnsigned(3), Unsigned(0), H("0100010800FF")),
        (Long(0xFA00 - 0x10000), LongUnsigned(12), Unsigned(2), H("0000280000FF")),
    ]
    rights = sn.get(3, ctx)
    assert isinstance(rights, list) and rights[0][0] == Long(-0x500)  # type: ignore[index]
    assert sn.method_short_name(8) == 0xFA58  # reply_to_HLS_authentication at x + 0x58
    found = sn.action(3, [(LongUnsigned(3), H("0100010800FF")), (LongUnsigned(3), H("0100020800FF"))], ctx)
    assert found == [Long(-0x500), None]
    sn.action(5, b"new", ctx)
    assert sn.check_lls_secret(b"new")
    with pytest.raises(CosemAccessError) as info:
        sn.action(1, None, ctx)
    assert info.value.result is ActionResult.READ_WRITE_DENIED
    with pytest.raises(ValueError):
        sn.grant(Register("1-0:2.8.0*255"))  # no base_name
    for bn in (0, 0x7FF8, 0x8000, 0xFA00, 0xFFF8):
        assert long_to_base_name(base_name_to_long(bn)) == bn
