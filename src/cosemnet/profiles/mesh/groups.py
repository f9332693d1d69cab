"""Group management (IEC TS 62056-8-20, 8.2 and 7.4.2).

[pinned by the TS scope] Servers are organised in groups "based on various conditions"; a request is
broadcast to every device of the mesh but only members of the group carry it out and answer; broadcast
requests are protected with the broadcast key.

**Our design** (decision record ``docs/decisions/0022-mesh-group-membership.md``):

* A meter holds a :class:`GroupMembership`: an array of :class:`GroupDefinition` ``{group_id, match,
  conditions}``. A definition with no condition and ``match = all`` is a static membership; otherwise
  the meter is a member while its conditions hold (``all``: every condition, ``any``: at least one),
  evaluated when a group request arrives, against the meter's own attribute values read through a
  callback. Conditions: :class:`Condition` ``{class_id, logical_name, attribute_index, operator,
  value}``.
* Addressing: the head-end sends one request to the IPv6 multicast address derived from the group id
  (:class:`MulticastScheme`, default ``ff15::d1:<group id>``: flags T=1 (transient), scope 5 (site);
  the scope is configurable, e.g. 3 (realm-local, RFC 7346) in MPL meshes), to the profile UDP port and
  destination wPort 127 (all-station). Each meter subscribes to the addresses of the group ids it has
  definitions for (:meth:`GroupMembership.multicast_addresses`). Group id 0 is "all meters".
* Protection: a group request must be ciphered with the broadcast key (security control bit 6) and
  authenticated (bit 4); :func:`check_group_request_protection` enforces it, :func:`evaluate_group_request`
  combines address, wPort, protection and membership into one decision.

Wire forms (COSEM Data, our design)::

    condition ::= structure { class_id long-unsigned, logical_name octet-string(6),
                              attribute_index integer, operator enum, value Data }
    group_definition ::= structure { group_id long-unsigned, match enum (0 all, 1 any),
                                     conditions array of condition }
    group_membership ::= array of group_definition
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer, encode_data
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import BitString, DataValue, Enumerated, Integer, LongUnsigned, TypedInt
from cosemnet.cosem.base import SelectiveAccess
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.data import Data
from cosemnet.cosem.results import type_unmatched
from cosemnet.cosem.selective import date_time_key
from cosemnet.cosem.values import is_numeric, numeric
from cosemnet.errors import CosemnetError, DecodeError, EncodeError
from cosemnet.profiles.mesh._data import DataReader, enum_member, reencode
from cosemnet.profiles.mesh.ports import MESH_UDP_PORT, WPORT_ALL_STATION
from cosemnet.security.control import AUTHENTICATION_BIT, BROADCAST_BIT, ENCRYPTION_BIT

__all__ = [
    "ALL_METERS_GROUP",
    "DEFAULT_SCHEME",
    "GROUP_MEMBERSHIP_LN",
    "MAX_CONDITIONS",
    "MAX_GROUPS",
    "Condition",
    "GroupDecision",
    "GroupDefinition",
    "GroupMembership",
    "GroupMembershipObject",
    "GroupProtectionError",
    "GroupRequestTarget",
    "MatchMode",
    "MulticastScheme",
    "Operator",
    "ValueReader",
    "check_group_request_protection",
    "evaluate_group_request",
    "group_request_target",
]

ALL_METERS_GROUP: Final = 0
"""[design] group id 0: every meter is a member, whatever its definitions."""
MAX_CONDITIONS: Final = 32
MAX_GROUPS: Final = 256
"""[design] decoding limits (a meter has limited memory)."""

ValueReader = Callable[[int, Obis, int], DataValue]
"""``read(class_id, logical_name, attribute_index) -> value`` of the meter's own objects."""


