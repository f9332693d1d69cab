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
        """Value group A (media: 0 abstract, 1 electricity, ...)."""
        return self[0]

    @property
    def b(self) -> int:
        """Value group B (channel)."""
        return self[1]

    @property
    def c(self) -> int:
        """Value group C (the quantity, e.g. 1 active power +)."""
        return self[2]

    @property
    def d(self) -> int:
        """Value group D (the processing, e.g. 8 time integral 1)."""
        return self[3]

    @property
    def e(self) -> int:
        """Value group E (further classification, e.g. a tariff)."""
        return self[4]

    @property
    def f(self) -> int:
        """Value group F (historical values; 255 when not used)."""
        return self[5]

    def __str__(self) -> str:
        a, b, c, d, e, f = self
        return f"{a}-{b}:{c}.{d}.{e}*{f}"

    def dotted(self) -> str:
        """The six groups as ``1.0.1.8.0.255``."""
        return ".".join(str(v) for v in self)

    def __repr__(self) -> str:
        return f"Obis('{self}')"

    @property
    def name(self) -> str | None:
        """A human-readable name of this code from the well-known table, or None (see :func:`obis_name`)."""
        return obis_name(self)


# --------------------------------------------------------------------------------------------------
# Names of well-known OBIS codes
#
# Two kinds of data, both plain tables:
#
# * ``_PATTERNS``: (pattern, template). A pattern is a textual OBIS code whose value groups are
#   either a number (must match), ``*`` (any value) or one of the letters a..f (any value, bound for
#   the template, which is ``str.format``-ed with a..f). The entry with the most literal groups wins;
#   among equals, the first listed.
# * For A=1 (electricity) codes not in ``_PATTERNS``: the name is composed from the quantity (C,
#   ``_ELECTRICITY_QUANTITY``), the processing (D, ``_PROCESSING``) and the tariff (E: 0 = total,
#   1..63 = tariff E).
#
# When nothing matches, the lookup tries again with B=0 (and appends ", channel B") and with F=255
# (and appends ", historical value F"). Design choice: the standard has no machine-readable name
# list; the names follow the wording of the Blue Book object lists and of DSMR, shortened.

