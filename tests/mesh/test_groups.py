"""Group membership: truth tables, round trips, multicast addressing, protection."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import (
    BitString,
    DataValue,
    DoubleLongUnsigned,
    Enumerated,
    Long,
    LongUnsigned,
    Unsigned,
)
from cosemnet.cosem.results import CosemAccessError, DataAccessResult
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.mesh.groups import (
    ALL_METERS_GROUP,
    Condition,
    GroupDecision,
    GroupDefinition,
    GroupMembership,
    GroupProtectionError,
    MatchMode,
    MulticastScheme,
    Operator,
    check_group_request_protection,
    compare,
    evaluate_group_request,
    group_request_target,
)

FW = Obis.parse("1-0:0.2.0*255")
TARIFF = Obis.parse("0-0:96.14.0*255")
STATUS = Obis.parse("0-0:96.5.0*255")


def reader(values: dict[tuple[int, Obis, int], DataValue]):  # type: ignore[no-untyped-def]
    def read(class_id: int, ln: Obis, attribute: int) -> DataValue:
        try:
            return values[(class_id, ln, attribute)]
        except KeyError:
            raise CosemAccessError(DataAccessResult.OBJECT_UNDEFINED, "no such object") from None

    return read


@pytest.mark.parametrize(
    ("op", "actual", "reference", "expected"),
    [
        (Operator.EQ, LongUnsigned(5), DoubleLongUnsigned(5), True),  # numbers compare across widths
        (Operator.EQ, LongUnsigned(5), Long(6), False),
        (Operator.EQ, b"abc", b"abc", True),
        (Operator.EQ, b"abc", "abc", False),  # octet-string vs visible-string
        (Operator.EQ, Enumerated(1), Unsigned(1), False),  # enum is not a number
        (Operator.NE, Unsigned(1), Unsigned(2), True),
        (Operator.NE, Unsigned(1), Unsigned(1), False),
        (Operator.LT, Long(-3), Unsigned(0), True),
        (Operator.LT, Unsigned(3), Unsigned(3), False),
        (Operator.LE, Unsigned(3), Unsigned(3), True),
        (Operator.GT, 2.5, Unsigned(2), True),
        (Operator.GE, Unsigned(2), Unsigned(3), False),
        (Operator.GT, b"b", b"a", True),
        (Operator.GT, b"b", Unsigned(1), False),  # incomparable -> False
        (Operator.IN, Unsigned(2), [Unsigned(1), LongUnsigned(2)], True),
        (Operator.IN, Unsigned(3), [Unsigned(1), LongUnsigned(2)], False),
        (Operator.MASK_ALL, Unsigned(0b1110), Unsigned(0b0110), True),
        (Operator.MASK_ALL, Unsigned(0b1010), Unsigned(0b0110), False),
        (Operator.MASK_ANY, Unsigned(0b1010), Unsigned(0b0110), True),
        (Operator.MASK_ANY, Unsigned(0b1000), Unsigned(0b0110), False),
        (Operator.MASK_ALL, BitString.from_bits("1011"), BitString.from_bits("0011"), True),
        (Operator.MASK_ANY, BitString.from_bits("1000"), BitString.from_bits("0111"), False),
        (Operator.MASK_ALL, b"\x0f", Unsigned(1), False),
        (
            Operator.MASK_ALL,
            BitString.from_bits("0100000000"),
            BitString.from_bits("01"),
            True,
        ),  # aligned on bit 0
        (Operator.MASK_ANY, BitString.from_bits("01"), BitString.from_bits("0000000001"), False),
        (Operator.MASK_ALL, BitString.from_bits("101"), Unsigned(0b001), True),
        (Operator.PREFIX, b"FW-2.1.7", b"FW-2.", True),
        (Operator.PREFIX, "FW-3.0", "FW-2.", False),
        (Operator.PREFIX, b"FW-2", "FW", False),
        (
            Operator.LT,
            CosemDateTime(2026, 1, 1, 0xFF, 0, 0, 0, 0, 0, 0),
            CosemDateTime(2026, 1, 1, 0xFF, 0, 0, 1, 0, 0, 0),
            True,
        ),
        (Operator.LT, CosemDateTime(), CosemDateTime(2026, 1, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0), False),
        (Operator.EQ, True, Unsigned(1), False),
    ],
)
def test_operator_truth_table(op: Operator, actual: DataValue, reference: DataValue, expected: bool) -> None:
    assert compare(op, actual, reference) is expected


def test_definition_truth_table_all_and_any() -> None:
    """Every combination of three conditions, for both match modes."""
    cond = [
        Condition(1, FW, 2, Operator.PREFIX, b"FW-2."),
        Condition(1, TARIFF, 2, Operator.EQ, Unsigned(2)),
        Condition(1, STATUS, 2, Operator.MASK_ANY, DoubleLongUnsigned(0x80)),
    ]
    true_values: list[DataValue] = [b"FW-2.4", Unsigned(2), DoubleLongUnsigned(0x81)]
    false_values: list[DataValue] = [b"FW-3.0", Unsigned(1), DoubleLongUnsigned(0x01)]
    for bits in itertools.product([False, True], repeat=3):
        values = {
            (1, c.logical_name, 2): (t if b else f)
            for c, b, t, f in zip(cond, bits, true_values, false_values, strict=True)
        }
        read = reader(values)
        assert GroupDefinition(7, MatchMode.ALL, tuple(cond)).evaluate(read) is all(bits)
        assert GroupDefinition(7, MatchMode.ANY, tuple(cond)).evaluate(read) is any(bits)
    # unreadable attribute: false for every operator, even NE
    empty = reader({})
    assert not Condition(1, FW, 2, Operator.NE, b"x").evaluate(empty)
    assert GroupDefinition(7, MatchMode.ALL, ()).evaluate(empty)  # static member
    assert not GroupDefinition(7, MatchMode.ANY, ()).evaluate(empty)


def test_membership() -> None:
    m = GroupMembership(
        (
            GroupDefinition.static(10),
            GroupDefinition(20, MatchMode.ALL, (Condition(1, TARIFF, 2, Operator.EQ, Unsigned(2)),)),
        )
    )
    assert m.group_ids == {0, 10, 20}
    read = reader({(1, TARIFF, 2): Unsigned(2)})
    assert m.member_of(read) == {0, 10, 20}
    assert m.member_of(reader({(1, TARIFF, 2): Unsigned(1)})) == {0, 10}
    assert m.is_member(ALL_METERS_GROUP, reader({}))
    assert not m.is_member(30, read)
    with pytest.raises(EncodeError):
        GroupMembership((GroupDefinition.static(1), GroupDefinition.static(1)))


values = st.one_of(
    st.integers(0, 255).map(Unsigned),
    st.integers(0, 0xFFFF).map(LongUnsigned),
    st.binary(max_size=8),
    st.text(alphabet="abcXYZ-.0123", max_size=8),
)
conditions = st.builds(
    Condition,
    st.integers(0, 0xFFFF),
    st.binary(min_size=6, max_size=6).map(Obis),
    st.integers(-128, 127),
    st.sampled_from([op for op in Operator if op is not Operator.IN]),
    values,
) | st.builds(
    Condition,
    st.integers(0, 0xFFFF),
    st.binary(min_size=6, max_size=6).map(Obis),
    st.integers(-128, 127),
    st.just(Operator.IN),
    st.lists(values, max_size=3),
)
definitions = st.builds(
    GroupDefinition,
    st.integers(0, 0xFFFF),
    st.sampled_from(list(MatchMode)),
    st.lists(conditions, max_size=3).map(tuple),
)
memberships = st.lists(definitions, max_size=4, unique_by=lambda d: d.group_id).map(
    lambda ds: GroupMembership(tuple(ds))
)


@settings(max_examples=100)
@given(memberships)
def test_membership_round_trip(m: GroupMembership) -> None:
    raw = m.encode()
    assert GroupMembership.decode(raw) == m
    assert GroupMembership.decode(raw).encode() == raw
    for d in m.definitions:
        assert GroupDefinition.decode(d.encode()) == d


@given(st.binary(max_size=60))
def test_decoders_raise_only_decode_error(raw: bytes) -> None:
    for cls in (Condition, GroupDefinition, GroupMembership):
        with contextlib.suppress(DecodeError):
            cls.decode(raw)


def test_decode_negative() -> None:
    good = Condition(1, FW, 2, Operator.EQ, Unsigned(1)).to_data()
    assert isinstance(good, tuple)
    bad_op = (*good[:3], Enumerated(42), *good[4:])
    with pytest.raises(DecodeError, match="operator"):
        Condition.from_data(bad_op)
    in_without_array = (*good[:3], Enumerated(Operator.IN), *good[4:])
    with pytest.raises(DecodeError, match="IN"):
        Condition.from_data(in_without_array)
    twice = [GroupDefinition.static(3).to_data(), GroupDefinition.static(3).to_data()]
    with pytest.raises(DecodeError, match="twice"):
        GroupMembership.from_data(twice)


@given(st.integers(0, 0xFFFF), st.integers(0, 15), st.integers(1, 15))
def test_multicast_address_round_trip(group_id: int, flags: int, scope: int) -> None:
    scheme = MulticastScheme(flags, scope)
    addr = scheme.address(group_id)
    assert addr.is_multicast
    assert scheme.group_id(addr) == group_id
    assert MulticastScheme(flags, scope, 0x00D20000).group_id(addr) is None


def test_default_scheme_and_target() -> None:
    target = group_request_target(0x0102)
    assert target.address == ipaddress.IPv6Address("ff15::d1:102")
    assert (target.udp_port, target.destination_wport) == (61616, 127)
    assert MulticastScheme().group_id(ipaddress.IPv6Address("ff02::1")) is None
    assert MulticastScheme().group_id(ipaddress.IPv6Address("2001:db8::d1:102")) is None
    with pytest.raises(EncodeError):
        MulticastScheme(scope=0)


def test_protection() -> None:
    check_group_request_protection(0x50)  # broadcast key + authentication
    check_group_request_protection(0x70, require_encryption=True)
    for sc in (None, 0x30, 0x40, 0x10):
        with pytest.raises(GroupProtectionError):
            check_group_request_protection(sc)
    with pytest.raises(GroupProtectionError):
        check_group_request_protection(0x50, require_encryption=True)


def test_evaluate_group_request() -> None:
    m = GroupMembership(
        (GroupDefinition(5, MatchMode.ALL, (Condition(1, TARIFF, 2, Operator.EQ, Unsigned(2)),)),)
    )
    addr = MulticastScheme().address(5)
    member, other = reader({(1, TARIFF, 2): Unsigned(2)}), reader({(1, TARIFF, 2): Unsigned(1)})
    assert evaluate_group_request(addr, 127, 0x70, m, member) is GroupDecision.EXECUTE
    assert evaluate_group_request(addr, 127, 0x70, m, other) is GroupDecision.NOT_MEMBER
    assert evaluate_group_request(addr, 127, 0x30, m, member) is GroupDecision.UNPROTECTED
    assert evaluate_group_request(addr, 1, 0x70, m, member) is GroupDecision.NOT_A_GROUP
    assert (
        evaluate_group_request(ipaddress.IPv6Address("ff15::1"), 127, 0x70, m, member)
        is GroupDecision.NOT_A_GROUP
    )
    assert evaluate_group_request(MulticastScheme().address(0), 127, 0x70, m, other) is GroupDecision.EXECUTE