class Operator(IntEnum):
    EQ = 0
    NE = 1
    LT = 2
    LE = 3
    GT = 4
    GE = 5
    IN = 6
    """The value is an array; true when the attribute equals one of its elements."""
    MASK_ALL = 7
    """Integer or bit-string: every bit set in the value is set in the attribute. Two bit-strings
    are aligned on their first bit; a bit-string against an integer is read as a binary number."""
    MASK_ANY = 8
    """Integer or bit-string: at least one bit set in the value is set in the attribute."""
    PREFIX = 9
    """Octet-string or string: the attribute starts with the value."""


class MatchMode(IntEnum):
    ALL = 0
    ANY = 1


class GroupProtectionError(CosemnetError):
    """A group request is not protected as the profile requires (broadcast key, authenticated)."""


# --------------------------------------------------------------------------------------------------
# Comparisons

_ORDERED_KINDS: Final = frozenset({"num", "time", "bytes", "str", "enum"})


def _key(value: DataValue) -> tuple[str, Any]:
    """A comparable form: numbers of any width compare numerically, date-times by instant."""
    if type(value) is bool:
        return "bool", value
    if is_numeric(value):
        return "num", numeric(value)
    if type(value) is Enumerated:
        return "enum", int(value)
    if type(value) is CosemDateTime:
        return "time", date_time_key(value)
    if isinstance(value, bytes):
        return "bytes", bytes(value)
    if isinstance(value, str):
        return "str", str(value)
    return "other", value


def _equal(a: DataValue, b: DataValue) -> bool:
    ka, kb = _key(a), _key(b)
    return ka[0] == kb[0] and ka[1] == kb[1]


def _ordered(a: DataValue, b: DataValue) -> tuple[Any, Any] | None:
    ka, kb = _key(a), _key(b)
    if ka[0] != kb[0] or ka[0] not in _ORDERED_KINDS:
        return None
    return ka[1], kb[1]


def _bit_string_int(value: BitString) -> int:
    """The bits of a bit-string as a number, first bit most significant."""
    return int.from_bytes(value.data, "big") >> (len(value.data) * 8 - value.length) if value.length else 0


def _bits(value: DataValue) -> int | None:
    if type(value) is BitString:
        return _bit_string_int(value)
    if isinstance(value, TypedInt | int) and type(value) is not bool:
        return int(value)
    return None


def compare(operator: Operator, actual: DataValue, reference: DataValue) -> bool:
    """``actual <operator> reference``; values that cannot be compared give False."""
    try:
        if operator is Operator.EQ:
            return _equal(actual, reference)
        if operator is Operator.NE:
            return not _equal(actual, reference)
        if operator is Operator.IN:
            return type(reference) is list and any(_equal(actual, item) for item in reference)
        if operator in (Operator.MASK_ALL, Operator.MASK_ANY):
            value: int | None
            mask: int | None
            if type(actual) is BitString and type(reference) is BitString:
                # bit i of one is bit i of the other (first bit = bit 0), whatever the lengths
                width = max(actual.length, reference.length)
                value = _bit_string_int(actual) << (width - actual.length)
                mask = _bit_string_int(reference) << (width - reference.length)
            else:
                value, mask = _bits(actual), _bits(reference)
            if value is None or mask is None:
                return False
            return (value & mask) == mask if operator is Operator.MASK_ALL else (value & mask) != 0
        if operator is Operator.PREFIX:
            if isinstance(actual, bytes) and isinstance(reference, bytes):
                return actual.startswith(reference)
            if isinstance(actual, str) and isinstance(reference, str):
                return actual.startswith(reference)
            return False
        pair = _ordered(actual, reference)
        if pair is None:
            return False
        x, y = pair
        if operator is Operator.LT:
            return bool(x < y)
        if operator is Operator.LE:
            return bool(x <= y)
        if operator is Operator.GT:
            return bool(x > y)
        return bool(x >= y)
    except (CosemnetError, TypeError, ValueError, OverflowError):
        # e.g. a date-time with unspecified fields cannot be placed in time
        return False


# --------------------------------------------------------------------------------------------------
# Structures


