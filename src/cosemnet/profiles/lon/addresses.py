"""ISO/IEC 14908-1 NPDU addresses (address formats 0, 1, 2a, 2b, 3) and domain identifiers.

Layout after the NPDU header byte (sources: Wireshark ``packet-lon.c`` ``dissect_lon``, izot/lon-stack-dx
``lcs/lcs_network.c`` ``NetworkLayerSend`` / ``NetworkLayerReceive``; facts only):

=========  ======================================================================================
format     bytes
=========  ======================================================================================
0          source subnet, [sel | source node], destination subnet (0 = domain-wide broadcast)
1          source subnet, [sel | source node], destination group
2a         source subnet, [1 | source node], destination subnet, [sel | destination node]
2b         source subnet, [0 | source node], destination subnet, [sel | destination node], group,
           group member
3          source subnet, [sel | source node], destination subnet, unique node ID (Neuron ID, 6 bytes)
=========  ======================================================================================

The top bit of the source node byte ("selector field" in lon-stack-dx) tells 2a (1) from 2b (0) in
address format 2 (Wireshark: ``addr_a = byte >> 7``, 1 = 2a). lon-stack-dx also sets it to 1 for
formats 0, 1 and 3 and sets the top bit of the destination node byte to 1 in 2a and 2b; ISO/IEC 14908-1
figures (as quoted in public notes) show the same fixed 1 bits. Those bits carry no information there,
so the address classes keep them (``source_selector_bit`` / ``destination_selector_bit``, default
``True``) only so that ``decode(b).encode() == b`` for any input [design].

Domain IDs are 0, 1, 3 or 6 bytes, coded in the NPDU header as 0, 1, 2, 3 (Wireshark
``domain_length_vs``; lon-stack-dx ``DecodeDomainLength``). The domain ID follows the address.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final

from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon._codec import NODE_MAX, SUBNET_MAX, Reader, check_bytes, check_int

UNIQUE_ID_LENGTH: Final = 6
"""Length of a unique node ID (Neuron ID)."""

DOMAIN_LENGTHS: Final = (0, 1, 3, 6)
"""Domain ID length for each 2-bit domain length code (index = code)."""


class AddressFormat(IntEnum):
    """NPDU address format (bits 0x0C of the NPDU header byte)."""

    BROADCAST = 0
    GROUP = 1
    SUBNET_NODE = 2
    UNIQUE_ID = 3


def domain_length_code(domain_id: bytes) -> int:
    """The 2-bit NPDU code for a domain ID; :class:`EncodeError` for other lengths."""
    try:
        return DOMAIN_LENGTHS.index(len(domain_id))
    except ValueError:
        raise EncodeError(f"domain ID must be 0, 1, 3 or 6 bytes long, got {len(domain_id)}") from None


@dataclass(slots=True)
class BroadcastAddress:
    """Address format 0: broadcast to one subnet, or to the whole domain when ``destination_subnet`` is 0."""

    destination_subnet: int = 0
    source_selector_bit: bool = True

    FORMAT: ClassVar[AddressFormat] = AddressFormat.BROADCAST

    def encode_into(self, out: bytearray, source_subnet: int, source_node: int) -> None:
        out.append(source_subnet)
        out.append(_sel(self.source_selector_bit) | source_node)
        out.append(check_int("destination_subnet", self.destination_subnet, 0, SUBNET_MAX))


@dataclass(slots=True)
class GroupAddress:
    """Address format 1: multicast to a group (0..255)."""

    group: int
    source_selector_bit: bool = True

    FORMAT: ClassVar[AddressFormat] = AddressFormat.GROUP

    def encode_into(self, out: bytearray, source_subnet: int, source_node: int) -> None:
        out.append(source_subnet)
        out.append(_sel(self.source_selector_bit) | source_node)
        out.append(check_int("group", self.group, 0, 255))


@dataclass(slots=True)
class SubnetNodeAddress:
    """Address format 2a: unicast to a subnet/node (node 0..127)."""

    destination_subnet: int
    destination_node: int
    destination_selector_bit: bool = True

    FORMAT: ClassVar[AddressFormat] = AddressFormat.SUBNET_NODE

    def encode_into(self, out: bytearray, source_subnet: int, source_node: int) -> None:
        out.append(source_subnet)
        out.append(0x80 | source_node)
        out.append(check_int("destination_subnet", self.destination_subnet, 0, SUBNET_MAX))
        node = check_int("destination_node", self.destination_node, 0, NODE_MAX)
        out.append(_sel(self.destination_selector_bit) | node)


@dataclass(slots=True)
class MulticastAckAddress:
    """Address format 2b: an acknowledgement or response to a group message, sent by group ``member``
    of ``group`` to the subnet/node that sent the group message."""

    destination_subnet: int
    destination_node: int
    group: int
    member: int
    destination_selector_bit: bool = True

    FORMAT: ClassVar[AddressFormat] = AddressFormat.SUBNET_NODE

    def encode_into(self, out: bytearray, source_subnet: int, source_node: int) -> None:
        out.append(source_subnet)
        out.append(source_node)  # top bit 0 marks 2b
        out.append(check_int("destination_subnet", self.destination_subnet, 0, SUBNET_MAX))
        node = check_int("destination_node", self.destination_node, 0, NODE_MAX)
        out.append(_sel(self.destination_selector_bit) | node)
        out.append(check_int("group", self.group, 0, 255))
        out.append(check_int("member", self.member, 0, 255))


@dataclass(slots=True)
class UniqueIdAddress:
    """Address format 3: unicast to a unique node ID (Neuron ID); ``destination_subnet`` is used for
    routing only (0 = all subnets)."""

    destination_subnet: int
    unique_id: bytes
    source_selector_bit: bool = True

    FORMAT: ClassVar[AddressFormat] = AddressFormat.UNIQUE_ID

    def encode_into(self, out: bytearray, source_subnet: int, source_node: int) -> None:
        out.append(source_subnet)
        out.append(_sel(self.source_selector_bit) | source_node)
        out.append(check_int("destination_subnet", self.destination_subnet, 0, SUBNET_MAX))
        out += check_bytes("unique_id", self.unique_id, UNIQUE_ID_LENGTH)


Address = BroadcastAddress | GroupAddress | SubnetNodeAddress | MulticastAckAddress | UniqueIdAddress
"""The destination part of an NPDU."""


def _sel(bit: bool) -> int:
    return 0x80 if bit else 0


def encode_address_into(out: bytearray, address: Address, source_subnet: int, source_node: int) -> None:
    """Append source subnet/node and the destination address."""
    check_int("source_subnet", source_subnet, 0, SUBNET_MAX)
    check_int("source_node", source_node, 0, NODE_MAX)
    if not isinstance(
        address, BroadcastAddress | GroupAddress | SubnetNodeAddress | MulticastAckAddress | UniqueIdAddress
    ):
        raise EncodeError(f"not an NPDU address: {type(address).__name__}")
    address.encode_into(out, source_subnet, source_node)


def read_address(reader: Reader, address_format: int) -> tuple[int, int, Address]:
    """Read ``(source_subnet, source_node, destination)`` for an address format (0..3)."""
    source_subnet = reader.u8("source subnet")
    node_byte = reader.u8("source node")
    source_node = node_byte & NODE_MAX
    sel = bool(node_byte & 0x80)
    address: Address
    if address_format == AddressFormat.BROADCAST:
        address = BroadcastAddress(reader.u8("destination subnet"), sel)
    elif address_format == AddressFormat.GROUP:
        address = GroupAddress(reader.u8("destination group"), sel)
    elif address_format == AddressFormat.SUBNET_NODE:
        subnet = reader.u8("destination subnet")
        dst = reader.u8("destination node")
        if sel:
            address = SubnetNodeAddress(subnet, dst & NODE_MAX, bool(dst & 0x80))
        else:
            group = reader.u8("group")
            member = reader.u8("group member")
            address = MulticastAckAddress(subnet, dst & NODE_MAX, group, member, bool(dst & 0x80))
    elif address_format == AddressFormat.UNIQUE_ID:
        subnet = reader.u8("destination subnet")
        address = UniqueIdAddress(subnet, reader.take(UNIQUE_ID_LENGTH, "unique node ID"), sel)
    else:  # pragma: no cover - callers pass a 2-bit value
        raise DecodeError(f"address format {address_format}", reader.pos, "address format 0..3")
    return source_subnet, source_node, address
