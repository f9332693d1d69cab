"""Meter profile: the compact TOML configuration a simulated meter is built from.

:func:`load_profile` reads a TOML file (stdlib :mod:`tomllib`) or, with no path, the embedded default
(``cosemnet/simulator/profiles/default.toml``); :func:`parse_profile` takes TOML text or an already
parsed mapping. The result is a :class:`MeterProfile`: frozen, hashable dataclasses only, so one
profile (and everything derived from it) is shared by every meter built from it.

Every table is checked: unknown keys, wrong types and out-of-range values raise :class:`ProfileError`
naming the offending key (``associations[1].mechanism: ...``). ``docs/simulated-meter.md`` describes
the schema and what the default profile holds.

Design choices (nothing in the standards covers a simulator's configuration):

* times of day are ``"HH:MM"`` (or ``"HH:MM:SS"``) in the meter's *standard* local time (UTC minus
  ``clock.time_zone``, daylight saving ignored), so the load curve and the tariff switches are
  periodic in UTC and can be integrated exactly;
* a load curve is a list of ``[time, watts]`` points, linear between points and repeated every day
  (the last point joins the first one across midnight); one curve per phase;
* capture and push objects are written ``"OBIS"`` (attribute 2) or ``"OBIS:ATTR"``;
* keys are hex strings; a secret is text (its UTF-8 bytes), ``"hex:..."`` for arbitrary bytes
  (``"text:..."`` forces text). The keys of the default profile are the *published Green Book test
  keys*: they are test defaults, never to be used on a real meter;
* the profile lists which optional objects exist by the presence of their table; capture objects,
  association object lists and references are checked when the profile is compiled
  (:func:`cosemnet.simulator.meter.compile_profile`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from cosemnet.codec.obis import Obis
from cosemnet.cosem.register import Unit
from cosemnet.cosem.security_setup import SecurityPolicy
from cosemnet.errors import CosemnetError

DEFAULT_PROFILE_RESOURCE: Final = "profiles/default.toml"

MECHANISMS: Final[dict[str, int]] = {
    "none": 0,
    "lls": 1,
    "hls": 2,
    "hls-md5": 3,
    "hls-sha1": 4,
    "hls-gmac": 5,
    "hls-sha256": 6,
    "hls-ecdsa": 7,
}
"""Authentication mechanism names of the profile -> mechanism id (0 lowest ... 7 HLS-ECDSA)."""

ATTRIBUTE_MODES: Final = ("read-only", "read-write", "authenticated-read-only", "authenticated-read-write")
METHOD_MODES: Final = ("no-access", "access", "authenticated-access")

ENERGY_QUANTITIES: Final = (
    "active_import",
    "active_import_t1",
    "active_import_t2",
    "active_export",
    "reactive_import",
    "reactive_export",
)
"""Energy accumulators of the load model (Wh / varh), in accumulator order."""

INSTANTANEOUS_QUANTITIES: Final = (
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "current_l1",
    "current_l2",
    "current_l3",
    "active_power_import",
    "active_power_export",
    "frequency",
    "power_factor",
)
"""Instantaneous quantities (V, A, W, Hz, power factor as a ratio)."""

VALUE_TYPES: Final = (
    "double-long-unsigned",
    "double-long",
    "long-unsigned",
    "long",
    "unsigned",
    "integer",
    "long64-unsigned",
    "long64",
    "float32",
    "float64",
)
"""Register value types a profile may choose."""

UNIT_SYMBOLS: Final[dict[str, int]] = {
    "Wh": Unit.WATT_HOUR,
    "varh": Unit.VAR_HOUR,
    "VAh": Unit.VOLT_AMPERE_HOUR,
    "W": Unit.WATT,
    "var": Unit.VAR,
    "VA": Unit.VOLT_AMPERE,
    "V": Unit.VOLT,
    "A": Unit.AMPERE,
    "Hz": Unit.HERTZ,
    "s": Unit.SECOND,
    "%": Unit.PERCENTAGE,
    "": Unit.COUNT,
    "count": Unit.COUNT,
}

POLICY_FLAGS: Final[dict[str, SecurityPolicy]] = {
    "authenticated_request": SecurityPolicy.AUTHENTICATED_REQUEST,
    "encrypted_request": SecurityPolicy.ENCRYPTED_REQUEST,
    "digitally_signed_request": SecurityPolicy.DIGITALLY_SIGNED_REQUEST,
    "authenticated_response": SecurityPolicy.AUTHENTICATED_RESPONSE,
    "encrypted_response": SecurityPolicy.ENCRYPTED_RESPONSE,
    "digitally_signed_response": SecurityPolicy.DIGITALLY_SIGNED_RESPONSE,
}

TRANSPORTS: Final[dict[str, int]] = {
    "tcp": 0,
    "udp": 1,
    "ftp": 2,
    "smtp": 3,
    "sms": 4,
    "hdlc": 5,
    "m-bus": 6,
    "zigbee": 7,
    "dlms-gateway": 8,
}

DEFAULT_EVENT_CODES: Final[dict[str, int]] = {
    "power_down": 1,
    "power_up": 2,
    "clock_adjusted_old": 4,
    "clock_adjusted_new": 5,
    "image_activated": 18,
    "association_authentication_failure": 46,  # our choice: docs/decisions/0034
    "global_keys_changed": 48,
    "manual_disconnect": 59,
    "manual_reconnect": 60,
    "remote_disconnect": 61,
    "remote_reconnect": 62,
    "local_disconnect": 63,
    "local_reconnect": 68,
    "security_intrusion": 230,
}
"""Event codes (IDIS-style numbering, reconstructed from public meter manuals, not verified against
the IDIS specification; a profile can renumber every one). ``security_intrusion`` (230, [design] in the
manufacturer-specific range) is the OSGP-AES-128-PSK intrusion detector's back-off (decision 0046)."""