class _Codec:
    __slots__ = ()
    WHAT: ClassVar[str] = ""

    def to_data(self) -> DataValue:
        raise NotImplementedError

    @classmethod
    def read(cls, r: DataReader) -> Self:
        raise NotImplementedError

    def encode(self) -> bytes:
        return encode_data(self.to_data())

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        r = DataReader(data)
        obj = cls.read(r)
        r.end(cls.WHAT)
        return obj

    @classmethod
    def from_data(cls, value: DataValue) -> Self:
        return cls.decode(reencode(value, cls.WHAT))


@dataclass(frozen=True, slots=True)
class Condition(_Codec):
    """A condition on one attribute of the meter's own objects."""

    WHAT: ClassVar[str] = "condition"

    class_id: int
    logical_name: Obis
    attribute_index: int
    operator: Operator
    value: DataValue

    def __post_init__(self) -> None:
        if not isinstance(self.logical_name, Obis):
            object.__setattr__(self, "logical_name", Obis(self.logical_name))
        LongUnsigned(self.class_id)
        Integer(self.attribute_index)
        if not isinstance(self.operator, Operator):
            raise EncodeError("operator must be an Operator")
        if self.operator is Operator.IN and type(self.value) is not list:
            raise EncodeError("the IN operator needs an array value")

    def to_data(self) -> DataValue:
        return (
            LongUnsigned(self.class_id),
            bytes(self.logical_name),
            Integer(self.attribute_index),
            Enumerated(self.operator),
            self.value,
        )

    @classmethod
    def read(cls, r: DataReader) -> Self:
        r.structure(5, cls.WHAT)
        class_id = int(r.value(LongUnsigned, "class_id"))
        ln = Obis(r.octet_string("logical_name", (6,)))
        attribute_index = int(r.value(Integer, "attribute_index"))
        start = r.pos
        op = enum_member(Operator, int(r.value(Enumerated, "operator")), start, "operator")
        start = r.pos
        value = r.any_value()
        if op is Operator.IN and type(value) is not list:
            raise DecodeError("the IN operator needs an array value", start, "array")
        return cls(class_id, ln, attribute_index, op, value)

    def evaluate(self, read: ValueReader) -> bool:
        """True when the condition holds. An attribute the reader cannot give (it raises a
        CosemnetError or LookupError) makes the condition false, whatever the operator."""
        try:
            actual = read(self.class_id, self.logical_name, self.attribute_index)
        except (CosemnetError, LookupError):
            return False
        return compare(self.operator, actual, self.value)


@dataclass(frozen=True, slots=True)
class GroupDefinition(_Codec):
    """Membership rule of one group."""

    WHAT: ClassVar[str] = "group definition"

    group_id: int
    match: MatchMode = MatchMode.ALL
    conditions: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        LongUnsigned(self.group_id)
        if not isinstance(self.match, MatchMode):
            raise EncodeError("match must be a MatchMode")
        object.__setattr__(self, "conditions", tuple(self.conditions))
        if len(self.conditions) > MAX_CONDITIONS or not all(
            isinstance(c, Condition) for c in self.conditions
        ):
            raise EncodeError(f"conditions must be at most {MAX_CONDITIONS} Condition values")

    @classmethod
    def static(cls, group_id: int) -> GroupDefinition:
        """Unconditional membership."""
        return cls(group_id, MatchMode.ALL, ())

    def to_data(self) -> DataValue:
        return (LongUnsigned(self.group_id), Enumerated(self.match), [c.to_data() for c in self.conditions])

    @classmethod
    def read(cls, r: DataReader) -> Self:
        r.structure(3, cls.WHAT)
        group_id = int(r.value(LongUnsigned, "group_id"))
        start = r.pos
        match = enum_member(MatchMode, int(r.value(Enumerated, "match")), start, "match mode")
        n = r.array("conditions", MAX_CONDITIONS)
        return cls(group_id, match, tuple(Condition.read(r) for _ in range(n)))

    def evaluate(self, read: ValueReader) -> bool:
        """``all``: every condition holds (true when there is none); ``any``: at least one does."""
        if self.match is MatchMode.ALL:
            return all(c.evaluate(read) for c in self.conditions)
        return any(c.evaluate(read) for c in self.conditions)


