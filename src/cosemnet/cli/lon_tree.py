"""The layers of an IEC 62056-8-8 message in the ``cosemnet decode`` tree.

A CN/IP packet shows its 14908-1 frame in place of its payload; the frame shows its NPDU (addresses,
domain), its TPDU / SPDU / AuthPDU and APDU; an application message with the ADP code shows its ADP
PDU, and an unsegmented ADP DATA PDU its DLMS APDU (the generic APDU tree of :mod:`.tree`).
"""

from __future__ import annotations

from rich.markup import escape

from cosemnet.cli.messages import LonMessage
from cosemnet.errors import CosemnetError
from cosemnet.profiles.lon.adp import ADP_MESSAGE_CODE, AdpAbort, AdpData, AdpSegmentAck, Segmentation
from cosemnet.profiles.lon.cnip import CnipPacket, CnipPacketType
from cosemnet.profiles.lon.crc import crc16
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage, ForeignFrame
from cosemnet.profiles.lon.npdu import Npdu
from cosemnet.profiles.lon.proxy import (
    PROXY_CODE,
    PROXY_FAILURE,
    ProxyRequest,
    RepeatingFailure,
    decode_outcome,
)
from cosemnet.profiles.lon.sap import client_sap_info
from cosemnet.profiles.lon.transport import AuthPdu, AuthPduType, Spdu, Tpdu

_ADDRESS_FORMATS = {0: "broadcast", 1: "group", 2: "subnet/node", 3: "unique ID"}


def _auth_label(pdu: AuthPdu) -> str:
    """ISO/IEC 14908-1 authentication: challenge or reply, standard (the destination address omitted from
    the reply computation) or OMA (included), and the address format of the message it authenticates."""
    kind = "CHALLENGE" if pdu.auth_pdu_type in (AuthPduType.CHALLENGE, AuthPduType.CHALLENGE_OMA) else "REPLY"
    oma = pdu.auth_pdu_type in (AuthPduType.CHALLENGE_OMA, AuthPduType.REPLY_OMA)
    variant = "OMA, address included" if oma else "standard, address omitted"
    about = _ADDRESS_FORMATS[int(pdu.address_format)]
    return f"AuthPDU {kind} ({variant}) for a {about} message, transaction {pdu.transaction_number}"


def _proxy_layer(frame: ForeignFrame) -> object | None:
    """The Annex E layer of a foreign frame: a proxy message (0x4D) or a repeating failure (0x4C)."""
    try:
        if frame.code == PROXY_CODE:
            return ProxyRequest.decode(frame.data)
        return decode_outcome(frame)
    except (CosemnetError, ValueError):
        return None


def _proxy_label(request: ProxyRequest) -> str:
    header = request.header
    parts = [f"IEC 62056-8-8 Annex E proxy message, {header.count} hop address(es) left"]
    if header.count:
        parts.append(
            "uniform by source"
            if header.uniform_by_src
            else "uniform by destination"
            if header.uniform_by_dest
            else "detailed"
        )
    if header.all_agents:
        parts.append("all agents")
    if header.long_timer:
        parts.append("long timers")
    agent = request.agent
    parts.append(f"target type {int(agent.target.address_type)} {agent.target.address_type.name}")
    parts.append(f"{agent.service.name} {agent.mode.name}")
    return ", ".join(parts)