DAY: Final = 86400

CLOCK_LN: Final = Obis.parse("0-0:1.0.0*255")
LOAD_PROFILE_LN: Final = Obis.parse("1-0:99.1.0*255")
EVENT_LOG_LN: Final = Obis.parse("0-0:99.98.0*255")
EVENT_CODE_LN: Final = Obis.parse("0-0:96.11.0*255")
DISCONNECT_CONTROL_LN: Final = Obis.parse("0-0:96.3.10*255")
DISCONNECTOR_SCRIPT_TABLE_LN: Final = Obis.parse("0-0:10.0.106*255")
IMAGE_TRANSFER_LN: Final = Obis.parse("0-0:44.0.0*255")
FIRMWARE_ID_LN: Final = Obis.parse("1-0:0.2.0*255")
PUSH_SETUP_LN: Final = Obis.parse("0-0:25.9.0*255")
SECURITY_SETUP_LN: Final = Obis.parse("0-0:43.0.0*255")
SAP_ASSIGNMENT_LN: Final = Obis.parse("0-0:41.0.0*255")
DEVICE_ID_LN: Final = Obis.parse("0-0:96.1.0*255")
ALARM_REGISTER_LN: Final = Obis.parse("0-0:97.98.0*255")
ALARM_PUSH_SETUP_LN: Final = Obis.parse("0-4:25.9.0*255")


class ProfileError(CosemnetError):
    """The meter profile is not valid (the message names the key)."""


# --------------------------------------------------------------------------------------------------
# Schema


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the meter is. Empty ``logical_device_name`` / ``system_title`` / ``device_id`` are derived
    from ``manufacturer`` and ``serial`` (see :meth:`derive`)."""

    manufacturer: str = "MMM"
    serial: int = 12345678
    logical_device_name: str = ""
    system_title: bytes = b""
    device_id: str = ""
    server_sap: int = 1

    def derive(self, serial: int | None = None, system_title: bytes | None = None) -> Identity:
        """The identity with every derived field filled in (``serial`` / ``system_title`` override).

        Design choice: system title = the three ASCII letters of the manufacturer flag + the serial
        number in 5 bytes big-endian (so "MMM" / 12345678 gives the Green Book 4D4D4D0000BC614E);
        given only a system title, the serial is its last 5 bytes. Logical device name = flag +
        serial in 13 decimal digits (16 bytes); device id = the serial in decimal.
        """
        if system_title is not None and len(system_title) != 8:
            raise ProfileError("system_title must have 8 bytes")
        if serial is None:
            serial = int.from_bytes(system_title[3:], "big") if system_title is not None else self.serial
        if not 0 <= serial < 2**40:
            raise ProfileError("serial must fit in 5 bytes")
        own = serial == self.serial  # the profile's own meter: its explicit names apply
        title = system_title or (self.system_title if own else b"")
        title = title or self.manufacturer.encode() + serial.to_bytes(5, "big")
        ldn = self.logical_device_name if own else ""
        device_id = self.device_id if own else ""
        return Identity(
            manufacturer=self.manufacturer,
            serial=serial,
            logical_device_name=ldn or f"{self.manufacturer}{serial:013d}",
            system_title=title,
            device_id=device_id or str(serial),
            server_sap=self.server_sap,
        )


@dataclass(frozen=True, slots=True)
class ClockConfig:
    logical_name: Obis = CLOCK_LN
    time_zone: int = 0
    """Minutes, UTC = local + time_zone (a meter on UTC+01:00 has -60)."""
    dst_enabled: bool = False
    dst_deviation: int = 60
    dst_begin: bytes | None = None
    """12-byte date-time pattern (None: the object model's default, last Sunday of March 02:00)."""
    dst_end: bytes | None = None
    clock_base: int = 1


@dataclass(frozen=True, slots=True)
class PhaseLoad:
    """Daily curves of one phase: (second of day, watts) points, linear between points."""

    consumption: tuple[tuple[int, float], ...]
    generation: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, slots=True)
