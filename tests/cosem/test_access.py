"""Access rights: modes, enforcement per association, object_list / access_rights encodings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DoubleLongUnsigned, Enumerated, Integer, LongUnsigned, Unsigned
from cosemnet.cosem import (
    AccessContext,
    AssociationLN,
    AttributeAccess,
    AttributeAccessItem,
    Data,
    DisconnectControl,
    MethodAccess,
    MethodAccessItem,
    ObjectAccessRights,
    ProfileGeneric,
    Register,
)
from cosemnet.cosem.association_ln import object_list_element, parse_object_list_element
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult

from .helpers import T0

READS = {
    AttributeAccess.NO_ACCESS: (False, False),
    AttributeAccess.READ_ONLY: (True, True),
    AttributeAccess.WRITE_ONLY: (False, False),
    AttributeAccess.READ_AND_WRITE: (True, True),
    AttributeAccess.AUTHENTICATED_READ_ONLY: (False, True),
    AttributeAccess.AUTHENTICATED_WRITE_ONLY: (False, False),
    AttributeAccess.AUTHENTICATED_READ_AND_WRITE: (False, True),
}
WRITES = {
    AttributeAccess.NO_ACCESS: (False, False),
    AttributeAccess.READ_ONLY: (False, False),
    AttributeAccess.WRITE_ONLY: (True, True),
    AttributeAccess.READ_AND_WRITE: (True, True),
    AttributeAccess.AUTHENTICATED_READ_ONLY: (False, False),
    AttributeAccess.AUTHENTICATED_WRITE_ONLY: (False, True),
    AttributeAccess.AUTHENTICATED_READ_AND_WRITE: (False, True),
}


def test_mode_values() -> None:
    assert [m.value for m in AttributeAccess] == list(range(7))
    assert [m.value for m in MethodAccess] == [0, 1, 2]


@pytest.mark.parametrize("mode", list(AttributeAccess))
@pytest.mark.parametrize("authenticated", [False, True])
def test_attribute_rights_enforced(mode: AttributeAccess, authenticated: bool) -> None:
    register = Register("1-0:1.8.0*255", DoubleLongUnsigned(10))
    association = AssociationLN("0-0:40.0.1*255")
    association.grant(register, ObjectAccessRights.for_class(Register, overrides={2: mode}))
    ctx = AccessContext(now=T0, association=association, request_authenticated=authenticated)
    can_read = READS[mode][authenticated]
    can_write = WRITES[mode][authenticated]
    if can_read:
        assert register.get(2, ctx) == DoubleLongUnsigned(10)
    else:
        with pytest.raises(CosemAccessError) as info:
            register.get(2, ctx)
        assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    if can_write:
        register.set(2, DoubleLongUnsigned(11), ctx)
        assert register.value == DoubleLongUnsigned(11)
    else:
        with pytest.raises(CosemAccessError) as info:
            register.set(2, DoubleLongUnsigned(11), ctx)
        assert info.value.result is DataAccessResult.READ_WRITE_DENIED
        assert register.value == DoubleLongUnsigned(10)
    assert register.get(1, ctx) == bytes(register.logical_name)  # logical_name read-only by default


@pytest.mark.parametrize(
    ("mode", "authenticated", "allowed"),
    [
        (MethodAccess.NO_ACCESS, True, False),
        (MethodAccess.ACCESS, False, True),
        (MethodAccess.AUTHENTICATED_ACCESS, False, False),
        (MethodAccess.AUTHENTICATED_ACCESS, True, True),
    ],
)
def test_method_rights_enforced(mode: MethodAccess, authenticated: bool, allowed: bool) -> None:
    register = Register("1-0:1.8.0*255", DoubleLongUnsigned(10))
    association = AssociationLN("0-0:40.0.1*255")
    association.grant(register, ObjectAccessRights.for_class(Register, method_access=mode))
    ctx = AccessContext(now=T0, association=association, request_authenticated=authenticated)
    if allowed:
        assert register.action(1, Integer(0), ctx) is None
        assert register.value == DoubleLongUnsigned(0)
    else:
        with pytest.raises(CosemAccessError) as info:
            register.action(1, Integer(0), ctx)
        assert info.value.result is ActionResult.READ_WRITE_DENIED
        assert register.value == DoubleLongUnsigned(10)


def test_object_not_in_the_association_is_undefined() -> None:
    association = AssociationLN("0-0:40.0.1*255")
    hidden = Data("0-0:96.1.0*255", b"x")
    ctx = AccessContext(now=T0, association=association)
    with pytest.raises(CosemAccessError) as info:
        hidden.get(2, ctx)
    assert info.value.result is DataAccessResult.OBJECT_UNDEFINED
    with pytest.raises(CosemAccessError) as info:
        DisconnectControl().action(1, Integer(0), AccessContext(now=T0, association=association))
    assert info.value.result is ActionResult.OBJECT_UNDEFINED
    # a local context (association None) has every right
    assert hidden.get(2, AccessContext.local(T0)) == b"x"


def test_unsupported_selector_is_refused_before_reading() -> None:
    from cosemnet.cosem.selective import SelectiveAccessDescriptor

    ctx = AccessContext.local(T0)
    with pytest.raises(CosemAccessError) as info:
        Register("1-0:1.8.0*255").get(2, ctx, SelectiveAccessDescriptor(1, None))
    assert info.value.result is DataAccessResult.OTHER_REASON
    with pytest.raises(CosemAccessError) as info:
        ProfileGeneric("1-0:99.1.0*255").get(2, ctx, SelectiveAccessDescriptor(3, None))
    assert info.value.result is DataAccessResult.OTHER_REASON


def test_for_class_lists_every_attribute_with_selectors() -> None:
    rights = ObjectAccessRights.full(ProfileGeneric)
    assert [i.attribute_id for i in rights.attribute_access] == list(range(1, 9))
    assert rights.attribute_mode(1) is AttributeAccess.READ_ONLY
    assert rights.attribute_mode(2) is AttributeAccess.READ_AND_WRITE
    assert rights.attribute_access[1].access_selectors == (1, 2)
    assert rights.attribute_access[2].access_selectors is None
    assert rights.method_mode(2) is MethodAccess.ACCESS
    assert rights.attribute_mode(99) is AttributeAccess.NO_ACCESS
    changed = rights.with_attributes([(3, AttributeAccess.READ_ONLY), (9, AttributeAccess.READ_ONLY)])
    assert (
        changed.attribute_mode(3) is AttributeAccess.READ_ONLY
        and changed.attribute_mode(9) is AttributeAccess.READ_ONLY
    )
    assert changed.attribute_access[1].access_selectors == (1, 2)


def test_object_list_element_bytes() -> None:
    # class 1, version 0, 0-0:42.0.0*255, attribute 1 read-only (no selectors), attribute 2 read-only,
    # no methods: the layout an LN client parses.
    entry = AssociationLN("0-0:40.0.1*255").grant(
        Data("0-0:42.0.0*255", b"LDN"), ObjectAccessRights.read_only(Data)
    )
    encoded = encode_data(object_list_element(entry))
    assert encoded.hex().upper() == ("02041200011100090600002A0000FF0202010202030F0116010002030F021601000100")
    assert parse_object_list_element(decode_data_exact(encoded)) == entry


access_items = st.builds(
    AttributeAccessItem,
    st.integers(-128, 127),
    st.sampled_from(list(AttributeAccess)),
    st.none() | st.lists(st.integers(-128, 127), max_size=3).map(tuple),
)
method_items = st.builds(MethodAccessItem, st.integers(-128, 127), st.sampled_from(list(MethodAccess)))
rights_strategy = st.builds(
    ObjectAccessRights,
    st.lists(access_items, max_size=5).map(tuple),
    st.lists(method_items, max_size=5).map(tuple),
)


@given(rights_strategy)
def test_access_rights_round_trip(rights: ObjectAccessRights) -> None:
    value = rights.to_data()
    assert ObjectAccessRights.from_data(decode_data_exact(encode_data(value))) == rights


@pytest.mark.parametrize(
    "bad",
    [
        None,
        ([], [], []),
        ([(Integer(1), Enumerated(7), None)], []),  # access mode 7 does not exist
        ([(Unsigned(1), Enumerated(1), None)], []),  # attribute_id must be integer
        ([], [(Integer(1), Enumerated(3))]),  # method mode 3 does not exist
        ([(Integer(1), Enumerated(1), [LongUnsigned(1)])], []),  # selectors are integers
    ],
)
def test_malformed_access_rights_are_type_unmatched(bad: object) -> None:
    with pytest.raises(CosemAccessError) as info:
        ObjectAccessRights.from_data(bad)  # type: ignore[arg-type]
    assert info.value.result is DataAccessResult.TYPE_UNMATCHED


def test_obis_is_never_returned_where_bytes_are_expected() -> None:
    entry = AssociationLN().grant(Data("0-0:42.0.0*255", b"x"))
    value = object_list_element(entry)
    assert isinstance(value, tuple) and type(value[2]) is bytes and not isinstance(value[2], Obis)
