"""OBIS codes (IEC 62056-6-1): six value groups A-B:C.D.E*F.

:class:`Obis` is a ``bytes`` subclass of length 6, so it goes on the wire as-is and compares equal
to the raw six bytes. Parsing accepts every common textual form::

    Obis.parse("1-0:1.8.0*255")   Obis.parse("1-0:1.8.0.255")   Obis.parse("1.0.1.8.0.255")
    Obis.parse("0100010800FF")    Obis.parse("01 00 01 08 00 FF")   Obis.parse("1-0:1.8.0")  (F=255)
"""

from __future__ import annotations

import re

from cosemnet.errors import EncodeError

_TEXT = re.compile(r"^\s*(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:[*.&](\d{1,3}))?\s*$")
_DOTTED = re.compile(
    r"^\s*(\d{1,3})[.,;](\d{1,3})[.,;](\d{1,3})[.,;](\d{1,3})[.,;](\d{1,3})[.,;](\d{1,3})\s*$"
)
_HEX = re.compile(r"^\s*(?:0x)?((?:[0-9A-Fa-f]{2}[\s:-]?){6})\s*$")


class Obis(bytes):
    """A six-byte OBIS code."""

    __slots__ = ()

    def __new__(cls, value: bytes | bytearray | memoryview | str | tuple[int, ...] | list[int]) -> Obis:
        if isinstance(value, str):
            return cls.parse(value)
        raw = bytes(value)
        if len(raw) != 6:
            raise EncodeError(f"an OBIS code has 6 bytes, got {len(raw)}")
        return bytes.__new__(cls, raw)

    @classmethod
    def parse(cls, text: str) -> Obis:
        """Parse any of the textual forms listed in the module docstring."""
        m = _TEXT.match(text)
        if m:
            groups = [int(g) if g is not None else 255 for g in m.groups()]
        else:
            m = _DOTTED.match(text)
            if m:
                groups = [int(g) for g in m.groups()]
            else:
                m = _HEX.match(text)
                if not m:
                    raise EncodeError(
                        f"not an OBIS code: {text!r} (use A-B:C.D.E*F, A.B.C.D.E.F or 12 hex digits)"
                    )
                digits = re.sub(r"[\s:-]", "", m.group(1))
                groups = list(bytes.fromhex(digits))
        if any(g > 255 for g in groups):
            raise EncodeError(f"OBIS value groups are 0..255: {text!r}")
        return bytes.__new__(cls, bytes(groups))

    @property
    def a(self) -> int:
        return self[0]

    @property
    def b(self) -> int:
        return self[1]

    @property
    def c(self) -> int:
        return self[2]

    @property
    def d(self) -> int:
        return self[3]

    @property
    def e(self) -> int:
        return self[4]

    @property
    def f(self) -> int:
        return self[5]

    def __str__(self) -> str:
        a, b, c, d, e, f = self
        return f"{a}-{b}:{c}.{d}.{e}*{f}"

    def dotted(self) -> str:
        return ".".join(str(v) for v in self)

    def __repr__(self) -> str:
        return f"Obis('{self}')"
