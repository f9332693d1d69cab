"""ISO/IEC 14908-1 NPDU: network-layer header, addresses, domain and the enclosed PDU.

NPDU header byte (Wireshark ``packet-lon.c``: ``lon.vers`` 0xC0, ``lon.pdufmt`` 0x30, ``lon.addrfmt``
0x0C, ``lon.domainlen`` 0x03; izot/lon-stack-dx ``lcs_network.c`` ``NPDU``; facts only)::

    version(2) | PDU format(2) | address format(2) | domain length code(2)

then the address (:mod:`cosemnet.profiles.lon.addresses`), the domain ID (0, 1, 3 or 6 bytes) and the
enclosed PDU, which extends to the end of the NPDU: TPDU (format 0), SPDU (1), AuthPDU (2) or APDU (3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final, Self

from cosemnet.errors import EncodeError
from cosemnet.profiles.lon._codec import Buffer, Reader, check_bytes, check_int, to_bytes
from cosemnet.profiles.lon.addresses import (
    DOMAIN_LENGTHS,
    Address,
    AddressFormat,
    domain_length_code,
    encode_address_into,
    read_address,
)
from cosemnet.profiles.lon.lon_apdu import APDU_TYPES, Apdu, read_apdu
from cosemnet.profiles.lon.transport import AuthPdu, Spdu, Tpdu

ENHANCED_VERSION: Final = 2
"""NPDU version of lon-stack-dx's "enhanced mode" (12-bit transaction numbers)."""


class PduFormat(IntEnum):
    """NPDU PDU format (bits 0x30 of the NPDU header byte)."""

    TPDU = 0
    SPDU = 1
    AUTHPDU = 2
    APDU = 3


Pdu = Tpdu | Spdu | AuthPdu | Apdu
"""What an NPDU encloses."""


def pdu_format_of(pdu: Pdu) -> PduFormat:
    if isinstance(pdu, Tpdu):
        return PduFormat.TPDU
    if isinstance(pdu, Spdu):
        return PduFormat.SPDU
    if isinstance(pdu, AuthPdu):
        return PduFormat.AUTHPDU
    if isinstance(pdu, APDU_TYPES):
        return PduFormat.APDU
    raise EncodeError(f"not a 14908-1 PDU: {type(pdu).__name__}")


@dataclass(slots=True)
class Npdu:
    """A network-layer PDU.

    ``source_node`` is 0..127; ``domain_id`` is 0, 1, 3 or 6 bytes; ``version`` is the 2-bit protocol
    version (0 for ISO/IEC 14908-1; 2 selects 12-bit transaction numbers, see
    :mod:`cosemnet.profiles.lon.transport`).
    """

    source_subnet: int
    source_node: int
    destination: Address
    pdu: Pdu
    domain_id: bytes = b""
    version: int = 0

    @property
    def pdu_format(self) -> PduFormat:
        return pdu_format_of(self.pdu)

    @property
    def address_format(self) -> AddressFormat:
        return self.destination.FORMAT

    @property
    def enhanced(self) -> bool:
        """True when transaction numbers are 12 bits (version 2)."""
        return self.version == ENHANCED_VERSION

    def encode_into(self, out: bytearray) -> None:
        version = check_int("version", self.version, 0, 3)
        pdu_format = pdu_format_of(self.pdu)
        domain_id = check_bytes("domain_id", self.domain_id)
        domain_code = domain_length_code(domain_id)
        address_format = getattr(self.destination, "FORMAT", None)
        if not isinstance(address_format, AddressFormat):
            raise EncodeError(f"not an NPDU address: {type(self.destination).__name__}")
        out.append(version << 6 | pdu_format << 4 | address_format << 2 | domain_code)
        encode_address_into(out, self.destination, self.source_subnet, self.source_node)
        out += domain_id
        pdu = self.pdu
        if isinstance(pdu, Tpdu | Spdu | AuthPdu):
            pdu.encode_into(out, enhanced=version == ENHANCED_VERSION)
        else:
            out += pdu.encode()

    def encode(self) -> bytes:
        out = bytearray()
        self.encode_into(out)
        return bytes(out)

    @classmethod
    def read(cls, reader: Reader) -> Self:
        """Read the NPDU filling the rest of ``reader`` (offsets stay absolute in the outer buffer)."""
        header = reader.u8("NPDU header")
        version = header >> 6
        pdu_format = header >> 4 & 0x03
        source_subnet, source_node, destination = read_address(reader, header >> 2 & 0x03)
        domain_id = reader.take(DOMAIN_LENGTHS[header & 0x03], "domain ID")
        enhanced = version == ENHANCED_VERSION
        pdu: Pdu
        if pdu_format == PduFormat.TPDU:
            pdu = Tpdu.read(reader, enhanced=enhanced)
        elif pdu_format == PduFormat.SPDU:
            pdu = Spdu.read(reader, enhanced=enhanced)
        elif pdu_format == PduFormat.AUTHPDU:
            pdu = AuthPdu.read(reader, enhanced=enhanced)
        else:
            pdu = read_apdu(reader)
        return cls(source_subnet, source_node, destination, pdu, domain_id, version)

    @classmethod
    def decode(cls, data: Buffer) -> Self:
        buf = to_bytes(data)
        return cls.read(Reader(buf, 0, len(buf)))
