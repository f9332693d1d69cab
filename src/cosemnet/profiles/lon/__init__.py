"""IEC 62056-8-8 base: ISO/IEC 14908-1 (LonTalk) frames and the ISO/IEC 14908-4 CN/IP tunnel, sans-IO.

Layers, bottom up (one module each):

* :mod:`.crc` -- the frame CRC-16 (poly 0x1021, init 0xFFFF, no reflection, final XOR 0xFFFF);
* :mod:`.frames` -- :class:`LonFrame`: PPDU byte + NPDU [+ CRC];
* :mod:`.npdu` -- :class:`Npdu`: version, PDU format, addresses, domain, enclosed PDU;
* :mod:`.addresses` -- address formats 0, 1, 2a, 2b, 3;
* :mod:`.transport` -- :class:`Tpdu`, :class:`Spdu`, :class:`AuthPdu`;
* :mod:`.lon_apdu` -- APDUs: application message, foreign frame, ND, NM, network variable;
* :mod:`.netmgmt` -- NM / ND message bodies (query ID, respond to query, update domain / key, service pin);
* :mod:`.cnip` -- :class:`CnipPacket`: CN/IP header, MD5 authentication.
"""

from cosemnet.profiles.lon.addresses import (
    Address,
    AddressFormat,
    BroadcastAddress,
    GroupAddress,
    MulticastAckAddress,
    SubnetNodeAddress,
    UniqueIdAddress,
)
from cosemnet.profiles.lon.cnip import (
    CNIP_PORT,
    CNIP_URGENT_PORT,
    CnipAuthenticationError,
    CnipPacket,
    CnipPacketType,
    authentication_digest,
    decode_datagram,
)
from cosemnet.profiles.lon.crc import append_crc, check_crc, crc16
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import (
    Apdu,
    ApplicationMessage,
    ForeignFrame,
    NetworkDiagnostic,
    NetworkManagement,
    NetworkVariable,
    NvDirection,
    decode_apdu,
    encode_apdu,
)
from cosemnet.profiles.lon.npdu import Npdu, Pdu, PduFormat
from cosemnet.profiles.lon.transport import (
    AuthPdu,
    AuthPduType,
    Spdu,
    SpduType,
    Tpdu,
    TpduType,
    member_list,
    members_of,
)

__all__ = [
    "CNIP_PORT",
    "CNIP_URGENT_PORT",
    "Address",
    "AddressFormat",
    "Apdu",
    "ApplicationMessage",
    "AuthPdu",
    "AuthPduType",
    "BroadcastAddress",
    "CnipAuthenticationError",
    "CnipPacket",
    "CnipPacketType",
    "ForeignFrame",
    "GroupAddress",
    "LonFrame",
    "MulticastAckAddress",
    "NetworkDiagnostic",
    "NetworkManagement",
    "NetworkVariable",
    "Npdu",
    "NvDirection",
    "Pdu",
    "PduFormat",
    "Spdu",
    "SpduType",
    "SubnetNodeAddress",
    "Tpdu",
    "TpduType",
    "UniqueIdAddress",
    "append_crc",
    "authentication_digest",
    "check_crc",
    "crc16",
    "decode_apdu",
    "decode_datagram",
    "encode_apdu",
    "member_list",
    "members_of",
]
