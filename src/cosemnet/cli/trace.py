"""Trace lines for ``--trace``: one line per frame sent or received, decoded (and decrypted) by the codec.

A line is ``TIME DIR PEER HEX  SUMMARY``::

    2026-03-01T10:00:00.125Z -> 127.0.0.1:4059 000100100001000DC001C1...(21 bytes)  wrapper 16->1
        GetRequestNormal #1 3/1-0:1.8.0*255/2
    2026-03-01T10:00:00.131Z <- 127.0.0.1:4059 0001000100100007C401C100090102  wrapper 1->16
        GetResponseNormal #1 data

(each on one line).

TIME is ISO 8601 UTC with milliseconds, DIR ``->`` (sent) or ``<-`` (received), PEER the other end, HEX
the frame (cut after ``hex_limit`` bytes with ``...`` and the length), SUMMARY what
:func:`cosemnet.cli.messages.inspect` decodes: wrapper ports, the APDU's class name, invoke-id, the
class/OBIS/attribute of a request, the result of a response; a ciphered APDU shows its invocation
counter and, with keys, `` => `` and the summary of the plaintext. LON frames show the 14908-1 source and
destination, the ADP PDU and the DLMS APDU it carries. :class:`TraceWriter` is a
:class:`~cosemnet.trace.FrameObserver` writing these lines to stderr.
"""

from __future__ import annotations

import datetime
import sys
from enum import Enum
from typing import TextIO

from cosemnet.cli.messages import CIPHERED_TYPES, DecodedMessage, Keys, LonMessage, inspect
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.errors import CosemnetError, DecodeError
from cosemnet.profiles.lon.addresses import (
    BroadcastAddress,
    GroupAddress,
    MulticastAckAddress,
    SubnetNodeAddress,
    UniqueIdAddress,
)
from cosemnet.trace import Address, Direction, FrameRecord, Transport
from cosemnet.trace.pcap import cnip_data_packet

ARROWS = {Direction.SENT: "->", Direction.RECEIVED: "<-"}


