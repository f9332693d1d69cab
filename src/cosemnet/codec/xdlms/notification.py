"""Unsolicited APDUs: DataNotification (tag 0x0F) and EventNotificationRequest (tag 0xC2)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import ClassVar, Final, Self

from cosemnet.codec.axdr import Buffer, decode_data, encode_data_into, encode_length
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms.common import (
    CosemAttributeDescriptor,
    Priority,
    ServiceClass,
    XdlmsApdu,
    check_header,
    read_flag,
    read_octet_string,
    read_u32,
)
from cosemnet.errors import EncodeError

__all__ = ["DataNotification", "EventNotificationRequest"]

_U32: Final = struct.Struct(">I")


def _check_time(value: object, name: str, allow_empty: bool) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview) or (len(value) == 0 and not allow_empty):
        raise EncodeError(f"{name} must be non-empty bytes (a 12-byte COSEM date-time) or None")
    return bytes(value)


@dataclass(slots=True)
class DataNotification(XdlmsApdu):
    """Data-Notification {long-invoke-id-and-priority, date-time OCTET STRING, notification-body Data}.

    Long-Invoke-Id-And-Priority (Unsigned32) is split: bits 0-23 ``invoke_id``, 24-27 ``reserved``,
    28 ``self_descriptive``, 29 ``break_on_error`` (processing-option), 30 ``service_class``,
    31 ``priority``.

    ``date_time`` is an A-XDR length-prefixed octet string where the empty string means "no time":
    ``00`` decodes to ``None``, ``0C`` + 12 bytes to those 12 bytes (use
    ``CosemDateTime.from_bytes`` to read them). An empty ``bytes`` is refused on encoding so that
    ``None`` is the only spelling of "absent".
    """

    TAG: ClassVar[int] = 0x0F

    invoke_id: int
    date_time: bytes | None
    notification_body: DataValue
    self_descriptive: bool = False
    break_on_error: bool = False
    service_class: ServiceClass = ServiceClass.UNCONFIRMED
    priority: Priority = Priority.NORMAL
    reserved: int = field(default=0, repr=False)

    @property
    def long_invoke_id_and_priority(self) -> int:
        """The Unsigned32 as sent."""
        try:
            if self.invoke_id >> 24 or self.reserved >> 4 or self.service_class >> 1 or self.priority >> 1:
                raise EncodeError(
                    f"long-invoke-id-and-priority out of range: invoke_id {self.invoke_id} (0..16777215), "
                    f"reserved {self.reserved} (0..15), service_class/priority 0..1"
                )
            return (
                self.invoke_id
                | self.reserved << 24
                | bool(self.self_descriptive) << 28
                | bool(self.break_on_error) << 29
                | self.service_class << 30
                | self.priority << 31
            )
        except TypeError:
            raise EncodeError("long-invoke-id-and-priority fields must be integers") from None

    def encode(self) -> bytes:
        out = bytearray(b"\x0f")
        out += _U32.pack(self.long_invoke_id_and_priority)
        if self.date_time is None:
            out.append(0)
        else:
            raw = _check_time(self.date_time, "date_time", False)
            encode_length(len(raw), out)
            out += raw
        encode_data_into(out, self.notification_body)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0x0F, None, "data-notification")
        value = read_u32(data, offset + 1, "long-invoke-id-and-priority")
        raw, pos = read_octet_string(data, offset + 5, "date-time")
        body, pos = decode_data(data, pos)
        return (
            cls(
                value & 0xFFFFFF,
                raw or None,
                body,
                bool(value >> 28 & 1),
                bool(value >> 29 & 1),
                ServiceClass(value >> 30 & 1),
                Priority(value >> 31),
                value >> 24 & 0x0F,
            ),
            pos,
        )


@dataclass(slots=True)
class EventNotificationRequest(XdlmsApdu):
    """EVENT-NOTIFICATION-Request {time OCTET STRING OPTIONAL, cosem-attribute-descriptor,
    attribute-value Data} (tag 0xC2).

    ``time`` is encoded as an A-XDR OPTIONAL of a length-prefixed octet string: ``00`` absent,
    ``01 0C`` + 12 bytes present. Design choice from the project brief (older Green Book editions
    declare ``Cosem-Date-Time`` = OCTET STRING (SIZE(12)), which would drop the length byte; gurux-dlms
    writes ``09 0C`` + 12 bytes, i.e. a usage flag of 0x09, which this decoder rejects). Present but
    empty (``01 00``) decodes to ``b""``.
    """

    TAG: ClassVar[int] = 0xC2

    time: bytes | None
    cosem_attribute_descriptor: CosemAttributeDescriptor
    attribute_value: DataValue

    def encode(self) -> bytes:
        out = bytearray(b"\xc2")
        if self.time is None:
            out.append(0)
        else:
            raw = _check_time(self.time, "time", True)
            out.append(1)
            encode_length(len(raw), out)
            out += raw
        self.cosem_attribute_descriptor.encode_into(out)
        encode_data_into(out, self.attribute_value)
        return bytes(out)

    @classmethod
    def decode_from(cls, data: Buffer, offset: int = 0) -> tuple[Self, int]:
        check_header(data, offset, 0xC2, None, "event-notification-request")
        time: bytes | None = None
        if read_flag(data, offset + 1, "the time usage flag"):
            time, pos = read_octet_string(data, offset + 2, "time")
        else:
            pos = offset + 2
        descriptor, pos = CosemAttributeDescriptor.decode_from(data, pos)
        value, pos = decode_data(data, pos)
        return cls(time, descriptor, value), pos