_PATTERNS: tuple[tuple[str, str], ...] = (
    # --- abstract objects (A=0) ---
    ("0-0:1.0.0*255", "Clock"),
    ("0-0:1.0.e*255", "Clock {e}"),
    ("0-0:0.1.0*255", "Billing period counter"),
    ("0-0:0.1.2*255", "Time stamp of the most recent billing period"),
    ("a-0:0.9.1*255", "Local time"),
    ("a-0:0.9.2*255", "Local date"),
    ("0-0:10.0.0*255", "Global meter reset script table"),
    ("0-0:10.0.1*255", "MDI reset / end of billing period script table"),
    ("0-0:10.0.100*255", "Tariffication script table"),
    ("0-0:10.0.106*255", "Disconnect control script table"),
    ("0-0:10.0.107*255", "Image activation script table"),
    ("0-0:10.0.108*255", "Push script table"),
    ("0-0:10.0.e*255", "Script table {e}"),
    ("0-0:11.0.0*255", "Special days table"),
    ("0-0:12.0.0*255", "Schedule"),
    ("0-0:13.0.0*255", "Activity calendar"),
    ("0-0:14.0.0*255", "Register activation"),
    ("0-0:15.0.0*255", "End of billing period single action schedule"),
    ("0-0:15.0.1*255", "Disconnect control single action schedule"),
    ("0-0:15.0.2*255", "Image activation single action schedule"),
    ("0-0:15.0.4*255", "Push single action schedule"),
    ("0-0:15.0.e*255", "Single action schedule {e}"),
    ("0-0:16.1.e*255", "Register monitor {e}"),
    ("0-0:17.0.0*255", "Limiter"),
    ("0-0:17.0.e*255", "Limiter {e}"),
    ("0-0:20.0.0*255", "IEC optical port setup"),
    ("0-0:22.0.0*255", "IEC HDLC setup"),
    ("0-0:25.0.0*255", "TCP-UDP setup"),
    ("0-0:25.0.e*255", "TCP-UDP setup {e}"),
    ("0-0:25.1.0*255", "IPv4 setup"),
    ("0-0:25.2.0*255", "MAC address setup"),
    ("0-0:25.3.0*255", "PPP setup"),
    ("0-0:25.4.0*255", "GPRS modem setup"),
    ("0-0:25.5.0*255", "SMTP setup"),
    ("0-0:25.6.0*255", "GSM diagnostic"),
    ("0-0:25.7.0*255", "IPv6 setup"),
    ("0-0:25.9.0*255", "Push setup"),
    ("0-0:25.9.e*255", "Push setup {e}"),
    ("0-0:32.0.0*255", "ISO/IEC 14908 identification"),
    ("0-0:32.1.0*255", "ISO/IEC 14908 protocol setup"),
    ("0-0:32.2.0*255", "ISO/IEC 14908 protocol status"),
    ("0-0:32.3.0*255", "ISO/IEC 14908 diagnostic"),
    ("0-0:40.0.0*255", "Current association"),
    ("0-0:40.0.e*255", "Association {e}"),
    ("0-0:41.0.0*255", "SAP assignment"),
    ("0-0:42.0.0*255", "COSEM logical device name"),
    ("0-0:43.0.0*255", "Security setup"),
    ("0-0:43.0.e*255", "Security setup {e}"),
    ("0-0:43.1.0*255", "Invocation counter"),
    ("0-0:43.1.e*255", "Invocation counter {e}"),
    ("0-0:44.0.0*255", "Image transfer"),
    ("0-0:44.0.e*255", "Image transfer {e}"),
    ("0-0:65.0.e*255", "Utility table BT{e:02d}"),
    ("0-0:65.0.0*255", "Utility table BT00 (general configuration)"),
    ("0-0:65.0.1*255", "Utility table BT01 (manufacturer identification)"),
    ("0-0:65.0.2*255", "Utility table BT02 (device nameplate)"),
    ("0-0:65.0.3*255", "Utility table BT03 (end device mode and status)"),
    ("0-0:65.0.5*255", "Utility table BT05 (device identification)"),
    ("0-0:65.0.21*255", "Utility table BT21 (actual register)"),
    ("0-0:65.0.23*255", "Utility table BT23 (current register data)"),
    ("0-0:65.0.28*255", "Utility table BT28 (present register data)"),
    ("0-0:65.0.52*255", "Utility table BT52 (clock)"),
    ("0-0:65.0.61*255", "Utility table BT61 (actual load profile)"),
    ("0-0:65.0.64*255", "Utility table BT64 (load profile data set 1)"),
    ("0-0:65.0.76*255", "Utility table BT76 (event log data)"),
    ("0-0:96.1.0*255", "Device ID 1 (manufacturing number)"),
    ("0-0:96.1.1*255", "Device ID 2"),
    ("0-0:96.1.2*255", "Device ID 3"),
    ("0-0:96.1.3*255", "Device ID 4"),
    ("0-0:96.1.4*255", "Device ID 5"),
    ("0-0:96.1.5*255", "Device ID 6"),
    ("0-0:96.1.6*255", "Device ID 7"),
    ("0-0:96.1.7*255", "Device ID 8"),
    ("0-0:96.1.8*255", "Device ID 9"),
    ("0-0:96.1.9*255", "Device ID 10"),
    ("0-0:96.3.10*255", "Disconnect control"),
    ("0-0:96.7.9*255", "Number of long power failures in any phase"),
    ("0-0:96.7.21*255", "Number of power failures in any phase"),
    ("0-0:96.14.0*255", "Currently active tariff"),
    ("0-0:97.97.0*255", "Error register"),
    ("0-0:99.98.0*255", "Standard event log"),
    ("0-0:99.98.1*255", "Fraud detection event log"),
    ("0-0:99.98.2*255", "Disconnector control event log"),
    ("0-0:99.98.e*255", "Event log {e}"),
    # --- electricity (A=1) objects that are not quantity x processing ---
    ("1-0:0.0.0*255", "Electricity meter serial number"),
    ("1-0:0.2.0*255", "Active firmware identifier"),
    ("1-0:98.1.0*255", "Data of billing period 1"),
    ("1-0:98.1.e*255", "Data of billing period 1, set {e}"),
    ("1-0:99.1.0*255", "Load profile 1"),
    ("1-0:99.2.0*255", "Load profile 2"),
    ("1-0:99.d.0*255", "Load profile {d}"),
    ("1-0:99.97.0*255", "Power failure event log"),
)

_ELECTRICITY_QUANTITY: dict[int, tuple[str, str | None]] = {
    # C: (name as a power / instantaneous quantity, name as energy (time integral) or None)
    1: ("Active power import (+P)", "Active energy import (+A)"),
    2: ("Active power export (-P)", "Active energy export (-A)"),
    3: ("Reactive power import (+Q)", "Reactive energy import (+R)"),
    4: ("Reactive power export (-Q)", "Reactive energy export (-R)"),
    5: ("Reactive power QI", "Reactive energy QI"),
    6: ("Reactive power QII", "Reactive energy QII"),
    7: ("Reactive power QIII", "Reactive energy QIII"),
    8: ("Reactive power QIV", "Reactive energy QIV"),
    9: ("Apparent power import (+S)", "Apparent energy import"),
    10: ("Apparent power export (-S)", "Apparent energy export"),
    11: ("Current, any phase", None),
    12: ("Voltage, any phase", None),
    13: ("Power factor", None),
    14: ("Supply frequency", None),
    15: ("Active power absolute (|+P|+|-P|)", "Active energy absolute (|+A|+|-A|)"),
    16: ("Active power net (+P - -P)", "Active energy net (+A - -A)"),
    21: ("Active power import L1 (+P1)", "Active energy import L1 (+A1)"),
    22: ("Active power export L1 (-P1)", "Active energy export L1 (-A1)"),
    23: ("Reactive power import L1 (+Q1)", "Reactive energy import L1 (+R1)"),
    24: ("Reactive power export L1 (-Q1)", "Reactive energy export L1 (-R1)"),
    31: ("Current L1", None),
    32: ("Voltage L1", None),
    33: ("Power factor L1", None),
    41: ("Active power import L2 (+P2)", "Active energy import L2 (+A2)"),
    42: ("Active power export L2 (-P2)", "Active energy export L2 (-A2)"),
    43: ("Reactive power import L2 (+Q2)", "Reactive energy import L2 (+R2)"),
    44: ("Reactive power export L2 (-Q2)", "Reactive energy export L2 (-R2)"),
    51: ("Current L2", None),
    52: ("Voltage L2", None),
    53: ("Power factor L2", None),
    61: ("Active power import L3 (+P3)", "Active energy import L3 (+A3)"),
    62: ("Active power export L3 (-P3)", "Active energy export L3 (-A3)"),
    63: ("Reactive power import L3 (+Q3)", "Reactive energy import L3 (+R3)"),
    64: ("Reactive power export L3 (-Q3)", "Reactive energy export L3 (-R3)"),
    71: ("Current L3", None),
    72: ("Voltage L3", None),
    73: ("Power factor L3", None),
    91: ("Current neutral", None),
}