def format_time(time: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``."""
    moment = datetime.datetime.fromtimestamp(time, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_peer(peer: Address) -> str:
    host, port = peer
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_hex(data: bytes, limit: int | None) -> str:
    if limit is None or len(data) <= limit:
        return data.hex().upper()
    return f"{data[:limit].hex().upper()}...({len(data)} bytes)"


def _descriptor(obj: object) -> str | None:
    descriptor = getattr(obj, "cosem_attribute_descriptor", None)
    member = "attribute_id"
    if descriptor is None:
        descriptor = getattr(obj, "cosem_method_descriptor", None)
        member = "method_id"
    if descriptor is None:
        return None
    return f"{descriptor.class_id}/{descriptor.instance_id}/{getattr(descriptor, member)}"


def _result(obj: object) -> str | None:
    if not hasattr(obj, "result"):
        return None
    result = obj.result
    if isinstance(result, Enum):
        return result.name.lower()
    if isinstance(result, list):
        return f"{len(result)} results"
    block = getattr(result, "block_number", None)
    if block is not None:
        return f"block {block}" + (" last" if getattr(result, "last_block", False) else "")
    return "data"


def summarize_apdu(apdu: object, decoded: DecodedMessage | None = None) -> str:
    """``GetRequestNormal #1 3/1-0:1.8.0*255/2``: class name, invoke-id, what it addresses or returns."""
    parts = [type(apdu).__name__]
    invoke_id = getattr(apdu, "invoke_id", None)
    if isinstance(invoke_id, int):
        parts.append(f"#{invoke_id}")
    descriptor = _descriptor(apdu)
    if descriptor is not None:
        parts.append(descriptor)
    elif (block := getattr(apdu, "block_number", None)) is not None:
        parts.append(f"block {block}")
    else:
        result = _result(apdu)
        if result is not None:
            parts.append(result)
    if isinstance(apdu, CIPHERED_TYPES):
        parts.append(_ciphered(apdu, decoded))
    return " ".join(p for p in parts if p)


def _ciphered(apdu: object, decoded: DecodedMessage | None) -> str:
    content = getattr(apdu, "ciphered_content", b"")
    text = (
        f"IC={int.from_bytes(content[1:5], 'big')}"
        if isinstance(content, bytes) and len(content) >= 5
        else ""
    )
    decryption = decoded.decryption_for(apdu) if decoded is not None else None
    if decryption is None:
        return text
    if decryption.apdu is not None:
        return f"{text} => {summarize_apdu(decryption.apdu, decoded)}"
    return f"{text} => not decrypted: {decryption.error}"


def _lon_destination(address: object) -> str:
    if isinstance(address, SubnetNodeAddress):
        return f"{address.destination_subnet}/{address.destination_node}"
    if isinstance(address, MulticastAckAddress):
        return f"{address.destination_subnet}/{address.destination_node} (group {address.group:#04x})"
    if isinstance(address, GroupAddress):
        return f"group {address.group:#04x}"
    if isinstance(address, BroadcastAddress):
        return f"broadcast subnet {address.destination_subnet}" if address.destination_subnet else "broadcast"
    if isinstance(address, UniqueIdAddress):
        return f"unique id {address.unique_id.hex().upper()}"
    return str(address)


def _summarize_lon(message: LonMessage, decoded: DecodedMessage) -> str:
    parts: list[str] = []
    if message.frame is not None:
        npdu = message.frame.npdu
        parts.append(f"LON {npdu.source_subnet}/{npdu.source_node} -> {_lon_destination(npdu.destination)}")
    elif message.cnip is not None:
        parts.append(f"CN/IP packet type {message.cnip.packet_type:#04x}")
    if message.adp is not None:
        adp = message.adp
        parts.append(f"ADP {type(adp).__name__} {adp.client_sap:#04x}/{adp.server_sap:#04x}")
    elif message.adp_note:
        parts.append(message.adp_note)
    if message.dlms is not None:
        parts.append(summarize_apdu(message.dlms, decoded))
    elif message.dlms_note:
        parts.append(message.dlms_note)
    return " ".join(parts)


def summarize(data: bytes, keys: Keys | None = None, profile: str = "auto") -> str:
    """The one-line summary of one frame (never raises for bad input: it says what did not decode)."""
    try:
        decoded = inspect(data, keys, profile)
    except DecodeError as exc:
        return f"undecodable: {exc.reason} at offset {exc.offset}"
    except CosemnetError as exc:
        return f"undecodable: {exc}"
    message = decoded.message
    if isinstance(message, LonMessage):
        return _summarize_lon(message, decoded)
    if isinstance(message, WrapperFrame):
        try:
            inner = decode_apdu(message.apdu)
        except CosemnetError:
            return f"wrapper {message.source_wport}->{message.destination_wport} undecodable APDU"
        return f"wrapper {message.source_wport}->{message.destination_wport} {summarize_apdu(inner, decoded)}"
    return summarize_apdu(message, decoded)


class TraceFormatter:
    """Formats :class:`~cosemnet.trace.FrameRecord` s as trace lines (keys used only to decrypt)."""

    def __init__(self, keys: Keys | None = None, hex_limit: int | None = 64) -> None:
        self.keys = keys
        self.hex_limit = hex_limit

    def line(self, record: FrameRecord) -> str:
        return (
            f"{format_time(record.time)} {ARROWS[record.direction]} {format_peer(record.peer)} "
            f"{format_hex(record.data, self.hex_limit)}  {self.summary(record)}"
        )

    def summary(self, record: FrameRecord) -> str:
        if record.transport is Transport.LON:
            # a 14908-1 frame without CRC: decoded (and decrypted) as the payload of a CN/IP data packet
            return summarize(cnip_data_packet(record.data), self.keys, "cnip")
        if record.transport is Transport.CNIP:
            return summarize(record.data, self.keys, "cnip")
        return summarize(record.data, self.keys, "dlms")


class TraceWriter:
    """A :class:`~cosemnet.trace.FrameObserver` printing one trace line per frame (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, formatter: TraceFormatter | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.formatter = formatter or TraceFormatter()

    def frame(self, record: FrameRecord) -> None:
        self.stream.write(self.formatter.line(record) + "\n")
        self.stream.flush()


__all__ = [
    "TraceFormatter",
    "TraceWriter",
    "format_hex",
    "format_peer",
    "format_time",
    "summarize",
    "summarize_apdu",
]
