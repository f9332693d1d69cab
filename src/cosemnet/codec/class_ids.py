"""COSEM interface class ids and their names (IEC 62056-6-2, the "Blue Book").

Used by the CLI tree printer and anywhere a ``class_id`` is shown to a person. The table lists the
classes this project meets plus the common ones of the Blue Book; an id missing from it is still a
valid class id, only without a name (:func:`class_name` returns None).
"""

from __future__ import annotations

from typing import Final

CLASS_NAMES: Final[dict[int, str]] = {
    1: "Data",
    3: "Register",
    4: "Extended register",
    5: "Demand register",
    6: "Register activation",
    7: "Profile generic",
    8: "Clock",
    9: "Script table",
    10: "Schedule",
    11: "Special days table",
    12: "Association SN",
    15: "Association LN",
    17: "SAP assignment",
    18: "Image transfer",
    19: "IEC local port setup",
    20: "Activity calendar",
    21: "Register monitor",
    22: "Single action schedule",
    23: "IEC HDLC setup",
    26: "Utility tables",
    40: "Push setup",
    41: "TCP-UDP setup",
    42: "IPv4 setup",
    43: "MAC address setup",
    44: "PPP setup",
    45: "GPRS modem setup",
    46: "SMTP setup",
    47: "GSM diagnostic",
    48: "IPv6 setup",
    61: "Register table",
    62: "Compact data",
    63: "Status mapping",
    64: "Security setup",
    65: "Parameter monitor",
    67: "Sensor manager",
    68: "Arbitrator",
    70: "Disconnect control",
    71: "Limiter",
    95: "Wi-SUN setup",
    96: "Wi-SUN diagnostic",
    97: "RPL diagnostic",
    98: "MPL diagnostic",
    122: "Function control",
    123: "Array manager",
    124: "Communication port protection",
    130: "ISO/IEC 14908 identification",
    131: "ISO/IEC 14908 protocol setup",
    132: "ISO/IEC 14908 protocol status",
    133: "ISO/IEC 14908 diagnostic",
}
"""Interface class id -> class name as the Blue Book spells it."""


def class_name(class_id: int) -> str | None:
    """The name of interface class ``class_id``, or None when the table does not list it."""
    return CLASS_NAMES.get(class_id)


def describe_class(class_id: int) -> str:
    """``"8 (Clock)"`` for a known class, ``"class 200"`` otherwise: a label for people."""
    name = CLASS_NAMES.get(class_id)
    return f"{class_id} ({name})" if name is not None else f"class {class_id}"


__all__ = ["CLASS_NAMES", "class_name", "describe_class"]
