"""IEC 62056-8-8 Annex E repeating: the proxy frame formats (downlink E.4, uplink E.5).

Reconstructed from the LonTalk enhanced proxy (izot/lon-stack-dx ``lcs_proxy.c`` / ``lcs_proxy.h``; facts
only, spec notes section 2, docs/decisions/0070). A proxy message is the 14908-1 foreign-frame APDU
:data:`PROXY_CODE` (0x4D) sent by the proxy source to the first repeater; its data::

    ProxyHeader(1) [hop address x count] [ProxyTxCtrl(1) if count > 0] SICB(2) [alternate key]
    target address  target APDU code(1)  target APDU data (<= 102 bytes)

* ProxyHeader (Table E.1): b7 uniform_by_dest, b6 long_timer, b5 all_agents, b4 uniform_by_src,
  b3-0 count (hop addresses that follow).
* Hop address: detailed (Table E.2) = subnet(1) + [path(1) | node(7)]; uniform (Table E.3) = the
  second byte only, the subnet being the sender's (``uniform_by_src``) or the repeater's own
  (``uniform_by_dest``).
* ProxyTxCtrl (Table E.4): b7-4 retry count, b3-0 transmit timer index of the repeater hops.
* SICB (Figure E.10): b7-5 target address type (Table E.5), b4 path, b3-2 service (Table E.6),
  b1-0 mode (Table E.7: normal, zero-sync, alternate key, attenuate); then the agent's ProxyTxCtrl.
* Alternate key (Figure E.11), mode 2 only: b1-0 type (0 standard: 6-byte delta, 1 OMA: 12 bytes),
  b7-2 zero; the delta is added bytewise modulo 256 to the domain key(s).
* Target address (Figures E.12-E.16) by type: 0 group {group, size}; 1 subnet/node {subnet, path|node};
  2 Neuron ID {subnet, nid(6)}; 3 broadcast {subnet, backlog}; 4 group compact {group}; 5 subnet/node
  compact, source subnet {path|node}; 6 Neuron ID compact {nid(6)}; 7 subnet/node compact, destination
  subnet {path|node}.

Uplink (E.5): the response to the proxy REQUEST: :data:`PROXY_SUCCESS` (0x4D, no data, Table E.8); a
repeating failure :data:`PROXY_FAILURE` (0x4C) + the count of the node that could not forward (Table E.9;
0 = the agent could not reach the target); an authentication failure (Table E.10) is [design] 0x4C + that
count + :data:`AUTHENTICATION_FAILURE_CAUSE`. A target's own response (request service) is relayed as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, Self

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon._codec import (
    NODE_MAX,
    SUBNET_MAX,
    Buffer,
    Reader,
    check_bytes,
    check_enum,
    check_int,
    to_bytes,
)
from cosemnet.profiles.lon.addresses import (
    Address,
    BroadcastAddress,
    GroupAddress,
    SubnetNodeAddress,
    UniqueIdAddress,
)
from cosemnet.profiles.lon.lon_apdu import Apdu, ForeignFrame, decode_apdu
from cosemnet.profiles.lon.transaction import Service

PROXY_CODE: Final = 0x4D
"""Foreign-frame APDU code of a proxy (repeated) message."""
PROXY_SUCCESS: Final = 0x4D
"""Response code of a successful proxy transaction (no data)."""
PROXY_FAILURE: Final = 0x4C
"""Response code of a repeating failure: + 1 byte, the count of the hop where the chain broke."""
AUTHENTICATION_FAILURE_CAUSE: Final = 0x01
"""[design, docs/decisions/0070] Third byte of a 0x4C response: the hop's message was challenged and
the reply refused (Table E.10 authentication failure)."""
MAX_PROXY_DATA: Final = 102
"""Longest target APDU data (after its code byte)."""
MAX_HOPS: Final = 15
KEY_DELTA_LENGTHS: Final = {0: 6, 1: 12}
"""Alternate key type -> delta length (0 standard, 1 OMA)."""


class ProxyAddressType(IntEnum):
    """Table E.5: target address types."""

    GROUP = 0
    SUBNET_NODE = 1
    NEURON_ID = 2
    BROADCAST = 3
    GROUP_COMPACT = 4
    SUBNET_NODE_COMPACT_SRC = 5
    NEURON_ID_COMPACT = 6
    SUBNET_NODE_COMPACT_DEST = 7


class AgentMode(IntEnum):
    """Table E.7: how the agent transmits to the target."""

    NORMAL = 0
    ZERO_SYNC = 1
    ALTERNATE_KEY = 2
    ATTENUATE = 3


@dataclass(slots=True)
class ProxyHeader:
    """Table E.1."""

    count: int = 0
    uniform_by_src: bool = False
    all_agents: bool = False
    long_timer: bool = False
    uniform_by_dest: bool = False

    @property
    def uniform(self) -> bool:
        return self.uniform_by_src or self.uniform_by_dest

    def to_byte(self) -> int:
        check_int("count", self.count, 0, MAX_HOPS)
        return (
            (0x80 if self.uniform_by_dest else 0)
            | (0x40 if self.long_timer else 0)
            | (0x20 if self.all_agents else 0)
            | (0x10 if self.uniform_by_src else 0)
            | self.count
        )

    @classmethod
    def from_byte(cls, value: int) -> Self:
        return cls(
            value & 0x0F, bool(value & 0x10), bool(value & 0x20), bool(value & 0x40), bool(value & 0x80)
        )


@dataclass(slots=True)
class ProxyTxCtrl:
    """Table E.4: retry count and transmit timer index a repeater / the agent uses for its hop."""

    retry: int = 3
    timer: int = 11

    def to_byte(self) -> int:
        return check_int("retry", self.retry, 0, 15) << 4 | check_int("timer", self.timer, 0, 15)

    @classmethod
    def from_byte(cls, value: int) -> Self:
        return cls(value >> 4, value & 0x0F)


@dataclass(slots=True)
class HopAddress:
    """A repeater / agent on the chain (Tables E.2, E.3). ``subnet`` is None in uniform addressing."""

    node: int
    subnet: int | None = None
    path: bool = False
    """Send this hop on the alternate path."""

    def node_byte(self) -> int:
        return (0x80 if self.path else 0) | check_int("node", self.node, 0, NODE_MAX)


@dataclass(slots=True)
class AlternateKey:
    """Figure E.11: a key delta added bytewise (mod 256) to the domain key(s) for the agent's hop."""

    delta: bytes = field(repr=False)
    oma: bool = False
    """Type 1 (OMA): a 12-byte delta for both domain keys; type 0: 6 bytes."""

    def apply(self, key: bytes) -> bytes:
        """The alternate key for ``key`` (6 bytes, or 12 for OMA)."""
        if len(key) != len(self.delta):
            raise EncodeError("the alternate key delta and the key differ in length")
        return bytes((k + d) & 0xFF for k, d in zip(key, self.delta, strict=True))


