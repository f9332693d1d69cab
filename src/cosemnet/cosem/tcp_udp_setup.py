"""TCP-UDP setup (class_id 41, version 0): the wrapper port and TCP parameters.

Attributes: 2 TCP-UDP_port long-unsigned (4059 by default), 3 IP_reference octet-string (logical name
of the IPv4/IPv6 setup object), 4 MSS long-unsigned (40..65535), 5 nb_of_sim_conn unsigned,
6 inactivity_time_out long-unsigned (seconds, 0 = none). No methods.
"""

from __future__ import annotations

from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, LongUnsigned, Unsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, SelectiveAccess
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import type_unmatched
from cosemnet.cosem.values import as_int, as_octet_string

DLMS_PORT = 4059


class TcpUdpSetup(InterfaceClass):
    """TCP-UDP setup."""

    CLASS_ID: ClassVar[int] = 41
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "TCP-UDP_port", True, 0x08),
        AttributeDef(3, "IP_reference", True, 0x10),
        AttributeDef(4, "MSS", True, 0x18),
        AttributeDef(5, "nb_of_sim_conn", True, 0x20),
        AttributeDef(6, "inactivity_time_out", True, 0x28),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = "0-0:25.0.0*255",
        port: int = DLMS_PORT,
        ip_reference: bytes = bytes((0, 0, 25, 7, 0, 255)),
        mss: int = 576,
        nb_of_sim_conn: int = 1,
        inactivity_time_out: int = 180,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.port = port
        self.ip_reference = ip_reference
        self.mss = mss
        self.nb_of_sim_conn = nb_of_sim_conn
        self.inactivity_time_out = inactivity_time_out

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return LongUnsigned(self.port)
        if index == 3:
            return self.ip_reference
        if index == 4:
            return LongUnsigned(self.mss)
        if index == 5:
            return Unsigned(self.nb_of_sim_conn)
        return LongUnsigned(self.inactivity_time_out)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            self.port = as_int(value, LongUnsigned, "TCP-UDP_port")
        elif index == 3:
            self.ip_reference = as_octet_string(value, 6, "IP_reference")
        elif index == 4:
            mss = as_int(value, LongUnsigned, "MSS")
            if mss < 40:
                raise type_unmatched("MSS must be 40..65535")
            self.mss = mss
        elif index == 5:
            self.nb_of_sim_conn = as_int(value, Unsigned, "nb_of_sim_conn")
        else:
            self.inactivity_time_out = as_int(value, LongUnsigned, "inactivity_time_out")


__all__ = ["DLMS_PORT", "TcpUdpSetup"]
