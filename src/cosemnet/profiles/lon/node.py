"""ISO/IEC 14908-1 node identity and configuration: domains, subnet/node, groups, unique node ID, program ID.

A node belongs to at most two domains (domain table entries 0 and 1, as in lon-stack-dx
``eep->domainTable``); in each it has a subnet (1..255) and a node number (1..127) and an authentication
key. Its unique node ID (Neuron ID, 6 bytes) and program ID (8 bytes) never change. Group memberships
(group number, member number inside the group, receive timer) belong to a domain.

A node with no valid domain is *unconfigured* [design: lon-stack-dx keeps an explicit node state that
network management sets with "set node mode"; here update domain is the only commissioning step, so a
valid domain table entry is what makes a node configured]. An unconfigured node answers query ID with
selector 0 and receives only broadcast and unique-ID-addressed messages, in any domain ("flex domain"),
replying from subnet/node 0/0 in the domain the request came in.

Authentication: ISO/IEC 14908-1 authenticates with a challenge/reply exchange (AuthPDU) keyed by the
6-byte domain key (``auth_type`` 1: OMA, the 12-byte key of both entries); the stack runs it
(:mod:`.authentication`, docs/decisions/0050). It is weak; :class:`Authenticator` is an extra hook a
security layer may add, consulted after a successful reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol

from cosemnet.errors import EncodeError
from cosemnet.profiles.lon._codec import NODE_MAX, SUBNET_MAX, check_bytes, check_int
from cosemnet.profiles.lon.addresses import DOMAIN_LENGTHS, UNIQUE_ID_LENGTH
from cosemnet.profiles.lon.lon_apdu import Apdu
from cosemnet.profiles.lon.netmgmt import KEY_LENGTH, PROGRAM_ID_LENGTH, DomainEntry

MAX_DOMAINS: Final = 2
"""Domain table entries of a node (lon-stack-dx: ``MAX_DOMAINS`` 2)."""

MAX_GROUP_MEMBER: Final = 63
"""Highest group member number for acknowledged / request multicast (lon-stack-dx ``MAX_GROUP_NUMBER``)."""


@dataclass(slots=True)
class Domain:
    """One domain table entry: the domain ID and this node's subnet/node address in it."""

    domain_id: bytes
    subnet: int
    node: int
    authentication_key: bytes = field(default=bytes(KEY_LENGTH), repr=False)
    auth_type: int = 0
    """0 standard, 1 OMA (lon-stack-dx ``AUTH_OMA``); entry 0's value selects the variant (decision 0050)."""

    def __post_init__(self) -> None:
        if len(check_bytes("domain_id", self.domain_id)) not in DOMAIN_LENGTHS:
            raise EncodeError("domain ID must be 0, 1, 3 or 6 bytes long")
        self.domain_id = bytes(self.domain_id)
        check_int("subnet", self.subnet, 1, SUBNET_MAX)
        check_int("node", self.node, 1, NODE_MAX)
        self.authentication_key = check_bytes("authentication_key", self.authentication_key, KEY_LENGTH)

    @classmethod
    def from_entry(cls, entry: DomainEntry) -> Domain | None:
        """The domain an update-domain entry describes, or ``None`` when it marks the entry invalid."""
        if entry.invalid or entry.id_length not in DOMAIN_LENGTHS:
            return None
        if not 1 <= entry.subnet <= SUBNET_MAX or not 1 <= entry.node <= NODE_MAX:
            return None
        return cls(
            entry.domain_id[: entry.id_length],
            entry.subnet,
            entry.node,
            entry.authentication_key,
            entry.auth_type,
        )


@dataclass(slots=True)
class GroupMembership:
    """Membership of ``group`` in domain ``domain_index`` as member number ``member`` (0..63).

    ``receive_timer`` is the encoded receive timer index (see :mod:`.transaction`) used for receive
    transaction records of messages to this group.
    """

    domain_index: int
    group: int
    member: int
    receive_timer: int = 10

    def __post_init__(self) -> None:
        check_int("domain_index", self.domain_index, 0, MAX_DOMAINS - 1)
        check_int("group", self.group, 0, 255)
        check_int("member", self.member, 0, MAX_GROUP_MEMBER)
        check_int("receive_timer", self.receive_timer, 0, 15)