@dataclass(frozen=True, slots=True)
class MulticastScheme:
    """Derivation of the multicast address of a group id ([design], configurable).

    Address = ``ff`` | flags<<4 | scope, ten zero bytes, then the 32-bit group tag
    ``base | group_id`` (RFC 3307: group ids in the low 32 bits). Default ``ff15::d1:<group id>``.
    """

    flags: int = 0x1
    scope: int = 0x5
    base: int = 0x00D10000

    def __post_init__(self) -> None:
        if not 0 <= self.flags <= 0xF or not 1 <= self.scope <= 0xF:
            raise EncodeError("flags and scope are 4-bit values (scope 1..15)")
        if not 0 <= self.base <= 0xFFFFFFFF or self.base & 0xFFFF:
            raise EncodeError("base must be a 32-bit value with its low 16 bits zero")

    def address(self, group_id: int) -> ipaddress.IPv6Address:
        LongUnsigned(group_id)
        raw = (
            bytes((0xFF, self.flags << 4 | self.scope))
            + bytes(10)
            + (self.base | group_id).to_bytes(4, "big")
        )
        return ipaddress.IPv6Address(raw)

    def group_id(self, address: ipaddress.IPv6Address) -> int | None:
        """The group id an address stands for, None when it is not one of this scheme's."""
        raw = address.packed
        if raw[0] != 0xFF or raw[1] != (self.flags << 4 | self.scope) or any(raw[2:12]):
            return None
        tag = int.from_bytes(raw[12:], "big")
        if tag & 0xFFFF0000 != self.base:
            return None
        return tag & 0xFFFF


DEFAULT_SCHEME: Final = MulticastScheme()


@dataclass(frozen=True, slots=True)
class GroupMembership(_Codec):
    """Every group definition of one meter."""

    WHAT: ClassVar[str] = "group membership"

    definitions: tuple[GroupDefinition, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "definitions", tuple(self.definitions))
        if len(self.definitions) > MAX_GROUPS or not all(
            isinstance(d, GroupDefinition) for d in self.definitions
        ):
            raise EncodeError(f"definitions must be at most {MAX_GROUPS} GroupDefinition values")
        ids = [d.group_id for d in self.definitions]
        if len(set(ids)) != len(ids):
            raise EncodeError("a group id is defined twice")

    @classmethod
    def static(cls, group_ids: Iterable[int]) -> GroupMembership:
        return cls(tuple(GroupDefinition.static(g) for g in group_ids))

    def to_data(self) -> DataValue:
        return [d.to_data() for d in self.definitions]

    @classmethod
    def read(cls, r: DataReader) -> Self:
        start = r.pos
        n = r.array(cls.WHAT, MAX_GROUPS)
        definitions = tuple(GroupDefinition.read(r) for _ in range(n))
        ids = [d.group_id for d in definitions]
        if len(set(ids)) != len(ids):
            raise DecodeError("a group id is defined twice", start, "distinct group ids")
        return cls(definitions)

    @property
    def group_ids(self) -> frozenset[int]:
        """Ids this meter has definitions for (plus the all-meters group)."""
        return frozenset(d.group_id for d in self.definitions) | {ALL_METERS_GROUP}

    def is_member(self, group_id: int, read: ValueReader) -> bool:
        if group_id == ALL_METERS_GROUP:
            return True
        for d in self.definitions:
            if d.group_id == group_id:
                return d.evaluate(read)
        return False

    def member_of(self, read: ValueReader) -> frozenset[int]:
        """Every group the meter is a member of right now."""
        return frozenset(d.group_id for d in self.definitions if d.evaluate(read)) | {ALL_METERS_GROUP}

    def multicast_addresses(self, scheme: MulticastScheme = DEFAULT_SCHEME) -> list[ipaddress.IPv6Address]:
        """The addresses to subscribe to (one per defined group, plus all-meters)."""
        return [scheme.address(g) for g in sorted(self.group_ids)]


