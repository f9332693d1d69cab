"""A simulated OSGP meter: ANSI C12.19 tables as Utility tables objects beside the COSEM objects.

IEC 62056-8-8 Annex C (migration path): an OSGP meter keeps its ANSI C12.19 standard tables and serves
each one as a Utility tables object (class 26, logical name 0-0:65.0.nn*255, base_name per Table C.3,
:mod:`cosemnet.profiles.lon.short_names`), read by short name through an Association SN. This module
builds such a meter on :func:`cosemnet.simulator.build_meter`: the tables are computed at each read
from the very COSEM objects the meter serves by logical name, so both ways of reading agree at the
same simulated time (BT23 holds the raw values of the energy registers 1-0:1.8.0 ..., BT28 those of
the instantaneous registers, BT52 the clock, BT64 the load profile 1-0:99.1.0).

Table layouts [design where C12.19 detail is not public; decision 0015]. Every table follows the
C12.19 element order as publicly documented, with the options this meter selects fixed in BT00:
little-endian data (DATA_ORDER 0), ISO 7-bit characters, TM_FORMAT 2 (UINT8 year-2000, month, day,
hour, minute, second), NI_FORMAT1 = NI_FORMAT2 = INT32 (signed, little-endian), no tiers, no
coincident values, no self reads, no demand reset counter, no date/time fields in register data.

* BT00 General Configuration (39 bytes): FORMAT_CONTROL_1..3 (3), DEVICE_CLASS (4), NAMEPLATE_TYPE,
  DEFAULT_SET_USED, MAX_PROC_PARM_LENGTH, MAX_RESP_DATA_LEN, STD_VERSION_NO, STD_REVISION_NO,
  DIM_STD_TBLS_USED (10), DIM_MFG_TBLS_USED, DIM_STD_PROC_USED, DIM_MFG_PROC_USED,
  DIM_MFG_STATUS_USED, NBR_PENDING (1 each), STD_TBLS_USED (10-byte bitmap, bit n%8 of byte n//8 =
  table n present), STD_TBLS_WRITE (10 bytes, all zero: no table is writable).
* BT01 General Manufacturer Identification (32 bytes): MANUFACTURER char(4), ED_MODEL char(8),
  HW_VERSION_NUMBER, HW_REVISION_NUMBER, FW_VERSION_NUMBER, FW_REVISION_NUMBER (1 each),
  MFG_SERIAL_NUMBER char(16).
* BT05 Device Identification (20 bytes): IDENTIFICATION char(20), the COSEM logical device name.
* BT21 Actual Register (10 bytes): REG_FUNC1_BFLD, REG_FUNC2_BFLD, NBR_SELF_READS, NBR_SUMMATIONS,
  NBR_DEMANDS, NBR_COIN_VALUES, NBR_OCCUR, NBR_TIERS, NBR_PRESENT_DEMANDS, NBR_PRESENT_VALUES.
* BT22 Data Selection: SUMMATION_SELECT u8[NBR_SUMMATIONS], DEMAND_SELECT u8[NBR_DEMANDS],
  MIN_OR_MAX_FLAGS ((NBR_DEMANDS + 7) // 8 bytes, 0 = not a maximum). Source ids: the meter's
  registers in profile order (energy and instantaneous), then its demand registers
  (:attr:`OsgpMeter.sources`; C12.19 would define them in BT16, not served here).
* BT23 Current Register Data: SUMMATIONS INT32[NBR_SUMMATIONS], then per demand DEMAND INT32[NBR_OCCUR]
  (NBR_OCCUR 1: the current average value of the Demand register). Values are the COSEM registers' raw
  values (attribute 2), scaled by their scaler_unit (attribute 3).
* BT27 Present Register Selection: PRESENT_VALUE_SELECT u8[NBR_PRESENT_VALUES].
* BT28 Present Register Data: PRESENT_VALUE INT32[NBR_PRESENT_VALUES], the instantaneous registers.
* BT52 Clock (7 bytes): CLOCK_CALENDAR (TM_FORMAT 2, local time as the COSEM clock shows it),
  TIME_DATE_QUAL (bits 0-2 day of week 0 = Sunday, bit 3 DST_FLAG, bit 4 GMT_FLAG 0, bit 5
  TM_ZN_APPLIED_FLAG 1, bit 6 DST_APPLIED_FLAG = DST_FLAG).
* BT61 Actual Load Profile (13 bytes): LP_MEMORY_LEN u32, LP_FLAGS u16 (0: no block-end readings, no
  status, no scalars), LP_FMATS u8 (0x04: UINT32 intervals), then set 1: NBR_BLKS_SET1 u16,
  NBR_BLK_INTS_SET1 u16 (one day of intervals), NBR_CHNS_SET1 u8, MAX_INT_TIME_SET1 u8 (minutes).
* BT62 Load Profile Control: per channel CHNL_FLAG u8 (0), LP_SOURCE_SELECT u8 (source id),
  END_BLK_RDG_SOURCE_SELECT u8 (0xFF: none); then INT_FMT_CDE1 u8 (4 = UINT32).
* BT63 Load Profile Status (13 bytes): LP_SET_STATUS_FLAGS u8 (bit 1 OVERFLOW, bit 2 LIST_TYPE
  circular, bit 5 ACTIVE_MODE), NBR_VALID_BLOCKS u16, LAST_BLOCK_ELEMENT u16, LAST_BLOCK_SEQ_NBR u32
  (the block's local day, days since 1970-01-01), NBR_UNREAD_BLOCKS u16 (= valid blocks: reads are
  not tracked), NBR_VALID_INT u16 (intervals filled in the newest block).
* BT64 Load Profile Data Set 1: NBR_BLKS_SET1 blocks, oldest first from element 0 (the table is
  rebuilt, not rotated): BLK_END_TIME (5 bytes: year-2000, month, day, hour, minute: the local
  midnight ending the block), then NBR_BLK_INTS_SET1 intervals of NBR_CHNS_SET1 UINT32 values: the
  values the COSEM load profile captured at the interval's end (cumulative register values, as in
  1-0:99.1.0). Intervals without a capture hold 0xFFFFFFFF; unused blocks are all zero.

Classes 130-133 (0-0:32.d.0*255) read the node identity and the counters of the meter's
:class:`~cosemnet.profiles.lon.stack.LonStack` at every GET (provider callbacks). [design] Base names:
the simulator allocates the COSEM objects below 0x1000 in profile order, so the fixed 0x0400-0x0700 of
decision 0013 are taken; 130-133 sit at 0x0C00, 0x0D00, 0x0E00 and 0x0F00.

Associations (Tables 2 and C.1): public client 0x10 (LN, pre-established, read-only, the public
object list plus classes 130-133 and the tables), management client 0x01 (LN, pre-established, the
ADP protected form required; a dedicated Association LN 0-0:40.0.4*255 with the management object
list), NNAP client 0x20 (SN, LLS with the profile's SN password, opened by AARQ: the Association SN
0-0:40.0.3*255 whose object list gains the tables and classes 130-133).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cosemnet.codec.acse import ApplicationContextName
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.cosem.access import AttributeAccess, ObjectAccessRights
from cosemnet.cosem.association import ObjectListEntry
from cosemnet.cosem.association_ln import AssociationLN
from cosemnet.cosem.association_sn import AssociationSN
from cosemnet.cosem.base import InterfaceClass
from cosemnet.cosem.clock import Clock
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.demand_register import DemandRegister
from cosemnet.cosem.iso14908_diagnostic import (
    ComModuleState,
    Iso14908Diagnostic,
    Iso14908DiagnosticValues,
    PlcSignalQuality,
)
from cosemnet.cosem.iso14908_identification import Iso14908Identification, Iso14908IdentificationValues
from cosemnet.cosem.iso14908_protocol_setup import Iso14908ProtocolSetup
from cosemnet.cosem.iso14908_protocol_status import Iso14908ProtocolStatus, Iso14908ProtocolStatusValues
from cosemnet.cosem.profile_generic import ProfileGeneric
from cosemnet.cosem.register import Register
from cosemnet.cosem.utility_tables import UtilityTables
from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.adp_service import AdpConfig
from cosemnet.profiles.lon.channel import ChannelConfig, PowerLineChannel
from cosemnet.profiles.lon.dlms import (
    DEFAULT_MAX_ACTIVE_LINKS,
    Endpoint,
    LonAuthenticationFailure,
    LonConcentratorEndpoint,
    LonMeterEndpoint,
    power_line_stack_config,
    run_exchange,
)
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.preestablished import MANAGEMENT, PUBLIC
from cosemnet.profiles.lon.sap import MANAGEMENT_CLIENT, NNAP_CLIENT, PUBLIC_CLIENT
from cosemnet.profiles.lon.short_names import OSGP_METER_OBJECTS, make_standard_table
from cosemnet.profiles.lon.stack import LonStack
from cosemnet.security.hls import Mechanism
from cosemnet.server.config import DEFAULT_SN_CONFORMANCE, AssociationProfile, ServedDevice
from cosemnet.simulator.meter import DEFAULT_START, SimulatedMeter, build_meter
from cosemnet.simulator.profile import MeterProfile, load_profile

OSGP_PROGRAM_ID: Final = b"\x9f\xff\xff\x05\x01\x0a\x04\x01"
"""[design] program ID of the simulated meters (8 bytes; format 9 style, invented, not a real product)."""

OSGP_TABLES: Final = (0, 1, 5, 21, 22, 23, 27, 28, 52, 61, 62, 63, 64)
"""The standard tables the simulated OSGP meter serves."""

PUBLIC_ASSOCIATION_LN: Final = Obis.parse("0-0:40.0.1*255")
HLS_MANAGEMENT_ASSOCIATION_LN: Final = Obis.parse("0-0:40.0.2*255")
SN_ASSOCIATION_LN: Final = Obis.parse("0-0:40.0.3*255")
MANAGEMENT_ASSOCIATION_LN: Final = Obis.parse("0-0:40.0.4*255")
LOAD_PROFILE_LN: Final = Obis.parse("1-0:99.1.0*255")

ISO14908_BASE_NAMES: Final = {e.class_id: e.base_name for e in OSGP_METER_OBJECTS if 130 <= e.class_id <= 133}
"""[design] base names of classes 130-133 on this meter (see the module docstring)."""

NNAP_MAX_PDU_SIZE: Final = 2048
"""Server max receive PDU size of the NNAP (SN) association."""

AUTHENTICATION_FAILURE_EVENT: Final = "authentication_failure"
"""Event the meter logs for every failed authentication on its LON endpoint (docs/decisions/0039)."""
AUTHENTICATION_FAILURE_CODE: Final = 231
"""[design] its event code when the profile does not number it (docs/decisions/0039)."""

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
NO_CAPTURE: Final = 0xFFFFFFFF
"""BT64 interval value where the load profile holds no capture."""
TM_FORMAT_UINT8: Final = 2
NI_FORMAT_INT32: Final = 8
"""[reconstructed] NI_FORMAT code of INT32 (recorded in decision 0015)."""
INT_FMT_UINT32: Final = 4

_LE16: Final = struct.Struct("<H")
_LE32: Final = struct.Struct("<I")
_I32: Final = struct.Struct("<i")


@dataclass(frozen=True, slots=True)
class RegisterSource:
    """One C12.19 data source of the meter: a COSEM register."""

    source_id: int
    class_id: int
    logical_name: Obis
    energy: bool


def _int32(value: int) -> bytes:
    return _I32.pack(max(INT32_MIN, min(INT32_MAX, value)))


def _chars(text: str, length: int) -> bytes:
    return text.encode("ascii", "replace")[:length].ljust(length, b" ")


def _as_int(value: DataValue) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return round(value)
    raise TypeError(f"not a numeric register value: {value!r}")


def _stime(when: _dt.datetime) -> bytes:
    return bytes((when.year - 2000, when.month, when.day, when.hour, when.minute))


class OsgpMeter:
    """A simulated meter with C12.19 tables and ISO/IEC 14908 objects (see the module docstring)."""

    def __init__(
        self,
        meter: SimulatedMeter,
        stack: LonStack | None = None,
        *,
        load_profile_blocks: int = 2,
        manufacturer: str = "CSMN",
        ed_model: str = "OSGPSIM1",
    ) -> None:
        if not 1 <= load_profile_blocks <= 0xFFFF:
            raise ValueError("load_profile_blocks must be 1..65535")
        self.meter = meter
        self.stack = stack
        self.device = meter.device
        self.manufacturer = manufacturer
        self.ed_model = ed_model
        self.load_profile_blocks = load_profile_blocks
        self._build_sources()
        self._load_profile_channels()
        self._add_tables()
        added = self._add_iso14908_objects()
        self._add_associations(added)
        self.served = self._served_device()

    def _build_sources(self) -> None:
        """The register sources of BT21-BT28: energy registers, present values, demands."""
        profile = self.meter.profile
        sources: list[RegisterSource] = []
        for r in profile.registers:
            sources.append(RegisterSource(len(sources), Register.CLASS_ID, r.logical_name, r.is_energy))
        for d in profile.demand_registers:
            sources.append(RegisterSource(len(sources), DemandRegister.CLASS_ID, d.logical_name, False))
        self.sources: tuple[RegisterSource, ...] = tuple(sources)
        self.summations = tuple(s for s in sources if s.class_id == Register.CLASS_ID and s.energy)
        self.present_values = tuple(s for s in sources if s.class_id == Register.CLASS_ID and not s.energy)
        self.demands = tuple(s for s in sources if s.class_id == DemandRegister.CLASS_ID)

    def _load_profile_channels(self) -> None:
        """The load profile and its non-clock capture positions (BT61-BT64)."""
        lp = self.meter.load_profile
        self.load_profile: ProfileGeneric | None = lp
        self.lp_channels: tuple[tuple[int, Obis], ...] = ()
        """(position in a load profile entry, captured logical name) of every non-clock capture."""
        if lp is not None:
            self.lp_channels = tuple(
                (i, c.logical_name) for i, c in enumerate(lp.capture_objects) if c.class_id != Clock.CLASS_ID
            )

    def _add_tables(self) -> None:
        """One Utility tables object per C12.19 table the meter has (the LP tables only with a profile)."""
        lp = self.load_profile
        self.tables: dict[int, UtilityTables] = {}
        builders: dict[int, Callable[[AccessContext], bytes]] = {
            0: lambda ctx: self.bt00(),
            1: lambda ctx: self.bt01(),
            5: lambda ctx: self.bt05(),
            21: lambda ctx: self.bt21(),
            22: lambda ctx: self.bt22(),
            23: self.bt23,
            27: lambda ctx: self.bt27(),
            28: self.bt28,
            52: self.bt52,
            61: lambda ctx: self.bt61(),
            62: lambda ctx: self.bt62(),
            63: self.bt63,
            64: self.bt64,
        }
        for table_id in OSGP_TABLES:
            if table_id in (61, 62, 63, 64) and lp is None:
                continue
            self.tables[table_id] = self.device.add(
                make_standard_table(table_id, provider=builders[table_id])
            )

    def _add_iso14908_objects(self) -> list[InterfaceClass]:
        """Classes 130-133; returns every object this simulator added (tables included)."""
        self.identification = self.device.add(
            Iso14908Identification(provider=self._identification, base_name=ISO14908_BASE_NAMES[130])
        )
        self.protocol_setup = self.device.add(Iso14908ProtocolSetup(base_name=ISO14908_BASE_NAMES[131]))
        self.protocol_status = self.device.add(
            Iso14908ProtocolStatus(provider=self._protocol_status, base_name=ISO14908_BASE_NAMES[132])
        )
        self.diagnostic = self.device.add(
            Iso14908Diagnostic(provider=self._diagnostic, base_name=ISO14908_BASE_NAMES[133])
        )
        added: list[InterfaceClass] = [
            *self.tables.values(),
            self.identification,
            self.protocol_setup,
            self.protocol_status,
            self.diagnostic,
        ]
        return added

    def _add_associations(self, added: list[InterfaceClass]) -> None:
        """The management association (Table C.1) and the object lists of the three associations."""
        public = self.device.find(AssociationLN.CLASS_ID, PUBLIC_ASSOCIATION_LN)
        sn = self.device.find(AssociationSN.CLASS_ID, SN_ASSOCIATION_LN)
        hls = self.device.find(AssociationLN.CLASS_ID, HLS_MANAGEMENT_ASSOCIATION_LN)
        if not isinstance(public, AssociationLN) or not isinstance(sn, AssociationSN):
            raise ValueError(
                "the meter profile needs the public (0-0:40.0.1) and SN (0-0:40.0.3) associations"
            )
        management = AssociationLN(MANAGEMENT_ASSOCIATION_LN, MANAGEMENT_CLIENT, self.device.server_sap, 0)
        if isinstance(hls, AssociationLN):
            for entry in hls.entries:
                if bytes(entry.logical_name) != bytes(HLS_MANAGEMENT_ASSOCIATION_LN):
                    management.add_entry(entry)
        self.device.add(management)
        self.management_association = management
        for obj in (*added, management):
            rights = ObjectAccessRights.read_only(type(obj))
            full = rights
            if obj is self.protocol_setup:
                full = rights.with_attributes([(2, AttributeAccess.READ_AND_WRITE)])
            management.add_entry(ObjectListEntry.of(obj, full))
            if obj is not management:
                public.add_entry(ObjectListEntry.of(obj, rights))
                sn.add_entry(ObjectListEntry.of(obj, rights))
        self.public_association = public
        self.sn_association = sn

    def _served_device(self) -> ServedDevice:
        """The logical device as the server serves it: public, management and NNAP (SN) profiles."""
        return ServedDevice(
            self.device,
            effects=self.meter.effects,
            profiles=[
                AssociationProfile(
                    PUBLIC_CLIENT,
                    self.public_association,
                    PUBLIC.application_context_name,
                    Mechanism.NONE,
                    PUBLIC.conformance,
                    PUBLIC.max_pdu_size,
                ),
                AssociationProfile(
                    MANAGEMENT_CLIENT,
                    self.management_association,
                    MANAGEMENT.application_context_name,
                    Mechanism.NONE,
                    MANAGEMENT.conformance,
                    MANAGEMENT.max_pdu_size,
                ),
                AssociationProfile(
                    NNAP_CLIENT,
                    self.sn_association,
                    ApplicationContextName.SN,
                    Mechanism.LLS,
                    DEFAULT_SN_CONFORMANCE,
                    NNAP_MAX_PDU_SIZE,
                ),
            ],
            on_request=self.on_request,
        )

    # ----------------------------------------------------------------------------------------------
    # Time and events

    def record_authentication_failure(self, failure: LonAuthenticationFailure) -> None:
        """Log a failed authentication of the LON endpoint in the event log (at the meter's time, which
        the endpoint brought up to the request's time)."""
        self.meter.log_event(AUTHENTICATION_FAILURE_EVENT, self.meter.context())

    def on_request(self, posix: float) -> None:
        """Bring the meter to POSIX time ``posix`` (the server calls it before every request)."""
        self.meter.catch_up(_dt.datetime.fromtimestamp(posix, _dt.UTC))

    def _local(self, ctx: AccessContext) -> AccessContext:
        return self.meter.context(now=ctx.now)

    def _value(self, source: RegisterSource, ctx: AccessContext) -> int:
        return _as_int(self.device.get(source.class_id, source.logical_name, 2, ctx))

    # ----------------------------------------------------------------------------------------------
    # Tables

    def table(self, table_id: int, now: _dt.datetime | None = None) -> bytes:
        """The contents of BT``table_id`` at reference time ``now`` (default: the meter's)."""
        return self.tables[table_id].contents(self.meter.context(now=now))

    def bt00(self) -> bytes:
        used = bytearray(10)
        for table_id in self.tables:
            used[table_id // 8] |= 1 << (table_id % 8)
        out = bytearray()
        out.append(0x02)  # DATA_ORDER 0 little-endian, CHAR_FORMAT 1 ISO 7-bit, MODEL_SELECT 0
        out.append(TM_FORMAT_UINT8)  # TM_FORMAT 2, DATA_ACCESS_METHOD 0, ID_FORM 0 string, INT_FORMAT 0
        out.append(NI_FORMAT_INT32 | NI_FORMAT_INT32 << 4)
        out += b"EE01"  # DEVICE_CLASS
        out += bytes((2, 0, 0, 0, 2, 0))  # NAMEPLATE_TYPE electric ... STD_VERSION_NO 2, STD_REVISION_NO 0
        out += bytes((len(used), 0, 0, 0, 0, 0))  # DIM_STD_TBLS_USED ... NBR_PENDING
        out += used  # STD_TBLS_USED
        out += bytes(len(used))  # STD_TBLS_WRITE
        return bytes(out)

    def bt01(self) -> bytes:
        identity = self.meter.identity
        return (
            _chars(self.manufacturer, 4)
            + _chars(self.ed_model, 8)
            + bytes((1, 0, 1, 0))
            + _chars(f"{identity.serial:016d}", 16)
        )

    def bt05(self) -> bytes:
        return _chars(self.meter.logical_device_name.decode("ascii", "replace"), 20)

    def bt21(self) -> bytes:
        return bytes((0, 0, 0, len(self.summations), len(self.demands), 0, 1, 0, 0, len(self.present_values)))

    def bt22(self) -> bytes:
        flags = bytes((len(self.demands) + 7) // 8)
        return bytes(s.source_id for s in self.summations) + bytes(s.source_id for s in self.demands) + flags

    def bt23(self, ctx: AccessContext) -> bytes:
        local = self._local(ctx)
        out = bytearray()
        for s in self.summations:
            out += _int32(self._value(s, local))
        for s in self.demands:
            out += _int32(self._value(s, local))
        return bytes(out)

    def bt27(self) -> bytes:
        return bytes(s.source_id for s in self.present_values)

    def bt28(self, ctx: AccessContext) -> bytes:
        local = self._local(ctx)
        return b"".join(_int32(self._value(s, local)) for s in self.present_values)

    def bt52(self, ctx: AccessContext) -> bytes:
        local = self._local(ctx)
        raw = self.device.get(Clock.CLASS_ID, self.meter.clock.logical_name, 2, local)
        assert isinstance(raw, bytes)
        t = CosemDateTime.from_bytes(raw)
        dst = bool(t.clock_status != 0xFF and t.clock_status & 0x80)
        qual = (t.day_of_week % 7) | (0x08 if dst else 0) | 0x20 | (0x40 if dst else 0)
        return bytes((t.year - 2000, t.month, t.day, t.hour, t.minute, t.second, qual))

    def _lp_geometry(self) -> tuple[int, int, int]:
        """(intervals per block, channels, capture period in seconds)."""
        lp = self.load_profile
        assert lp is not None
        period = lp.capture_period or 900
        return max(1, 86400 // period), len(self.lp_channels), period

    def _block_size(self) -> int:
        intervals, channels, _ = self._lp_geometry()
        return 5 + intervals * channels * 4

    def bt61(self) -> bytes:
        intervals, channels, period = self._lp_geometry()
        return (
            _LE32.pack(self.load_profile_blocks * self._block_size())
            + _LE16.pack(0)
            + bytes((0x04,))
            + _LE16.pack(self.load_profile_blocks)
            + _LE16.pack(intervals)
            + bytes((channels, min(255, period // 60)))
        )

    def bt62(self) -> bytes:
        by_name = {bytes(s.logical_name): s.source_id for s in self.sources}
        out = bytearray()
        for _, ln in self.lp_channels:
            out += bytes((0, by_name.get(bytes(ln), 0xFF), 0xFF))
        out.append(INT_FMT_UINT32)
        return bytes(out)

    def _blocks(self, ctx: AccessContext) -> tuple[list[tuple[int, list[list[int]]]], int, bool]:
        """The newest blocks (local day, interval rows), the valid interval count of the last, overflow."""
        lp = self.load_profile
        assert lp is not None
        intervals, channels, period = self._lp_geometry()
        buffer = lp.get(2, self._local(ctx), None)
        assert isinstance(buffer, list)
        days: dict[int, list[list[int]]] = {}
        for entry in buffer:
            if not isinstance(entry, tuple) or not entry or not isinstance(entry[0], bytes):
                continue
            t = CosemDateTime.from_bytes(entry[0])
            stamp = _dt.datetime(t.year, t.month, t.day, t.hour, t.minute, t.second)
            start = stamp - _dt.timedelta(seconds=period)
            day = (start.date() - _dt.date(1970, 1, 1)).days
            seconds = start.hour * 3600 + start.minute * 60 + start.second
            index = seconds // period
            if not 0 <= index < intervals:
                continue
            rows = days.setdefault(day, [[NO_CAPTURE] * channels for _ in range(intervals)])
            rows[index] = [_as_int(entry[i]) & 0xFFFFFFFF for i, _ in self.lp_channels]
        ordered = sorted(days.items())
        overflow = len(ordered) > self.load_profile_blocks
        ordered = ordered[-self.load_profile_blocks :]
        valid_last = 0
        if ordered:
            rows = ordered[-1][1]
            valid_last = max((i + 1 for i, row in enumerate(rows) if row[0] != NO_CAPTURE), default=0)
        return ordered, valid_last, overflow

    def bt63(self, ctx: AccessContext) -> bytes:
        blocks, valid_last, overflow = self._blocks(ctx)
        flags = 0x04 | 0x20 | (0x02 if overflow else 0)
        n = len(blocks)
        last_day = blocks[-1][0] if blocks else 0
        return (
            bytes((flags,))
            + _LE16.pack(n)
            + _LE16.pack(max(0, n - 1))
            + _LE32.pack(last_day)
            + _LE16.pack(n)
            + _LE16.pack(valid_last)
        )

    def bt64(self, ctx: AccessContext) -> bytes:
        blocks, _, _ = self._blocks(ctx)
        out = bytearray()
        for day, rows in blocks:
            end = _dt.datetime(1970, 1, 1) + _dt.timedelta(days=day + 1)
            out += _stime(end)
            for row in rows:
                for value in row:
                    out += _LE32.pack(value)
        out += bytes(self._block_size() * (self.load_profile_blocks - len(blocks)))
        return bytes(out)

    # ----------------------------------------------------------------------------------------------
    # ISO/IEC 14908 objects

    def _identification(self) -> Iso14908IdentificationValues:
        stack = self.stack
        if stack is None:
            return Iso14908IdentificationValues()
        node = stack.node
        domain = next((d for d in node.domains if d is not None), None)
        return Iso14908IdentificationValues(
            node_id=domain.node if domain is not None else 0,
            subnet_id=domain.subnet if domain is not None else 0,
            domain_id=domain.domain_id if domain is not None else b"",
            program_id=node.program_id,
            unique_node_id=node.unique_id,
        )

    def _protocol_status(self) -> Iso14908ProtocolStatusValues:
        if self.stack is None:
            return Iso14908ProtocolStatusValues()
        s = self.stack.statistics
        return Iso14908ProtocolStatusValues(
            s.transmission_errors,
            s.transmit_tx_failure,
            s.transmit_tx_retries,
            s.receive_tx_full,
            s.lost_messages,
            s.missed_messages,
            s.layer2_received,
            s.layer3_received,
            s.messages_received,
            s.messages_validated,
        )

    def _diagnostic(self) -> Iso14908DiagnosticValues:
        """[design] signal quality from the share of frames lost to errors (< 5 % good, < 20 % marginal,
        else poor; not available before any frame); module state configured-online / unconfigured;
        received_message_status bit 0 a message was received, bit 1 one was validated, bit 2 a
        transmission error was seen; frequency_invalid 0 (the simulated transceiver does not measure)."""
        stack = self.stack
        if stack is None:
            return Iso14908DiagnosticValues()
        s = stack.statistics
        heard = s.layer2_received + s.transmission_errors
        if heard == 0:
            quality = PlcSignalQuality.NOT_AVAILABLE
        else:
            ratio = s.transmission_errors / heard
            quality = (
                PlcSignalQuality.GOOD
                if ratio < 0.05
                else PlcSignalQuality.MARGINAL
                if ratio < 0.20
                else PlcSignalQuality.POOR
            )
        status = (
            (1 if s.messages_received else 0)
            | (2 if s.messages_validated else 0)
            | (4 if s.transmission_errors else 0)
        )
        return Iso14908DiagnosticValues(
            quality,
            ComModuleState.CONFIGURED_ONLINE if stack.node.configured else ComModuleState.UNCONFIGURED,
            status,
            s.no_receive_buffer,
            s.transmit_no_data,
            s.backlog_overflows,
            s.late_ack,
            0,
        )


def build_osgp_meter(
    stack: LonStack | None = None,
    *,
    serial: int | None = None,
    system_title: bytes | None = None,
    seed: int = 0,
    start: _dt.datetime = DEFAULT_START,
    history: _dt.timedelta = _dt.timedelta(0),
    load_profile_blocks: int = 2,
) -> OsgpMeter:
    """An OSGP meter on the default simulated-meter profile (see :func:`cosemnet.simulator.build_meter`)."""
    meter = build_meter(
        _osgp_profile(), serial=serial, system_title=system_title, seed=seed, start=start, history=history
    )
    return OsgpMeter(meter, stack, load_profile_blocks=load_profile_blocks)


@functools.cache
def _osgp_profile() -> MeterProfile:
    """The default profile, its event log numbering :data:`AUTHENTICATION_FAILURE_EVENT` if it does not."""
    profile = load_profile()
    log = profile.event_log
    if log is None or log.code(AUTHENTICATION_FAILURE_EVENT) is not None:
        return profile
    codes = (*log.codes, (AUTHENTICATION_FAILURE_EVENT, AUTHENTICATION_FAILURE_CODE))
    return dataclasses.replace(profile, event_log=dataclasses.replace(log, codes=codes))


# --------------------------------------------------------------------------------------------------
# Decoders (a head-end's view of the tables)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(f"{what}: table too short", self.pos, f"{n} bytes")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int(_LE16.unpack(self.take(2, what))[0])

    def u32(self, what: str) -> int:
        return int(_LE32.unpack(self.take(4, what))[0])

    def i32(self, what: str) -> int:
        return int(_I32.unpack(self.take(4, what))[0])

    def end(self, what: str) -> None:
        if self.pos != len(self.data):
            raise DecodeError(f"{what}: trailing bytes", self.pos, "end of table")


@dataclass(frozen=True, slots=True)
class ActualRegister:
    """BT21."""

    reg_func1: int
    reg_func2: int
    nbr_self_reads: int
    nbr_summations: int
    nbr_demands: int
    nbr_coin_values: int
    nbr_occur: int
    nbr_tiers: int
    nbr_present_demands: int
    nbr_present_values: int


def decode_bt21(data: bytes) -> ActualRegister:
    r = _Reader(bytes(data))
    values = [r.u8("BT21") for _ in range(10)]
    r.end("BT21")
    return ActualRegister(*values)


@dataclass(frozen=True, slots=True)
class CurrentRegisterData:
    """BT23 (this meter's options: no tiers, no coincidents, no dates)."""

    summations: tuple[int, ...]
    demands: tuple[tuple[int, ...], ...]


def decode_bt23(data: bytes, actual: ActualRegister) -> CurrentRegisterData:
    """Decode BT23 with the dimensions of BT21 (only the options this meter uses are supported)."""
    if actual.nbr_tiers or actual.nbr_coin_values or actual.reg_func1 & 0x07:
        raise DecodeError("BT23: tiers, coincidents and date fields are not supported", 0, "BT21 options")
    r = _Reader(bytes(data))
    summations = tuple(r.i32("BT23 summation") for _ in range(actual.nbr_summations))
    demands = tuple(
        tuple(r.i32("BT23 demand") for _ in range(actual.nbr_occur)) for _ in range(actual.nbr_demands)
    )
    r.end("BT23")
    return CurrentRegisterData(summations, demands)


def decode_bt28(data: bytes, actual: ActualRegister) -> tuple[int, ...]:
    """BT28 present values (no present demands)."""
    if actual.nbr_present_demands:
        raise DecodeError("BT28: present demands are not supported", 0, "BT21 options")
    r = _Reader(bytes(data))
    values = tuple(r.i32("BT28 present value") for _ in range(actual.nbr_present_values))
    r.end("BT28")
    return values


@dataclass(frozen=True, slots=True)
class ClockTable:
    """BT52: local date and time and the qualifier bits."""

    local_time: _dt.datetime
    day_of_week: int
    dst: bool
    gmt: bool


def decode_bt52(data: bytes) -> ClockTable:
    r = _Reader(bytes(data))
    year, month, day, hour, minute, second, qual = (r.u8("BT52") for _ in range(7))
    r.end("BT52")
    try:
        when = _dt.datetime(2000 + year, month, day, hour, minute, second)
    except ValueError:
        raise DecodeError("BT52: not a valid date and time", 0, "TM_FORMAT 2 date") from None
    return ClockTable(when, qual & 0x07, bool(qual & 0x08), bool(qual & 0x10))


@dataclass(frozen=True, slots=True)
class ActualLoadProfile:
    """BT61 (data set 1 only)."""

    lp_memory_len: int
    lp_flags: int
    lp_fmats: int
    nbr_blks: int
    nbr_blk_ints: int
    nbr_chns: int
    max_int_time: int


def decode_bt61(data: bytes) -> ActualLoadProfile:
    r = _Reader(bytes(data))
    result = ActualLoadProfile(
        r.u32("BT61"), r.u16("BT61"), r.u8("BT61"), r.u16("BT61"), r.u16("BT61"), r.u8("BT61"), r.u8("BT61")
    )
    r.end("BT61")
    return result


@dataclass(frozen=True, slots=True)
class LoadProfileStatus:
    """BT63 (data set 1)."""

    flags: int
    nbr_valid_blocks: int
    last_block_element: int
    last_block_seq_nbr: int
    nbr_unread_blocks: int
    nbr_valid_int: int


def decode_bt63(data: bytes) -> LoadProfileStatus:
    r = _Reader(bytes(data))
    result = LoadProfileStatus(
        r.u8("BT63"), r.u16("BT63"), r.u16("BT63"), r.u32("BT63"), r.u16("BT63"), r.u16("BT63")
    )
    r.end("BT63")
    return result


@dataclass(frozen=True, slots=True)
class LoadProfileBlock:
    """One BT64 block: its end time and its interval rows (one value per channel)."""

    end_time: _dt.datetime
    intervals: tuple[tuple[int, ...], ...]


def decode_bt64(data: bytes, actual: ActualLoadProfile, status: LoadProfileStatus) -> list[LoadProfileBlock]:
    """The valid blocks of BT64 (UINT32 intervals, no block-end readings or status: this meter's options)."""
    if actual.lp_flags or actual.lp_fmats != 0x04:
        raise DecodeError("BT64: only UINT32 intervals without status are supported", 0, "BT61 options")
    if status.nbr_valid_blocks > actual.nbr_blks:
        raise DecodeError("BT63: more valid blocks than BT61 allows", 0, "nbr_valid_blocks <= nbr_blks")
    r = _Reader(bytes(data))
    blocks = []
    for _ in range(status.nbr_valid_blocks):
        year, month, day, hour, minute = r.take(5, "BT64 BLK_END_TIME")
        try:
            end = _dt.datetime(2000 + year, month, day, hour, minute)
        except ValueError:
            raise DecodeError("BT64: bad block end time", r.pos - 5, "STIME_DATE") from None
        rows = tuple(
            tuple(r.u32("BT64 interval") for _ in range(actual.nbr_chns)) for _ in range(actual.nbr_blk_ints)
        )
        blocks.append(LoadProfileBlock(end, rows))
    if len(data) != actual.nbr_blks * (5 + actual.nbr_blk_ints * actual.nbr_chns * 4):
        raise DecodeError("BT64: length disagrees with BT61", len(data), "NBR_BLKS x block size")
    return blocks


def bt00_tables_used(data: bytes) -> frozenset[int]:
    """The standard tables BT00 declares (STD_TBLS_USED)."""
    r = _Reader(bytes(data))
    r.take(3 + 4 + 6, "BT00 header")
    dim_std = r.u8("BT00 DIM_STD_TBLS_USED")
    dims = r.take(5, "BT00 dimensions")
    used = r.take(dim_std, "BT00 STD_TBLS_USED")
    r.take(dims[0] + dims[1] + dims[2], "BT00 MFG_TBLS_USED / STD_PROC_USED / MFG_PROC_USED")
    r.take(dim_std + dims[0], "BT00 STD_TBLS_WRITE / MFG_TBLS_WRITE")
    r.end("BT00")
    return frozenset(8 * i + b for i, byte in enumerate(used) for b in range(8) if byte >> b & 1)


__all__ = [
    "AUTHENTICATION_FAILURE_CODE",
    "AUTHENTICATION_FAILURE_EVENT",
    "DEFAULT_DOMAIN",
    "ISO14908_BASE_NAMES",
    "MANAGEMENT_ASSOCIATION_LN",
    "NO_CAPTURE",
    "OSGP_PROGRAM_ID",
    "OSGP_TABLES",
    "ActualLoadProfile",
    "ActualRegister",
    "ClockTable",
    "CurrentRegisterData",
    "LoadProfileBlock",
    "LoadProfileStatus",
    "OsgpMeter",
    "OsgpSegment",
    "RegisterSource",
    "SegmentMeter",
    "bt00_tables_used",
    "build_osgp_meter",
    "build_osgp_segment",
    "decode_bt21",
    "decode_bt23",
    "decode_bt28",
    "decode_bt52",
    "decode_bt61",
    "decode_bt63",
    "decode_bt64",
]


# --------------------------------------------------------------------------------------------------
# A power-line segment: one data concentrator and n OSGP meters on one simulated channel

DEFAULT_DOMAIN: Final = b"\x42"
CONCENTRATOR_SUBNET: Final = 1
CONCENTRATOR_NODE: Final = 1
FIRST_METER_NODE: Final = 10
LONG_RECEIVE_TIMER: Final = 15
"""Receive timer code 15 (24.6 s): longer than the 5 x 3.072 s a sender retries (see
:func:`~cosemnet.profiles.lon.dlms.power_line_stack_config`)."""


@dataclass(slots=True)
class SegmentMeter:
    """One meter of a :class:`OsgpSegment`: the meter, its LON endpoint and its 14908-1 address."""

    meter: OsgpMeter
    endpoint: LonMeterEndpoint
    address: SubnetNodeAddress


@dataclass(slots=True)
class OsgpSegment:
    """A simulated power-line segment (build it with :func:`build_osgp_segment`)."""

    channel: PowerLineChannel
    concentrator: LonConcentratorEndpoint
    meters: list[SegmentMeter]

    @property
    def endpoints(self) -> list[Endpoint]:
        return [self.concentrator, *(m.endpoint for m in self.meters)]

    def run(self, *, until: Callable[[], bool] | None = None, limit: float = 3600.0) -> float:
        """:func:`~cosemnet.profiles.lon.dlms.run_exchange` over the whole segment."""
        return run_exchange(self.channel, self.endpoints, until=until, limit=limit)


def build_osgp_segment(
    meters: int,
    *,
    seed: int = 0,
    history: _dt.timedelta = _dt.timedelta(0),
    start: _dt.datetime = DEFAULT_START,
    domain: bytes = DEFAULT_DOMAIN,
    loss: float = 0.0,
    max_active_links: int | None = DEFAULT_MAX_ACTIVE_LINKS,
    concentrator_adp: AdpConfig | None = None,
) -> OsgpSegment:
    """A data concentrator (subnet 1 node 1) and ``meters`` OSGP meters (subnet 1, nodes 10...) on one
    channel, every stack with :func:`~cosemnet.profiles.lon.dlms.power_line_stack_config`; meter i has
    serial 1000 + i and seed ``seed + i``. Simulated time 0 is ``start`` (the endpoints' epoch)."""
    if not 1 <= meters <= 127 - FIRST_METER_NODE:
        raise ValueError(f"1..{127 - FIRST_METER_NODE} meters on one subnet")
    channel = PowerLineChannel(ChannelConfig(default_loss=loss), seed=seed)
    epoch = start.timestamp()
    dc_node = LonNode.configured_in(
        bytes((0x05, 0, 0, 0, 0, CONCENTRATOR_NODE)), domain, CONCENTRATOR_SUBNET, 1
    )
    dc_node.non_group_receive_timer = LONG_RECEIVE_TIMER
    dc_stack = LonStack(dc_node, power_line_stack_config())
    channel.attach(dc_stack)
    concentrator = LonConcentratorEndpoint(
        dc_stack,
        adp_config=concentrator_adp if concentrator_adp is not None else AdpConfig(allow_null_suite=True),
        max_active_links=max_active_links,
    )
    members = []
    for i in range(meters):
        node = FIRST_METER_NODE + i
        lon_node = LonNode.configured_in(
            bytes((0x05, 0, 0, 1, i >> 8, i & 0xFF)),
            domain,
            CONCENTRATOR_SUBNET,
            node,
            program_id=OSGP_PROGRAM_ID,
        )
        lon_node.non_group_receive_timer = LONG_RECEIVE_TIMER
        stack = LonStack(lon_node, power_line_stack_config())
        channel.attach(stack)
        meter = build_osgp_meter(stack, serial=1000 + i, seed=seed + i, start=start, history=history)
        # the null suite on the protected SAPs, explicitly: this segment is a test fixture without keys
        endpoint = LonMeterEndpoint(
            stack,
            [meter.served],
            epoch=epoch,
            on_security_event=meter.record_authentication_failure,
            protocol_setup=meter.protocol_setup,
            adp_config=AdpConfig(allow_null_suite=True),
        )
        members.append(SegmentMeter(meter, endpoint, SubnetNodeAddress(CONCENTRATOR_SUBNET, node)))
    return OsgpSegment(channel, concentrator, members)