class LoadModelConfig:
    phases: tuple[PhaseLoad, ...]
    voltage: float = 230.0
    frequency: float = 50.0
    power_factor: float = 0.95
    scale_spread: float = 0.0
    """Per meter and phase, the consumption is scaled by a factor in [1 - s, 1 + s] drawn from the seed."""
    day_spread: float = 0.0
    """Per meter and day, a further factor in [1 - s, 1 + s] (same for every phase)."""
    generation_spread: float = 0.0
    """Per meter, the generation is scaled by a factor in [1 - s, 1 + s]."""
    voltage_spread: float = 0.0
    """Voltage varies per phase and minute in [1 - s, 1 + s] x nominal."""
    frequency_spread: float = 0.0
    """Frequency varies per minute by +- this many hertz."""
    tariffs: tuple[tuple[int, int], ...] = ((0, 1),)
    """(second of day, tariff 1 or 2) switch points, sorted; the last one runs past midnight."""


@dataclass(frozen=True, slots=True)
class RegisterConfig:
    logical_name: Obis
    quantity: str
    scaler: int = 0
    unit: int = Unit.WATT_HOUR
    value_type: str = "double-long-unsigned"
    initial: float = 0.0
    """Initial physical value of an energy register (Wh / varh)."""

    @property
    def is_energy(self) -> bool:
        return self.quantity in ENERGY_QUANTITIES


@dataclass(frozen=True, slots=True)
class DemandRegisterConfig:
    logical_name: Obis
    quantity: str = "active_import"
    """The energy accumulator whose average power is measured."""
    period: int = 900
    number_of_periods: int = 1
    scaler: int = 0
    unit: int = Unit.WATT
    value_type: str = "double-long-unsigned"


@dataclass(frozen=True, slots=True)
class CaptureRef:
    """An attribute named in a profile: ``OBIS`` (attribute 2) or ``OBIS:ATTR``."""

    logical_name: Obis
    attribute_index: int = 2


@dataclass(frozen=True, slots=True)
class LoadProfileConfig:
    logical_name: Obis = LOAD_PROFILE_LN
    capture_period: int = 900
    profile_entries: int = 960
    max_entries: int = 0
    """Capacity the meter accepts for profile_entries (0: profile_entries)."""
    capture_objects: tuple[CaptureRef, ...] = ()


@dataclass(frozen=True, slots=True)
class EventLogConfig:
    logical_name: Obis = EVENT_LOG_LN
    event_code_object: Obis = EVENT_CODE_LN
    profile_entries: int = 100
    codes: tuple[tuple[str, int], ...] = tuple(DEFAULT_EVENT_CODES.items())

    def code(self, name: str) -> int | None:
        for key, value in self.codes:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class DisconnectConfig:
    logical_name: Obis = DISCONNECT_CONTROL_LN
    control_mode: int = 1
    script_table: Obis | None = DISCONNECTOR_SCRIPT_TABLE_LN
    """The disconnector script table (script 1 remote_disconnect, 2 remote_reconnect), or None."""
    schedule: Obis | None = None
    """A Single action schedule (class 22) running a script of the script table at its execution
    times (default script 1, disconnect), or None."""


@dataclass(frozen=True, slots=True)
class ImageTransferConfig:
    logical_name: Obis = IMAGE_TRANSFER_LN
    block_size: int = 192
    firmware_object: Obis | None = FIRMWARE_ID_LN
    """Data object holding the active firmware identifier (updated on activation), or None."""
    firmware_version: str = "cosemnet-sim-1.0"


@dataclass(frozen=True, slots=True)
class PushSetupConfig:
    logical_name: Obis = PUSH_SETUP_LN
    push_objects: tuple[CaptureRef, ...] = ()
    transport: int = 0
    destination: bytes = b""
    interval: int = 0
    """Seconds between scheduled pushes, aligned on the clock (0: only when the push method runs)."""
    randomisation_start_interval: int = 0
    number_of_retries: int = 0
    repetition_delay: int = 0


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    """Alarm register (Data, a double-long-unsigned bit field) and the Push setup that sends it when an
    alarm is raised: push objects the push setup's logical name, the device id and the register
    (docs/decisions/0127). A SET of the register clears the bits set in the written value."""

    logical_name: Obis = ALARM_REGISTER_LN
    push_setup: Obis | None = ALARM_PUSH_SETUP_LN