@dataclass(slots=True)
class ProxyTarget:
    """The target address (Figures E.12-E.16). Fields not used by ``address_type`` stay at their
    defaults; ``path`` is the top bit of the node byte of types 1, 5 and 7 (the SICB path bit is the one
    the agent uses)."""

    address_type: ProxyAddressType
    subnet: int = 0
    node: int = 0
    group: int = 0
    size: int = 0
    backlog: int = 0
    unique_id: bytes = b""
    path: bool = False

    def encode_into(self, out: bytearray) -> None:
        kind = check_enum(ProxyAddressType, self.address_type, "address_type")
        if kind == ProxyAddressType.GROUP:
            out += bytes((check_int("group", self.group, 0, 255), check_int("size", self.size, 0, 255)))
        elif kind == ProxyAddressType.GROUP_COMPACT:
            out.append(check_int("group", self.group, 0, 255))
        elif kind == ProxyAddressType.SUBNET_NODE:
            out.append(check_int("subnet", self.subnet, 0, SUBNET_MAX))
            out.append(HopAddress(self.node, None, self.path).node_byte())
        elif kind in (ProxyAddressType.SUBNET_NODE_COMPACT_SRC, ProxyAddressType.SUBNET_NODE_COMPACT_DEST):
            out.append(HopAddress(self.node, None, self.path).node_byte())
        elif kind == ProxyAddressType.NEURON_ID:
            out.append(check_int("subnet", self.subnet, 0, SUBNET_MAX))
            out += check_bytes("unique_id", self.unique_id, 6)
        elif kind == ProxyAddressType.NEURON_ID_COMPACT:
            out += check_bytes("unique_id", self.unique_id, 6)
        else:
            out += bytes(
                (check_int("subnet", self.subnet, 0, SUBNET_MAX), check_int("backlog", self.backlog, 0, 63))
            )

    @classmethod
    def read(cls, reader: Reader, kind: ProxyAddressType) -> Self:
        if kind == ProxyAddressType.GROUP:
            return cls(kind, group=reader.u8("group"), size=reader.u8("group size"))
        if kind == ProxyAddressType.GROUP_COMPACT:
            return cls(kind, group=reader.u8("group"))
        if kind == ProxyAddressType.SUBNET_NODE:
            subnet = reader.u8("subnet")
            node = reader.u8("path/node")
            return cls(kind, subnet=subnet, node=node & NODE_MAX, path=bool(node & 0x80))
        if kind in (ProxyAddressType.SUBNET_NODE_COMPACT_SRC, ProxyAddressType.SUBNET_NODE_COMPACT_DEST):
            node = reader.u8("path/node")
            return cls(kind, node=node & NODE_MAX, path=bool(node & 0x80))
        if kind == ProxyAddressType.NEURON_ID:
            subnet = reader.u8("subnet")
            return cls(kind, subnet=subnet, unique_id=reader.take(6, "Neuron ID"))
        if kind == ProxyAddressType.NEURON_ID_COMPACT:
            return cls(kind, unique_id=reader.take(6, "Neuron ID"))
        subnet = reader.u8("broadcast subnet")
        backlog = reader.u8("backlog")
        if backlog > 63:
            raise DecodeError(f"broadcast backlog {backlog} above 63", reader.pos - 1, "backlog 0..63")
        return cls(kind, subnet=subnet, backlog=backlog)

    @classmethod
    def for_address(cls, address: Address, group_size: int = 0, backlog: int = 0) -> ProxyTarget:
        """The detailed target address for a 14908-1 destination (types 0-3)."""
        if isinstance(address, GroupAddress):
            return cls(ProxyAddressType.GROUP, group=address.group, size=group_size)
        if isinstance(address, SubnetNodeAddress):
            return cls(
                ProxyAddressType.SUBNET_NODE, subnet=address.destination_subnet, node=address.destination_node
            )
        if isinstance(address, UniqueIdAddress):
            return cls(
                ProxyAddressType.NEURON_ID, subnet=address.destination_subnet, unique_id=address.unique_id
            )
        if isinstance(address, BroadcastAddress):
            return cls(ProxyAddressType.BROADCAST, subnet=address.destination_subnet, backlog=backlog)
        raise EncodeError(f"no proxy target address for {type(address).__name__}")

    def resolve(self, sender_subnet: int, own_subnet: int) -> tuple[Address, int | None]:
        """The 14908-1 destination the agent sends to, and the group size (acknowledged multicast)."""
        kind = self.address_type
        if kind in (ProxyAddressType.GROUP, ProxyAddressType.GROUP_COMPACT):
            return GroupAddress(self.group), (self.size or None) if kind == ProxyAddressType.GROUP else None
        if kind == ProxyAddressType.SUBNET_NODE:
            return SubnetNodeAddress(self.subnet, self.node), None
        if kind == ProxyAddressType.SUBNET_NODE_COMPACT_SRC:
            return SubnetNodeAddress(sender_subnet, self.node), None
        if kind == ProxyAddressType.SUBNET_NODE_COMPACT_DEST:
            return SubnetNodeAddress(own_subnet, self.node), None
        if kind == ProxyAddressType.NEURON_ID:
            return UniqueIdAddress(self.subnet, self.unique_id), None
        if kind == ProxyAddressType.NEURON_ID_COMPACT:
            return UniqueIdAddress(0, self.unique_id), None
        return BroadcastAddress(self.subnet), None