_PROCESSING: dict[int, str] = {
    # D: processing of the quantity (D=8, time integral 1, names the energy itself)
    1: "cumulative minimum 1",
    2: "cumulative maximum 1",
    3: "minimum 1",
    4: "current average 1",
    5: "last average 1",
    6: "maximum 1",
    7: "instantaneous",
    9: "time integral 2",
}

_LETTERS = "abcdef"
_CompiledPattern = tuple[tuple[tuple[int, int], ...], tuple[tuple[str, int], ...], str]
_compiled: tuple[dict[bytes, str], list[_CompiledPattern]] | None = None


def _compile_names() -> tuple[dict[bytes, str], list[_CompiledPattern]]:
    exact: dict[bytes, str] = {}
    patterns: list[tuple[int, int, _CompiledPattern]] = []
    for index, (pattern, template) in enumerate(_PATTERNS):
        m = re.match(r"^(\w|\*)-(\w|\*):(\w+|\*)\.(\w+|\*)\.(\w+|\*)\*(\w+|\*)$", pattern)
        if m is None:
            raise ValueError(f"bad OBIS name pattern {pattern!r}")
        literals: list[tuple[int, int]] = []
        bound: list[tuple[str, int]] = []
        for position, group in enumerate(m.groups()):
            if group.isdigit():
                literals.append((position, int(group)))
            elif group in _LETTERS:
                bound.append((group, position))
        if len(literals) == 6:
            exact.setdefault(bytes(v for _, v in literals), template)
        else:
            patterns.append((-len(literals), index, (tuple(literals), tuple(bound), template)))
    patterns.sort(key=lambda item: (item[0], item[1]))
    return exact, [p for _, _, p in patterns]


def _lookup(code: bytes) -> str | None:
    global _compiled
    if _compiled is None:
        _compiled = _compile_names()
    exact, patterns = _compiled
    name = exact.get(code)
    if name is not None:
        return name
    for literals, bound, template in patterns:
        if all(code[position] == value for position, value in literals):
            return template.format(**{letter: code[position] for letter, position in bound})
    a, b, c, d, e, f = code
    if a == 1 and b == 0 and f == 255 and c in _ELECTRICITY_QUANTITY:
        power, energy = _ELECTRICITY_QUANTITY[c]
        if d == 8 and energy is not None:
            text = energy
        elif d in _PROCESSING:
            text = f"{power}, {_PROCESSING[d]}"
        else:
            return None
        if d == 7:
            return text if e == 0 else f"{text}, E={e}"
        if e == 0:
            return f"{text}, total"
        if e <= 63:
            return f"{text}, tariff {e}"
        return f"{text}, E={e}"
    return None


def obis_name(code: bytes | str) -> str | None:
    """The name of a well-known OBIS code, or None when the table does not know it.

    ``code`` is an :class:`Obis`, six raw bytes or any text :meth:`Obis.parse` accepts (anything else
    is an :class:`EncodeError`). Examples::

        obis_name("1-0:1.8.0*255")  -> "Active energy import (+A), total"
        obis_name("1-0:1.8.2*255")  -> "Active energy import (+A), tariff 2"
        obis_name("0-0:65.0.21*255") -> "Utility table BT21 (actual register)"
        obis_name("1-1:32.7.0*255") -> "Voltage L1, instantaneous, channel 1"
    """
    raw = Obis(code) if not isinstance(code, Obis) else code
    name = _lookup(raw)
    if name is not None:
        return name
    a, b, c, d, e, f = raw
    if b != 0:
        name = _lookup(bytes((a, 0, c, d, e, f)))
        if name is not None:
            return f"{name}, channel {b}"
    if f != 255:
        name = _lookup(bytes((a, b, c, d, e, 255)))
        if name is None and b != 0:
            name = _lookup(bytes((a, 0, c, d, e, 255)))
            if name is not None:
                name = f"{name}, channel {b}"
        if name is not None:
            return f"{name}, historical value {f}"
    return None