class LonTreeExtension:
    """A :class:`cosemnet.cli.tree.TreeExtension` for one :class:`LonMessage`."""

    __slots__ = ("message",)

    def __init__(self, message: LonMessage) -> None:
        self.message = message

    def label(self, obj: object) -> str | None:
        """The tree label of a LON object (CN/IP packet, frame, ADP PDU), or None for others."""
        try:
            if isinstance(obj, CnipPacket):
                return self._cnip_label(obj)
            if isinstance(obj, LonFrame):
                return self._frame_label(obj)
            if isinstance(obj, Npdu):
                domain = f"domain {obj.domain_id.hex().upper()}" if obj.domain_id else "zero-length domain"
                return (
                    f"NPDU version {obj.version}, {obj.pdu_format.name}, address format "
                    f"{int(obj.address_format)} {_ADDRESS_FORMATS[int(obj.address_format)]}, {domain}"
                )
            if isinstance(obj, Tpdu):
                auth = ", authentication requested" if obj.auth else ""
                return f"TPDU {obj.tpdu_type.name}, transaction {obj.transaction_number}{auth}"
            if isinstance(obj, Spdu):
                auth = ", authentication requested" if obj.auth else ""
                return f"SPDU {obj.spdu_type.name}, transaction {obj.transaction_number}{auth}"
            if isinstance(obj, AuthPdu):
                return _auth_label(obj)
            if isinstance(obj, AdpData | AdpSegmentAck | AdpAbort):
                return self._adp_label(obj)
            if isinstance(obj, ProxyRequest):
                return _proxy_label(obj)
            if isinstance(obj, RepeatingFailure):
                cause = ", authentication failure" if obj.authentication else ""
                return f"IEC 62056-8-8 Annex E repeating failure at the node with count {obj.count}{cause}"
        except (CosemnetError, ValueError, KeyError):
            return None
        return None

    def _cnip_label(self, packet: CnipPacket) -> str:
        try:
            kind = CnipPacketType(packet.packet_type).name
        except ValueError:
            kind = f"type 0x{packet.packet_type:02X}"
        return f"ISO/IEC 14908-4 CN/IP {kind} packet, {len(packet.encode())} bytes"

    def _frame_label(self, frame: LonFrame) -> str:
        body = frame.encode(crc=False)
        if self.message.crc:
            return f"ISO/IEC 14908-1 frame, {len(body) + 2} bytes, CRC-16 0x{crc16(body):04X} ok"
        return f"ISO/IEC 14908-1 frame, {len(body)} bytes, no CRC"

    @staticmethod
    def _adp_label(pdu: AdpData | AdpSegmentAck | AdpAbort) -> str:
        parts = [f"IEC 62056-8-8 ADP {pdu.KIND.name}"]
        if isinstance(pdu, AdpData):
            parts[0] += "" if pdu.segmentation == Segmentation.UNSEGMENTED else f" {pdu.segmentation.name}"
        parts.append(f"{len(pdu.encode())} bytes")
        parts.append("client → server" if pdu.direction == 0 else "server → client")
        if pdu.security_suite_id is not None:
            parts.append(f"protected, suite {pdu.security_suite_id}")
        return ", ".join(parts)

    def expand(self, owner: object, name: str, value: object) -> object | None:
        """What a field expands to in the tree (a packet's payload decoded), or None."""
        message = self.message
        if isinstance(owner, CnipPacket) and name == "payload" and message.frame is not None:
            return message.frame
        if isinstance(owner, LonFrame) and name == "npdu":
            return value
        if isinstance(owner, Npdu) and name == "pdu" and isinstance(value, Tpdu | Spdu | AuthPdu):
            return value
        if isinstance(owner, ForeignFrame) and name == "data" and value:
            return _proxy_layer(owner)
        if owner is message.application_message and name == "data" and message.adp is not None:
            return message.adp
        if owner is message.adp and name == "payload" and message.dlms is not None:
            return message.dlms
        return None

    def note(self, owner: object, name: str, value: object) -> str | None:
        """A short note beside a field (what a code means), or None."""
        message = self.message
        if isinstance(owner, ApplicationMessage) and name == "code" and isinstance(value, int):
            what = "ADP PDU" if value == ADP_MESSAGE_CODE else "application message"
            return f"{value} [dim](0x{value:02X}, {what})[/]"
        if isinstance(owner, ForeignFrame) and name == "code" and value in (PROXY_CODE, PROXY_FAILURE):
            what = "repeating failure" if value == PROXY_FAILURE else "proxy message"
            if value == PROXY_CODE and not owner.data:
                what = "proxy success / uplink poll"
            return f"{value} [dim](0x{value:02X}, Annex E {what})[/]"
        if isinstance(owner, CnipPacket) and name == "packet_type" and isinstance(value, int):
            try:
                return f"{value} [dim](0x{value:02X} {CnipPacketType(value).name})[/]"
            except ValueError:
                return None
        if name == "client_sap" and isinstance(owner, AdpData | AdpSegmentAck | AdpAbort):
            info = client_sap_info(owner.client_sap)
            extra = f", {escape(info.name)}" if info else ""
            return f"{owner.client_sap} [dim](0x{owner.client_sap:02X}{extra})[/]"
        if isinstance(value, bytes):
            reason = None
            if owner is message.application_message and name == "data":
                reason = message.adp_note
            elif owner is message.adp and name == "payload":
                reason = message.dlms_note
            if reason is not None:
                shown = value[:48].hex().upper() + ("…" if len(value) > 48 else "")
                return f"{shown} [dim]({len(value)} bytes: {escape(reason)})[/]"
        return None


__all__ = ["LonTreeExtension"]