# --------------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True, slots=True)
class GroupRequestTarget:
    """Where the head-end sends a group request."""

    group_id: int
    address: ipaddress.IPv6Address
    udp_port: int = MESH_UDP_PORT
    destination_wport: int = WPORT_ALL_STATION
    security_control_bits: int = BROADCAST_BIT | AUTHENTICATION_BIT | ENCRYPTION_BIT
    """Bits the security control byte of the ciphered request must carry (with the suite id)."""


def group_request_target(
    group_id: int,
    scheme: MulticastScheme = DEFAULT_SCHEME,
    udp_port: int = MESH_UDP_PORT,
    destination_wport: int = WPORT_ALL_STATION,
) -> GroupRequestTarget:
    return GroupRequestTarget(group_id, scheme.address(group_id), udp_port, destination_wport)


def check_group_request_protection(security_control: int | None, *, require_encryption: bool = False) -> None:
    """Raise :class:`GroupProtectionError` unless the request was protected with the broadcast key
    and authenticated (and encrypted when asked). ``None`` means the request was not ciphered."""
    if security_control is None:
        raise GroupProtectionError("group requests must be ciphered with the broadcast key")
    if not security_control & BROADCAST_BIT:
        raise GroupProtectionError("group requests must use the broadcast key (security control bit 6)")
    if not security_control & AUTHENTICATION_BIT:
        raise GroupProtectionError("group requests must be authenticated (security control bit 4)")
    if require_encryption and not security_control & ENCRYPTION_BIT:
        raise GroupProtectionError("group requests must be encrypted (security control bit 5)")


class GroupDecision(IntEnum):
    EXECUTE = 0
    """Member: carry out the request and answer (within the response window)."""
    NOT_MEMBER = 1
    """Drop silently."""
    NOT_A_GROUP = 2
    """Destination is not one of the scheme's group addresses (or the wPort is not all-station)."""
    UNPROTECTED = 3
    """Not protected with the broadcast key: drop (and count it)."""


def evaluate_group_request(
    destination: ipaddress.IPv6Address,
    destination_wport: int,
    security_control: int | None,
    membership: GroupMembership,
    read: ValueReader,
    *,
    scheme: MulticastScheme = DEFAULT_SCHEME,
    group_wport: int = WPORT_ALL_STATION,
    require_encryption: bool = False,
) -> GroupDecision:
    """Meter side: should this multicast request be executed?"""
    group_id = scheme.group_id(destination)
    if group_id is None or destination_wport != group_wport:
        return GroupDecision.NOT_A_GROUP
    try:
        check_group_request_protection(security_control, require_encryption=require_encryption)
    except GroupProtectionError:
        return GroupDecision.UNPROTECTED
    return GroupDecision.EXECUTE if membership.is_member(group_id, read) else GroupDecision.NOT_MEMBER


# --------------------------------------------------------------------------------------------------
# The COSEM object (docs/decisions/0124, our design: not the TS's)

GROUP_MEMBERSHIP_LN: Final = Obis("0-0:128.20.0*255")
"""[design, decision 0124] logical name of the group membership object (manufacturer-specific C=128)."""


class GroupMembershipObject(Data):
    """The meter's :class:`GroupMembership` as a Data object (class 1, attribute 2 ``value`` =
    ``group_membership``), readable and settable by the associations that grant it (decision 0124).

    A SET must decode as a ``group_membership`` (else ``type-unmatched``, nothing changed); the node
    evaluates group requests against :attr:`membership` at reception, so a SET takes effect at once."""

    def __init__(
        self,
        logical_name: Obis | str | bytes = GROUP_MEMBERSHIP_LN,
        membership: GroupMembership | None = None,
    ) -> None:
        membership = membership if membership is not None else GroupMembership(())
        super().__init__(logical_name, membership.to_data())
        self.membership = membership

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        return self.membership.to_data()

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        try:
            membership = GroupMembership.from_data(value)
        except (DecodeError, EncodeError) as exc:
            raise type_unmatched(f"group_membership: {exc}") from None
        self.membership = membership
        self.value = value