@dataclass(slots=True)
class AgentPart:
    """The SICB and what follows it (Figures E.8-E.10): how the agent sends ``apdu`` to ``target``."""

    target: ProxyTarget
    apdu: Apdu
    service: Service = Service.REQUEST
    mode: AgentMode = AgentMode.NORMAL
    path: bool = False
    tx_ctrl: ProxyTxCtrl = field(default_factory=ProxyTxCtrl)
    alternate_key: AlternateKey | None = None

    def encode_into(self, out: bytearray) -> None:
        mode = check_enum(AgentMode, self.mode, "mode")
        service = check_enum(Service, self.service, "service")
        if (mode == AgentMode.ALTERNATE_KEY) != (self.alternate_key is not None):
            raise EncodeError("an alternate key goes with mode ALTERNATE_KEY, and only with it")
        kind = check_enum(ProxyAddressType, self.target.address_type, "address_type")
        out.append(kind << 5 | (0x10 if self.path else 0) | service << 2 | mode)
        out.append(self.tx_ctrl.to_byte())
        if self.alternate_key is not None:
            key = self.alternate_key
            out.append(1 if key.oma else 0)
            out += check_bytes("alternate key delta", key.delta, 12 if key.oma else 6)
        self.target.encode_into(out)
        apdu = self.apdu.encode()
        if len(apdu) - 1 > MAX_PROXY_DATA:
            raise EncodeError(f"target APDU data of {len(apdu) - 1} bytes exceeds {MAX_PROXY_DATA}")
        out += apdu

    @classmethod
    def read(cls, reader: Reader) -> Self:
        sicb = reader.u8("SICB")
        tx_ctrl = ProxyTxCtrl.from_byte(reader.u8("agent ProxyTxCtrl"))
        kind = ProxyAddressType(sicb >> 5)
        mode = AgentMode(sicb & 0x03)
        key = None
        if mode == AgentMode.ALTERNATE_KEY:
            start = reader.pos
            key_type = reader.u8("alternate key type")
            if key_type not in KEY_DELTA_LENGTHS:
                raise DecodeError(
                    f"alternate key type byte 0x{key_type:02X}", start, "0 (standard) or 1 (OMA)"
                )
            key = AlternateKey(reader.take(KEY_DELTA_LENGTHS[key_type], "alternate key delta"), key_type == 1)
        target = ProxyTarget.read(reader, kind)
        if reader.remaining() < 1:
            raise DecodeError("truncated input", reader.pos, "target APDU code")
        if reader.remaining() - 1 > MAX_PROXY_DATA:
            raise DecodeError(
                f"target APDU data of {reader.remaining() - 1} bytes",
                reader.pos + 1,
                f"<= {MAX_PROXY_DATA} bytes",
            )
        apdu = decode_apdu(reader.rest())
        return cls(target, apdu, Service((sicb >> 2) & 0x03), mode, bool(sicb & 0x10), tx_ctrl, key)