class Authenticator(Protocol):
    """Hook deciding whether a message that asks for authentication is accepted.

    Consulted once per new message whose TPDU/SPDU has the auth bit set, after the ISO/IEC 14908-1
    challenge/reply succeeded (docs/decisions/0050); a security suite may add its policy here.
    """

    def authenticate(self, domain: Domain | None, source_subnet: int, source_node: int, apdu: Apdu) -> bool:
        """True to deliver the message as authenticated."""
        ...


@dataclass(slots=True)
class LonNode:
    """Identity and configuration of one ISO/IEC 14908-1 node."""

    unique_id: bytes
    program_id: bytes = bytes(PROGRAM_ID_LENGTH)
    domains: list[Domain | None] = field(default_factory=lambda: [None, None])
    groups: list[GroupMembership] = field(default_factory=list)
    respond_to_query: bool = False
    """The "selected" flag set by NM respond-to-query (lon-stack-dx ``selectQueryFlag``)."""
    non_group_receive_timer: int = 10
    """Encoded receive timer index for records of non-group messages (default 10 = 4096 ms) [design]."""
    authenticator: Authenticator | None = field(default=None, repr=False)
    application_online: bool = True
    """False after set node mode "offline" (or state 6, hard offline): application messages are dropped
    (not delivered, not acknowledged); network management still works [design, decision 0072]."""
    forced_unconfigured: bool = False
    """Set by set node mode "change state" to 2 / 3: the node counts as unconfigured although its domain
    table entries stay (lon-stack-dx keeps the node state apart from the domain table)."""

    def __post_init__(self) -> None:
        self.unique_id = check_bytes("unique_id", self.unique_id, UNIQUE_ID_LENGTH)
        self.program_id = check_bytes("program_id", self.program_id, PROGRAM_ID_LENGTH)
        if len(self.domains) > MAX_DOMAINS:
            raise EncodeError(f"a node has at most {MAX_DOMAINS} domains")
        while len(self.domains) < MAX_DOMAINS:
            self.domains.append(None)
        check_int("non_group_receive_timer", self.non_group_receive_timer, 0, 15)

    @classmethod
    def configured_in(
        cls, unique_id: bytes, domain_id: bytes, subnet: int, node: int, program_id: bytes | None = None
    ) -> LonNode:
        """A node configured in one domain."""
        return cls(
            unique_id,
            bytes(PROGRAM_ID_LENGTH) if program_id is None else program_id,
            [Domain(domain_id, subnet, node), None],
        )

    @property
    def configured(self) -> bool:
        """True when at least one domain table entry is valid and no set node mode made it unconfigured."""
        return not self.forced_unconfigured and any(d is not None for d in self.domains)

    def domain_index_of(self, domain_id: bytes) -> int | None:
        """Index of the domain table entry with ``domain_id``."""
        for index, domain in enumerate(self.domains):
            if domain is not None and domain.domain_id == domain_id:
                return index
        return None

    def membership(self, domain_index: int, group: int) -> GroupMembership | None:
        for entry in self.groups:
            if entry.domain_index == domain_index and entry.group == group:
                return entry
        return None

    def join_group(self, domain_index: int, group: int, member: int, receive_timer: int = 10) -> None:
        self.groups = [g for g in self.groups if not (g.domain_index == domain_index and g.group == group)]
        self.groups.append(GroupMembership(domain_index, group, member, receive_timer))

    def update_domain(self, index: int, entry: DomainEntry) -> bool:
        """Apply NM update domain to entry ``index``; False when the index does not exist."""
        if not 0 <= index < MAX_DOMAINS:
            return False
        self.domains[index] = Domain.from_entry(entry)
        return True

    def leave_group(self, domain_index: int, group: int) -> None:
        self.groups = [g for g in self.groups if not (g.domain_index == domain_index and g.group == group)]

    def leave_domain(self, index: int) -> bool:
        if not 0 <= index < MAX_DOMAINS:
            return False
        self.domains[index] = None
        self.groups = [g for g in self.groups if g.domain_index != index]
        return True