@dataclass(frozen=True, slots=True)
class SecuritySetupConfig:
    logical_name: Obis = SECURITY_SETUP_LN
    security_policy: int = 0
    security_suite: int = 0
    client_system_title: bytes = b""
    ek: bytes | None = field(default=None, repr=False)
    ak: bytes | None = field(default=None, repr=False)
    broadcast_key: bytes | None = field(default=None, repr=False)
    kek: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AssociationConfig:
    logical_name: Obis
    client_sap: int
    referencing: str = "ln"
    """"ln" (Association LN, class 15) or "sn" (Association SN, class 12)."""
    mechanism_id: int = 0
    secret: bytes = field(default=b"", repr=False)
    security_setup: Obis | None = None
    objects: tuple[Obis, ...] | None = None
    """Logical names visible to the association (None: every object)."""
    exclude: tuple[Obis, ...] = ()
    attributes: str = "read-only"
    methods: str = "no-access"
    base_name: int | None = None
    """Base name of an Association SN object (default 0xFA00)."""


@dataclass(frozen=True, slots=True)
class MeterProfile:
    """A whole meter profile (see the module docstring)."""

    identity: Identity
    clock: ClockConfig
    load: LoadModelConfig
    registers: tuple[RegisterConfig, ...]
    demand_registers: tuple[DemandRegisterConfig, ...]
    security_setups: tuple[SecuritySetupConfig, ...]
    associations: tuple[AssociationConfig, ...]
    load_profile: LoadProfileConfig | None = None
    event_log: EventLogConfig | None = None
    disconnect_control: DisconnectConfig | None = None
    image_transfer: ImageTransferConfig | None = None
    push_setup: PushSetupConfig | None = None
    alarm: AlarmConfig | None = None
    sap_assignment: Obis | None = SAP_ASSIGNMENT_LN
    device_id: Obis | None = DEVICE_ID_LN

    def association(self, client_sap: int) -> AssociationConfig | None:
        for a in self.associations:
            if a.client_sap == client_sap:
                return a
        return None


# --------------------------------------------------------------------------------------------------
# Reading