@dataclass(slots=True)
class ProxyRequest:
    """A proxy message (Figures E.5-E.7): ``hops`` = the repeaters still to visit after the receiver,
    the last of them being the agent; no hops: the receiver is the agent."""

    agent: AgentPart
    hops: list[HopAddress] = field(default_factory=list)
    tx_ctrl: ProxyTxCtrl | None = None
    """The repeaters' retry / timer (present when there are hops)."""
    uniform_by_src: bool = False
    uniform_by_dest: bool = False
    all_agents: bool = False
    long_timer: bool = False

    @property
    def header(self) -> ProxyHeader:
        return ProxyHeader(
            len(self.hops), self.uniform_by_src, self.all_agents, self.long_timer, self.uniform_by_dest
        )

    def encode(self) -> bytes:
        """The proxy data (after the 0x4D code)."""
        if self.uniform_by_src and self.uniform_by_dest:
            raise EncodeError("uniform_by_src and uniform_by_dest exclude each other")
        if len(self.hops) > MAX_HOPS:
            raise EncodeError(f"at most {MAX_HOPS} hop addresses")
        if bool(self.hops) != (self.tx_ctrl is not None):
            raise EncodeError("a ProxyTxCtrl follows the hop addresses, and only when there are hops")
        header = self.header
        out = bytearray((header.to_byte(),))
        for hop in self.hops:
            if header.uniform:
                if hop.subnet is not None:
                    raise EncodeError("uniform hop addresses carry no subnet")
            else:
                if hop.subnet is None:
                    raise EncodeError("detailed hop addresses need a subnet")
                out.append(check_int("subnet", hop.subnet, 0, SUBNET_MAX))
            out.append(hop.node_byte())
        if self.tx_ctrl is not None:
            out.append(self.tx_ctrl.to_byte())
        self.agent.encode_into(out)
        return bytes(out)

    def to_apdu(self) -> ForeignFrame:
        return ForeignFrame(PROXY_CODE, self.encode())

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        """Decode the proxy data (after the 0x4D code)."""
        buf = to_bytes(data)
        reader = Reader(buf, 0, len(buf))
        header = ProxyHeader.from_byte(reader.u8("ProxyHeader"))
        if header.uniform_by_src and header.uniform_by_dest:
            raise DecodeError("uniform_by_src and uniform_by_dest both set", 0, "at most one uniform bit")
        hops = []
        for _ in range(header.count):
            subnet = None if header.uniform else reader.u8("hop subnet")
            node = reader.u8("hop path/node")
            hops.append(HopAddress(node & NODE_MAX, subnet, bool(node & 0x80)))
        tx_ctrl = ProxyTxCtrl.from_byte(reader.u8("ProxyTxCtrl")) if header.count else None
        agent = AgentPart.read(reader)
        return cls(
            agent,
            hops,
            tx_ctrl,
            header.uniform_by_src,
            header.uniform_by_dest,
            header.all_agents,
            header.long_timer,
        )

    @classmethod
    def from_apdu(cls, apdu: Apdu) -> Self:
        if not isinstance(apdu, ForeignFrame) or apdu.code != PROXY_CODE:
            raise DecodeError("not a proxy message", 0, f"foreign frame 0x{PROXY_CODE:02X}")
        return cls.decode(apdu.data)

    def next_hop(self, sender_subnet: int, own_subnet: int) -> tuple[SubnetNodeAddress, bool, ProxyRequest]:
        """For a repeater: the next node, its path bit, and the message to forward (first address popped,
        count decremented, TxCtrl dropped by the last repeater)."""
        if not self.hops:
            raise EncodeError("no hop left: the receiver is the agent")
        first, rest = self.hops[0], self.hops[1:]
        if first.subnet is not None:
            subnet = first.subnet
        else:
            subnet = sender_subnet if self.uniform_by_src else own_subnet
        forwarded = ProxyRequest(
            self.agent,
            list(rest),
            self.tx_ctrl if rest else None,
            self.uniform_by_src,
            self.uniform_by_dest,
            self.all_agents,
            self.long_timer,
        )
        return SubnetNodeAddress(subnet, first.node), first.path, forwarded


