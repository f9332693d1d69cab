"""COSEM date, time and date-time (IEC 62056-6-2, 4.1.6.1).

Byte layouts (big-endian):

* date-time, 12 bytes: year(2) month day day-of-week hour minute second hundredths deviation(2) status
* date, 5 bytes: year(2) month day day-of-week
* time, 4 bytes: hour minute second hundredths

Special values: year 0xFFFF, any one-byte field 0xFF = not specified; month 0xFD/0xFE = daylight
saving end/begin; day-of-month 0xFD/0xFE = second last/last day of the month; deviation 0x8000 = not
specified. ``deviation`` is in minutes of *local time to UTC*, so ``UTC = local + deviation``: a meter
on UTC+01:00 sends -60 (the sign most implementations and the SET vector of spec-notes use).
Clock status bits: see :class:`ClockStatus`.
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass
from enum import IntFlag

from cosemnet.errors import CosemnetError, DecodeError, EncodeError

NOT_SPECIFIED = 0xFF
YEAR_NOT_SPECIFIED = 0xFFFF
DEVIATION_NOT_SPECIFIED = -0x8000  # 0x8000 read as a signed 16-bit value
MONTH_DST_END = 0xFD
MONTH_DST_BEGIN = 0xFE
DAY_SECOND_LAST = 0xFD
DAY_LAST = 0xFE

_DATE_TIME = struct.Struct(">HBBBBBBBhB")
_DATE = struct.Struct(">HBBB")
_TIME = struct.Struct(">BBBB")


class DateTimeConversionError(CosemnetError, ValueError):
    """A COSEM date/time cannot be turned into a Python ``datetime`` (or the reverse)."""


class ClockStatus(IntFlag):
    INVALID_VALUE = 0x01
    DOUBTFUL_VALUE = 0x02
    DIFFERENT_CLOCK_BASE = 0x04
    INVALID_CLOCK_STATUS = 0x08
    DAYLIGHT_SAVING_ACTIVE = 0x80


def _check_date(year: int, month: int, day: int, day_of_week: int) -> None:
    if not (0 <= year <= 0xFFFF):
        raise EncodeError(f"year {year} out of range")
    if not (1 <= month <= 12 or month in (MONTH_DST_END, MONTH_DST_BEGIN, NOT_SPECIFIED)):
        raise EncodeError(f"month {month} is not 1..12, 0xFD, 0xFE or 0xFF")
    if not (1 <= day <= 31 or day in (DAY_SECOND_LAST, DAY_LAST, NOT_SPECIFIED)):
        raise EncodeError(f"day of month {day} is not 1..31, 0xFD, 0xFE or 0xFF")
    if not (1 <= day_of_week <= 7 or day_of_week == NOT_SPECIFIED):
        raise EncodeError(f"day of week {day_of_week} is not 1..7 or 0xFF")


def _check_time(hour: int, minute: int, second: int, hundredths: int) -> None:
    for name, value, top in (("hour", hour, 23), ("minute", minute, 59), ("second", second, 59)):
        if not (0 <= value <= top or value == NOT_SPECIFIED):
            raise EncodeError(f"{name} {value} is not 0..{top} or 0xFF")
    if not (0 <= hundredths <= 99 or hundredths == NOT_SPECIFIED):
        raise EncodeError(f"hundredths {hundredths} is not 0..99 or 0xFF")


@dataclass(frozen=True, slots=True)
class CosemDate:
    year: int = YEAR_NOT_SPECIFIED
    month: int = NOT_SPECIFIED
    day: int = NOT_SPECIFIED
    day_of_week: int = NOT_SPECIFIED

    def __post_init__(self) -> None:
        _check_date(self.year, self.month, self.day, self.day_of_week)

    def to_bytes(self) -> bytes:
        """The 5-byte A-XDR date (year, month, day of month, day of week)."""
        return _DATE.pack(self.year, self.month, self.day, self.day_of_week)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> CosemDate:
        """Decode 5 bytes at ``offset`` (DecodeError when fewer or a field is out of range)."""
        if len(data) - offset < 5:
            raise DecodeError("date needs 5 bytes", offset, "date")
        try:
            return cls(*_DATE.unpack_from(data, offset))
        except EncodeError as exc:
            raise DecodeError(str(exc), offset, "date") from None

    @classmethod
    def from_date(cls, value: _dt.date) -> CosemDate:
        """The COSEM date of a ``datetime.date`` (day of week from the date)."""
        return cls(value.year, value.month, value.day, value.isoweekday())

    def to_date(self) -> _dt.date:
        """A ``datetime.date``; DateTimeConversionError when a field is not specified or special."""
        if self.year == YEAR_NOT_SPECIFIED or not (1 <= self.month <= 12) or not (1 <= self.day <= 31):
            raise DateTimeConversionError(f"{self} has unspecified or special fields; no calendar date")
        try:
            return _dt.date(self.year, self.month, self.day)
        except ValueError as exc:
            raise DateTimeConversionError(str(exc)) from None

    def __str__(self) -> str:
        y = "*" if self.year == YEAR_NOT_SPECIFIED else f"{self.year:04d}"
        return f"{y}-{_fmt_month(self.month)}-{_fmt_day(self.day)}"


@dataclass(frozen=True, slots=True)
class CosemTime:
    hour: int = NOT_SPECIFIED
    minute: int = NOT_SPECIFIED
    second: int = NOT_SPECIFIED
    hundredths: int = NOT_SPECIFIED

    def __post_init__(self) -> None:
        _check_time(self.hour, self.minute, self.second, self.hundredths)

    def to_bytes(self) -> bytes:
        """The 4-byte A-XDR time (hour, minute, second, hundredths)."""
        return _TIME.pack(self.hour, self.minute, self.second, self.hundredths)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> CosemTime:
        """Decode 4 bytes at ``offset`` (DecodeError when fewer or a field is out of range)."""
        if len(data) - offset < 4:
            raise DecodeError("time needs 4 bytes", offset, "time")
        try:
            return cls(*_TIME.unpack_from(data, offset))
        except EncodeError as exc:
            raise DecodeError(str(exc), offset, "time") from None

    @classmethod
    def from_time(cls, value: _dt.time) -> CosemTime:
        """The COSEM time of a ``datetime.time`` (microseconds rounded down to hundredths)."""
        return cls(value.hour, value.minute, value.second, value.microsecond // 10000)

    def to_time(self) -> _dt.time:
        """A ``datetime.time``; DateTimeConversionError when a field is not specified."""
        if NOT_SPECIFIED in (self.hour, self.minute, self.second):
            raise DateTimeConversionError(f"{self} has unspecified fields; no wall-clock time")
        hundredths = 0 if self.hundredths == NOT_SPECIFIED else self.hundredths
        return _dt.time(self.hour, self.minute, self.second, hundredths * 10000)

    def __str__(self) -> str:
        parts = [("*" if v == NOT_SPECIFIED else f"{v:02d}") for v in (self.hour, self.minute, self.second)]
        text = ":".join(parts)
        if self.hundredths != NOT_SPECIFIED:
            text += f".{self.hundredths:02d}"
        return text


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    """A COSEM date-time with every field as sent. ``deviation`` -32768 means not specified."""

    year: int = YEAR_NOT_SPECIFIED
    month: int = NOT_SPECIFIED
    day: int = NOT_SPECIFIED
    day_of_week: int = NOT_SPECIFIED
    hour: int = NOT_SPECIFIED
    minute: int = NOT_SPECIFIED
    second: int = NOT_SPECIFIED
    hundredths: int = NOT_SPECIFIED
    deviation: int = DEVIATION_NOT_SPECIFIED
    clock_status: int = NOT_SPECIFIED

    def __post_init__(self) -> None:
        _check_date(self.year, self.month, self.day, self.day_of_week)
        _check_time(self.hour, self.minute, self.second, self.hundredths)
        if not (-720 <= self.deviation <= 720 or self.deviation == DEVIATION_NOT_SPECIFIED):
            raise EncodeError(f"deviation {self.deviation} is not -720..720 or 0x8000")
        if not 0 <= self.clock_status <= 0xFF:
            raise EncodeError(f"clock status {self.clock_status} is not one byte")

    @property
    def date(self) -> CosemDate:
        """The date part."""
        return CosemDate(self.year, self.month, self.day, self.day_of_week)

    @property
    def time(self) -> CosemTime:
        """The time part."""
        return CosemTime(self.hour, self.minute, self.second, self.hundredths)

    def to_bytes(self) -> bytes:
        """The 12-byte A-XDR date-time (date, time, deviation, clock status)."""
        return _DATE_TIME.pack(
            self.year,
            self.month,
            self.day,
            self.day_of_week,
            self.hour,
            self.minute,
            self.second,
            self.hundredths,
            self.deviation,
            self.clock_status,
        )

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> CosemDateTime:
        """Decode 12 bytes at ``offset`` (DecodeError when fewer or a field is out of range)."""
        if len(data) - offset < 12:
            raise DecodeError("date-time needs 12 bytes", offset, "date-time")
        try:
            return cls(*_DATE_TIME.unpack_from(data, offset))
        except EncodeError as exc:
            raise DecodeError(str(exc), offset, "date-time") from None

    @classmethod
    def from_datetime(cls, value: _dt.datetime, clock_status: int = 0) -> CosemDateTime:
        """From an aware ``datetime`` (deviation taken from its UTC offset, whole minutes only)."""
        offset = value.utcoffset()
        if offset is None:
            raise DateTimeConversionError("naive datetime: give it a tzinfo so the deviation is known")
        seconds = offset.total_seconds()
        if seconds % 60:
            raise DateTimeConversionError("UTC offset is not a whole number of minutes")
        dst = value.dst()
        if dst:
            clock_status |= ClockStatus.DAYLIGHT_SAVING_ACTIVE
        return cls(
            value.year,
            value.month,
            value.day,
            value.isoweekday(),
            value.hour,
            value.minute,
            value.second,
            value.microsecond // 10000,
            -int(seconds // 60),
            clock_status,
        )

    def to_datetime(self, default_tz: _dt.tzinfo | None = None) -> _dt.datetime:
        """An aware ``datetime``.

        Raises :class:`DateTimeConversionError` when a date or time field is not specified or special
        (DST markers, last day of month), or when the deviation is not specified and no
        ``default_tz`` is given. Unspecified hundredths count as 0.
        """
        if (
            self.year == YEAR_NOT_SPECIFIED
            or not (1 <= self.month <= 12)
            or not (1 <= self.day <= 31)
            or NOT_SPECIFIED in (self.hour, self.minute, self.second)
        ):
            raise DateTimeConversionError(f"{self} has unspecified or special fields; no point in time")
        hundredths = 0 if self.hundredths == NOT_SPECIFIED else self.hundredths
        tz: _dt.tzinfo
        if self.deviation == DEVIATION_NOT_SPECIFIED:
            if default_tz is None:
                raise DateTimeConversionError(f"{self}: deviation not specified; pass default_tz")
            tz = default_tz
        else:
            tz = _dt.timezone(_dt.timedelta(minutes=-self.deviation))
        try:
            return _dt.datetime(
                self.year, self.month, self.day, self.hour, self.minute, self.second, hundredths * 10000, tz
            )
        except ValueError as exc:
            raise DateTimeConversionError(str(exc)) from None

    def __str__(self) -> str:
        text = f"{self.date} {self.time}"
        if self.deviation != DEVIATION_NOT_SPECIFIED:
            off = -self.deviation
            sign = "+" if off >= 0 else "-"
            text += f" UTC{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}"
        if self.clock_status not in (0, NOT_SPECIFIED):
            text += f" status=0x{self.clock_status:02X}"
        return text


def _fmt_month(month: int) -> str:
    return {MONTH_DST_END: "DSTend", MONTH_DST_BEGIN: "DSTbegin", NOT_SPECIFIED: "*"}.get(
        month, f"{month:02d}"
    )


def _fmt_day(day: int) -> str:
    return {DAY_SECOND_LAST: "secondlast", DAY_LAST: "last", NOT_SPECIFIED: "*"}.get(day, f"{day:02d}")