class _Table:
    """A TOML table being read: typed getters that name the key in errors; unknown keys are refused."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ProfileError(f"{path or 'profile'}: must be a table")
        self.data: Mapping[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> ProfileError:
        return ProfileError(f"{self.key(name)}: {message}")

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = None) -> Any:
        self.used.add(name)
        return self.data.get(name, default)

    def str_(self, name: str, default: str) -> str:
        value = self.raw(name, default)
        if not isinstance(value, str):
            raise self.error(name, "must be a string")
        return value

    def int_(self, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, "must be an integer")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(name, f"must be in {low}..{high}, got {value}")
        return value

    def float_(self, name: str, default: float, low: float | None = None, high: float | None = None) -> float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, "must be a number")
        number = float(value)
        if (low is not None and number < low) or (high is not None and number > high):
            raise self.error(name, f"must be in {low}..{high}, got {number}")
        return number

    def bool_(self, name: str, default: bool) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def obis(self, name: str, default: Obis | None) -> Obis | None:
        value = self.raw(name, None)
        if value is None:
            return default
        if value == "":
            return None
        return _parse_obis(value, self.key(name))

    def obis_required(self, name: str, default: Obis | None = None) -> Obis:
        value = self.obis(name, default)
        if value is None:
            raise self.error(name, "is required")
        return value

    def hex_(self, name: str, size: int | None = None) -> bytes | None:
        value = self.raw(name, None)
        if value is None or value == "":
            return None
        result = _parse_hex(value, self.key(name))
        if size is not None and len(result) != size:
            raise self.error(name, f"must be {size} bytes of hex, got {len(result)}")
        return result

    def list_(self, name: str) -> list[Any]:
        value = self.raw(name, [])
        if not isinstance(value, list):
            raise self.error(name, "must be an array")
        return value

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self.str_(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def sub(self, name: str) -> _Table | None:
        value = self.raw(name, None)
        return None if value is None else _Table(value, self.key(name))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ProfileError(f"{self.path or 'profile'}: unknown key(s) {', '.join(unknown)}")


def _parse_obis(value: Any, path: str) -> Obis:
    if not isinstance(value, str):
        raise ProfileError(f"{path}: must be an OBIS code string such as '1-0:1.8.0*255'")
    try:
        return Obis.parse(value)
    except (ValueError, CosemnetError) as exc:
        raise ProfileError(f"{path}: {value!r} is not an OBIS code ({exc})") from None


def _parse_hex(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise ProfileError(f"{path}: must be a hex string")
    try:
        return bytes.fromhex(value.replace(":", "").replace(" ", ""))
    except ValueError:
        raise ProfileError(f"{path}: {value!r} is not hex") from None


_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _parse_time_of_day(value: Any, path: str) -> int:
    if not isinstance(value, str) or not (m := _TIME.match(value)):
        raise ProfileError(f"{path}: must be a time of day 'HH:MM' or 'HH:MM:SS'")
    hours, minutes, seconds = int(m[1]), int(m[2]), int(m[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ProfileError(f"{path}: {value!r} is not a time of day")
    return hours * 3600 + minutes * 60 + seconds


def _parse_curve(table: _Table, name: str, required: bool) -> tuple[tuple[int, float], ...]:
    points = table.list_(name)
    if not points:
        if required:
            raise table.error(name, "needs at least one [time, watts] point")
        return ()
    result: list[tuple[int, float]] = []
    for i, point in enumerate(points):
        where = f"{table.key(name)}[{i}]"
        if not isinstance(point, list) or len(point) != 2:
            raise ProfileError(f'{where}: must be ["HH:MM", watts]')
        second = _parse_time_of_day(point[0], where)
        watts = point[1]
        if isinstance(watts, bool) or not isinstance(watts, int | float) or watts < 0:
            raise ProfileError(f"{where}: watts must be a number >= 0")
        result.append((second, float(watts)))
    seconds = [s for s, _ in result]
    if seconds != sorted(seconds) or len(set(seconds)) != len(seconds):
        raise table.error(name, "times must be strictly increasing")
    return tuple(result)


def _parse_capture_refs(table: _Table, name: str) -> tuple[CaptureRef, ...]:
    refs = []
    for i, item in enumerate(table.list_(name)):
        where = f"{table.key(name)}[{i}]"
        if not isinstance(item, str):
            raise ProfileError(f"{where}: must be 'OBIS' or 'OBIS:ATTR'")
        text, _, attr = item.rpartition(":") if item.count(":") == 2 else (item, "", "")
        if attr and not attr.isdigit():
            raise ProfileError(f"{where}: attribute must be a number")
        refs.append(CaptureRef(_parse_obis(text, where), int(attr) if attr else 2))
    return tuple(refs)


def _parse_unit(table: _Table, name: str, default: int) -> int:
    value = table.raw(name, default)
    if isinstance(value, bool):
        raise table.error(name, "must be a unit symbol, name or number")
    if isinstance(value, int):
        if not 0 <= value <= 255:
            raise table.error(name, "must be 0..255")
        return value
    if isinstance(value, str):
        if value in UNIT_SYMBOLS:
            return int(UNIT_SYMBOLS[value])
        try:
            return int(Unit[value.upper().replace("-", "_")])
        except KeyError:
            pass
    raise table.error(name, f"unknown unit {value!r}")


def _parse_identity(t: _Table) -> Identity:
    manufacturer = t.str_("manufacturer", "MMM")
    if len(manufacturer) != 3 or not manufacturer.isascii() or not manufacturer.isupper():
        raise t.error("manufacturer", "must be a three-letter upper-case FLAG id")
    serial = t.int_("serial", 12345678, 0, 2**40 - 1)
    ldn = t.str_("logical_device_name", "")
    if len(ldn.encode()) > 16:
        raise t.error("logical_device_name", "must be at most 16 bytes")
    identity = Identity(
        manufacturer=manufacturer,
        serial=serial,
        logical_device_name=ldn,
        system_title=t.hex_("system_title", 8) or b"",
        device_id=t.str_("device_id", ""),
        server_sap=t.int_("server_sap", 1, 1, 0x3FFF),
    )
    t.done()
    return identity


def _parse_clock(t: _Table | None) -> ClockConfig:
    if t is None:
        return ClockConfig()
    config = ClockConfig(
        logical_name=t.obis_required("logical_name", CLOCK_LN),
        time_zone=t.int_("time_zone", 0, -720, 720),
        dst_enabled=t.bool_("dst_enabled", False),
        dst_deviation=t.int_("dst_deviation", 60, -120, 120),
        dst_begin=t.hex_("dst_begin", 12),
        dst_end=t.hex_("dst_end", 12),
        clock_base=t.int_("clock_base", 1, 0, 5),
    )
    t.done()
    return config


def _parse_load(t: _Table) -> LoadModelConfig:
    phases = []
    for i, item in enumerate(t.list_("phases")):
        p = _Table(item, f"{t.key('phases')}[{i}]")
        phases.append(PhaseLoad(_parse_curve(p, "consumption", True), _parse_curve(p, "generation", False)))
        p.done()
    if not 1 <= len(phases) <= 3:
        raise t.error("phases", "needs 1 to 3 [[load.phases]] tables")
    tariffs = []
    for i, item in enumerate(t.list_("tariffs")):
        where = f"{t.key('tariffs')}[{i}]"
        if not isinstance(item, list) or len(item) != 2 or item[1] not in (1, 2) or isinstance(item[1], bool):
            raise ProfileError(f'{where}: must be ["HH:MM", 1 or 2]')
        tariffs.append((_parse_time_of_day(item[0], where), int(item[1])))
    if [s for s, _ in tariffs] != sorted({s for s, _ in tariffs}):
        raise t.error("tariffs", "times must be strictly increasing")
    config = LoadModelConfig(
        phases=tuple(phases),
        voltage=t.float_("voltage", 230.0, 1.0, 1000.0),
        frequency=t.float_("frequency", 50.0, 1.0, 1000.0),
        power_factor=t.float_("power_factor", 0.95, 0.05, 1.0),
        scale_spread=t.float_("scale_spread", 0.0, 0.0, 0.99),
        day_spread=t.float_("day_spread", 0.0, 0.0, 0.99),
        generation_spread=t.float_("generation_spread", 0.0, 0.0, 0.99),
        voltage_spread=t.float_("voltage_spread", 0.0, 0.0, 0.5),
        frequency_spread=t.float_("frequency_spread", 0.0, 0.0, 5.0),
        tariffs=tuple(tariffs) or ((0, 1),),
    )
    t.done()
    return config


def _parse_register(t: _Table) -> RegisterConfig:
    quantity = t.choice("quantity", "", ENERGY_QUANTITIES + INSTANTANEOUS_QUANTITIES)
    energy = quantity in ENERGY_QUANTITIES
    default_unit = int(Unit.WATT_HOUR if energy else Unit.COUNT)
    if quantity.startswith("reactive"):
        default_unit = int(Unit.VAR_HOUR)
    config = RegisterConfig(
        logical_name=t.obis_required("logical_name"),
        quantity=quantity,
        scaler=t.int_("scaler", 0, -128, 127),
        unit=_parse_unit(t, "unit", default_unit),
        value_type=t.choice("type", "double-long-unsigned", VALUE_TYPES),
        initial=t.float_("initial", 0.0, 0.0),
    )
    if not energy and config.initial:
        raise t.error("initial", "only energy registers have an initial value")
    t.done()
    return config


def _parse_demand(t: _Table) -> DemandRegisterConfig:
    config = DemandRegisterConfig(
        logical_name=t.obis_required("logical_name"),
        quantity=t.choice("quantity", "active_import", ENERGY_QUANTITIES),
        period=t.int_("period", 900, 1, 2**32 - 1),
        number_of_periods=t.int_("number_of_periods", 1, 1, 0xFFFF),
        scaler=t.int_("scaler", 0, -128, 127),
        unit=_parse_unit(t, "unit", int(Unit.WATT)),
        value_type=t.choice("type", "double-long-unsigned", VALUE_TYPES),
    )
    t.done()
    return config


def _parse_load_profile(t: _Table) -> LoadProfileConfig:
    entries = t.int_("profile_entries", 960, 0, 2**32 - 1)
    config = LoadProfileConfig(
        logical_name=t.obis_required("logical_name", LOAD_PROFILE_LN),
        capture_period=t.int_("capture_period", 900, 0, 2**32 - 1),
        profile_entries=entries,
        max_entries=t.int_("max_entries", 0, 0, 2**32 - 1),
        capture_objects=_parse_capture_refs(t, "capture_objects"),
    )
    if config.max_entries and config.max_entries < entries:
        raise t.error("max_entries", "must be at least profile_entries")
    t.done()
    return config


def _parse_event_log(t: _Table) -> EventLogConfig:
    codes = dict(DEFAULT_EVENT_CODES)
    sub = t.sub("codes")
    if sub is not None:
        for name in sub.data:
            if name not in DEFAULT_EVENT_CODES:
                raise sub.error(name, f"unknown event; known: {', '.join(DEFAULT_EVENT_CODES)}")
            codes[name] = sub.int_(name, 0, 0, 255)
        sub.done()
    config = EventLogConfig(
        logical_name=t.obis_required("logical_name", EVENT_LOG_LN),
        event_code_object=t.obis_required("event_code_object", EVENT_CODE_LN),
        profile_entries=t.int_("profile_entries", 100, 0, 2**32 - 1),
        codes=tuple(codes.items()),
    )
    t.done()
    return config


def _parse_disconnect(t: _Table) -> DisconnectConfig:
    config = DisconnectConfig(
        logical_name=t.obis_required("logical_name", DISCONNECT_CONTROL_LN),
        control_mode=t.int_("control_mode", 1, 0, 6),
        script_table=t.obis("script_table", DISCONNECTOR_SCRIPT_TABLE_LN),
        schedule=t.obis("schedule", None),
    )
    if config.schedule is not None and config.script_table is None:
        raise t.error("schedule", "needs the script_table it runs")
    t.done()
    return config


def _parse_image_transfer(t: _Table) -> ImageTransferConfig:
    config = ImageTransferConfig(
        logical_name=t.obis_required("logical_name", IMAGE_TRANSFER_LN),
        block_size=t.int_("block_size", 192, 1, 0xFFFF),
        firmware_object=t.obis("firmware_object", FIRMWARE_ID_LN),
        firmware_version=t.str_("firmware_version", "cosemnet-sim-1.0"),
    )
    t.done()
    return config


def _parse_push(t: _Table) -> PushSetupConfig:
    transport = t.choice("transport", "tcp", tuple(TRANSPORTS))
    config = PushSetupConfig(
        logical_name=t.obis_required("logical_name", PUSH_SETUP_LN),
        push_objects=_parse_capture_refs(t, "push_objects"),
        transport=TRANSPORTS[transport],
        destination=t.str_("destination", "").encode(),
        interval=t.int_("interval", 0, 0, 2**32 - 1),
        randomisation_start_interval=t.int_("randomisation_start_interval", 0, 0, 0xFFFF),
        number_of_retries=t.int_("number_of_retries", 0, 0, 0xFF),
        repetition_delay=t.int_("repetition_delay", 0, 0, 0xFFFF),
    )
    t.done()
    return config


def _parse_alarm(t: _Table) -> AlarmConfig:
    config = AlarmConfig(
        logical_name=t.obis_required("logical_name", ALARM_REGISTER_LN),
        push_setup=t.obis("push_setup", ALARM_PUSH_SETUP_LN),
    )
    t.done()
    return config


def _parse_policy(t: _Table) -> int:
    value = t.raw("security_policy", [])
    if isinstance(value, int) and not isinstance(value, bool):
        if value & ~0xFC or value < 0:
            raise t.error("security_policy", "must use only the version 1 bits 0x04..0x80")
        return value
    if not isinstance(value, list):
        raise t.error("security_policy", "must be a list of flag names or an integer")
    policy = 0
    for flag in value:
        if flag not in POLICY_FLAGS:
            raise t.error("security_policy", f"unknown flag {flag!r}; known: {', '.join(POLICY_FLAGS)}")
        policy |= POLICY_FLAGS[flag]
    return policy


def _parse_security_setup(t: _Table) -> SecuritySetupConfig:
    suite = t.int_("security_suite", 0, 0, 2)
    key_length = 32 if suite == 2 else 16
    config = SecuritySetupConfig(
        logical_name=t.obis_required("logical_name", SECURITY_SETUP_LN),
        security_policy=_parse_policy(t),
        security_suite=suite,
        client_system_title=t.hex_("client_system_title", 8) or b"",
        ek=t.hex_("ek", key_length),
        ak=t.hex_("ak", key_length),
        broadcast_key=t.hex_("broadcast_key", key_length),
        kek=t.hex_("kek", key_length),
    )
    if config.security_policy & 0x24 and config.ak is None:
        raise t.error("ak", "an authenticating security policy needs the authentication key")
    if config.security_policy & 0x48 and config.ek is None:
        raise t.error("ek", "an encrypting security policy needs the encryption key")
    t.done()
    return config


def _parse_secret(t: _Table) -> bytes:
    value = t.raw("secret", "")
    if not isinstance(value, str):
        raise t.error("secret", "must be a string (hex, or text: prefixed 'text:')")
    if value.startswith("text:"):
        return value[5:].encode()
    if value.startswith("hex:"):
        return _parse_hex(value[4:], t.key("secret"))
    return value.encode()


def _parse_association(t: _Table) -> AssociationConfig:
    objects_raw = t.raw("objects", "*")
    objects: tuple[Obis, ...] | None
    if objects_raw == "*":
        objects = None
    elif isinstance(objects_raw, list):
        objects = tuple(_parse_obis(v, f"{t.key('objects')}[{i}]") for i, v in enumerate(objects_raw))
    else:
        raise t.error("objects", "must be '*' or a list of OBIS codes")
    exclude = tuple(_parse_obis(v, f"{t.key('exclude')}[{i}]") for i, v in enumerate(t.list_("exclude")))
    referencing = t.choice("referencing", "ln", ("ln", "sn"))
    mechanism = t.choice("mechanism", "none", tuple(MECHANISMS))
    base_name = t.raw("base_name", None)
    if base_name is not None and (
        isinstance(base_name, bool) or not isinstance(base_name, int) or base_name % 8 or base_name < 0
    ):
        raise t.error("base_name", "must be a multiple of 8 in 0..0xFFFF")
    config = AssociationConfig(
        logical_name=t.obis_required("logical_name"),
        client_sap=t.int_("client_sap", 16, 0, 0x7F),
        referencing=referencing,
        mechanism_id=MECHANISMS[mechanism],
        secret=_parse_secret(t),
        security_setup=t.obis("security_setup", None),
        objects=objects,
        exclude=exclude,
        attributes=t.choice("attributes", "read-only", ATTRIBUTE_MODES),
        methods=t.choice("methods", "no-access", METHOD_MODES),
        base_name=base_name,
    )
    if referencing == "ln" and base_name is not None:
        raise t.error("base_name", "only an SN association has a base_name")
    if config.mechanism_id in (1, 2, 3, 4, 6) and not config.secret:
        raise t.error("secret", f"mechanism {mechanism} needs a secret")
    t.done()
    return config


def _tables(t: _Table, name: str) -> list[_Table]:
    return [_Table(item, f"{t.key(name)}[{i}]") for i, item in enumerate(t.list_(name))]


def parse_profile(source: str | Mapping[str, Any]) -> MeterProfile:
    """A :class:`MeterProfile` from TOML text or a parsed mapping; :class:`ProfileError` if invalid."""
    if isinstance(source, str):
        try:
            data: Mapping[str, Any] = tomllib.loads(source)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"not valid TOML: {exc}") from None
    else:
        data = source
    root = _Table(data, "")
    identity_table = root.sub("identity")
    load_table = root.sub("load")
    if load_table is None:
        raise root.error("load", "the [load] table is required")

    def optional(name: str) -> _Table | None:
        return root.sub(name)

    lp, ev, dc, it, ps = (
        optional(n)
        for n in ("load_profile", "event_log", "disconnect_control", "image_transfer", "push_setup")
    )
    profile = MeterProfile(
        identity=_parse_identity(identity_table) if identity_table is not None else Identity(),
        clock=_parse_clock(root.sub("clock")),
        load=_parse_load(load_table),
        registers=tuple(_parse_register(r) for r in _tables(root, "registers")),
        demand_registers=tuple(_parse_demand(r) for r in _tables(root, "demand_registers")),
        security_setups=tuple(_parse_security_setup(r) for r in _tables(root, "security_setups")),
        associations=tuple(_parse_association(r) for r in _tables(root, "associations")),
        load_profile=_parse_load_profile(lp) if lp is not None else None,
        event_log=_parse_event_log(ev) if ev is not None else None,
        disconnect_control=_parse_disconnect(dc) if dc is not None else None,
        image_transfer=_parse_image_transfer(it) if it is not None else None,
        push_setup=_parse_push(ps) if ps is not None else None,
        alarm=_parse_alarm(al) if (al := optional("alarm")) is not None else None,
        sap_assignment=root.obis("sap_assignment", SAP_ASSIGNMENT_LN),
        device_id=root.obis("device_id", DEVICE_ID_LN),
    )
    root.done()
    _check_profile(profile)
    return profile


def _check_profile(profile: MeterProfile) -> None:
    """Cross-table checks: unique SAPs and names, references that resolve."""
    saps = [a.client_sap for a in profile.associations]
    if len(set(saps)) != len(saps):
        raise ProfileError("associations: each client_sap may appear once")
    if not profile.associations:
        raise ProfileError("associations: at least one association is needed")
    setups = {s.logical_name for s in profile.security_setups}
    if len(setups) != len(profile.security_setups):
        raise ProfileError("security_setups: logical names must be unique")
    for i, a in enumerate(profile.associations):
        if a.security_setup is not None and a.security_setup not in setups:
            raise ProfileError(f"associations[{i}].security_setup: no security setup {a.security_setup}")
        if a.mechanism_id in (5, 7) and a.security_setup is None:
            raise ProfileError(f"associations[{i}].security_setup: HLS-GMAC/ECDSA needs a security setup")
    registers = [r.logical_name for r in profile.registers] + [
        d.logical_name for d in profile.demand_registers
    ]
    if len(set(registers)) != len(registers):
        raise ProfileError("registers: logical names must be unique")


def load_profile(path: str | Path | None = None) -> MeterProfile:
    """Load a profile from a TOML file, or the embedded default profile when ``path`` is None."""
    if path is None:
        text = resources.files("cosemnet.simulator").joinpath(DEFAULT_PROFILE_RESOURCE).read_text("utf-8")
        return parse_profile(text)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror}") from None
    return parse_profile(text)


__all__ = [
    "ATTRIBUTE_MODES",
    "DEFAULT_EVENT_CODES",
    "ENERGY_QUANTITIES",
    "INSTANTANEOUS_QUANTITIES",
    "MECHANISMS",
    "METHOD_MODES",
    "VALUE_TYPES",
    "AlarmConfig",
    "AssociationConfig",
    "CaptureRef",
    "ClockConfig",
    "DemandRegisterConfig",
    "DisconnectConfig",
    "EventLogConfig",
    "Identity",
    "ImageTransferConfig",
    "LoadModelConfig",
    "LoadProfileConfig",
    "MeterProfile",
    "PhaseLoad",
    "ProfileError",
    "PushSetupConfig",
    "RegisterConfig",
    "SecuritySetupConfig",
    "load_profile",
    "parse_profile",
]