@dataclass(slots=True, frozen=True)
class ProxySuccess:
    """Table E.8."""

    def to_apdu(self) -> ForeignFrame:
        return ForeignFrame(PROXY_SUCCESS, b"")


@dataclass(slots=True, frozen=True)
class RepeatingFailure:
    """Table E.9 / E.10: ``count`` = the ProxyHeader count of the node that could not forward (0 = the
    agent); ``authentication`` = [design] the hop's reply to a challenge was refused."""

    count: int
    authentication: bool = False

    def to_apdu(self) -> ForeignFrame:
        data = bytes((check_int("count", self.count, 0, MAX_HOPS),))
        if self.authentication:
            data += bytes((AUTHENTICATION_FAILURE_CAUSE,))
        return ForeignFrame(PROXY_FAILURE, data)


ProxyOutcome = ProxySuccess | RepeatingFailure


def decode_outcome(apdu: Apdu) -> ProxyOutcome | None:
    """The proxy status an uplink response carries; None when it is a target's own response."""
    if not isinstance(apdu, ForeignFrame):
        return None
    if apdu.code == PROXY_SUCCESS and not apdu.data:
        return ProxySuccess()
    if apdu.code == PROXY_FAILURE and len(apdu.data) in (1, 2):
        count = apdu.data[0]
        if count > MAX_HOPS:
            raise DecodeError(f"repeating failure count {count}", 0, f"0..{MAX_HOPS}")
        if len(apdu.data) == 2 and apdu.data[1] != AUTHENTICATION_FAILURE_CAUSE:
            raise DecodeError(f"repeating failure cause 0x{apdu.data[1]:02X}", 1, "0x01 (authentication)")
        return RepeatingFailure(count, len(apdu.data) == 2)
    return None


__all__ = [
    "AUTHENTICATION_FAILURE_CAUSE",
    "MAX_PROXY_DATA",
    "PROXY_CODE",
    "PROXY_FAILURE",
    "PROXY_SUCCESS",
    "AgentMode",
    "AgentPart",
    "AlternateKey",
    "HopAddress",
    "ProxyAddressType",
    "ProxyHeader",
    "ProxyOutcome",
    "ProxyRequest",
    "ProxySuccess",
    "ProxyTarget",
    "ProxyTxCtrl",
    "RepeatingFailure",
    "decode_outcome",
]
