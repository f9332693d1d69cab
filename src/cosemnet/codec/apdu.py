"""Top-level APDU dispatcher: the first byte of an APDU selects its class.

:data:`APDU_CLASSES` maps every tag to the class whose ``decode`` handles it. For the GET, SET and ACTION
tags this is the CHOICE base class (``GetRequest``...), whose ``decode`` returns the concrete subclass;
all 32 service-specific ciphered tags map to ``ServiceSpecificCiphered``.

The ACSE, initiate, confirmed-service-error and ciphered modules are optional at import time: a module
that does not exist is left out of the table (its tags then decode as unknown), anything else that goes
wrong while importing it is not hidden.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Union

from cosemnet.codec.axdr import Buffer
from cosemnet.codec.xdlms import XDLMS_APDU_CLASSES, ChoiceApdu, XdlmsApdu
from cosemnet.errors import DecodeError

if TYPE_CHECKING:
    from typing import TypeAlias

    from cosemnet.codec.acse import AARE, AARQ, RLRE, RLRQ
    from cosemnet.codec.ciphered import (
        GeneralCiphering,
        GeneralDedCiphering,
        GeneralGloCiphering,
        GeneralSigning,
        ServiceSpecificCiphered,
    )
    from cosemnet.codec.initiate import InitiateRequest, InitiateResponse
    from cosemnet.codec.service_error import ConfirmedServiceError

__all__ = ["APDU_CLASSES", "APDU_TYPES", "Apdu", "decode_apdu", "decode_apdu_from"]


# Optional modules and the classes they must provide (attribute names); a class with ``TAGS`` (a set of
# tags) is registered under each of them, otherwise under its ``TAG``.
_OPTIONAL: Final = (
    ("cosemnet.codec.acse", ("AARQ", "AARE", "RLRQ", "RLRE")),
    ("cosemnet.codec.initiate", ("InitiateRequest", "InitiateResponse")),
    ("cosemnet.codec.service_error", ("ConfirmedServiceError",)),
    (
        "cosemnet.codec.ciphered",
        (
            "ServiceSpecificCiphered",
            "GeneralGloCiphering",
            "GeneralDedCiphering",
            "GeneralCiphering",
            "GeneralSigning",
        ),
    ),
)


def _import_optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:  # the module itself is missing: fine; a missing dependency of it is not
            return None
        raise


def _build_table() -> tuple[dict[int, type[Any]], tuple[type[Any], ...]]:
    table: dict[int, type[Any]] = dict(XDLMS_APDU_CLASSES)
    types: list[type[Any]] = []
    for module_name, class_names in _OPTIONAL:
        module = _import_optional(module_name)
        if module is None:
            continue
        for class_name in class_names:
            cls = getattr(module, class_name, None)
            if not isinstance(cls, type):
                continue
            tags = getattr(cls, "TAGS", None)
            if tags is None:
                tag = getattr(cls, "TAG", None)
                tags = () if tag is None else (tag,)
            for tag in tags:
                table[int(tag)] = cls
            types.append(cls)
    for cls in XDLMS_APDU_CLASSES.values():
        types.append(cls)
    return dict(sorted(table.items())), tuple(types)


_TABLE: Final = _build_table()
APDU_CLASSES: Final[dict[int, type[Any]]] = _TABLE[0]
"""First byte -> APDU class (a CHOICE base class for GET/SET/ACTION)."""
APDU_TYPES: Final[tuple[type[Any], ...]] = _TABLE[1]
"""Every top-level APDU class of the table (for ``isinstance``)."""

if TYPE_CHECKING:
    Apdu: TypeAlias = Union[  # noqa: UP007
        XdlmsApdu,
        AARQ,
        AARE,
        RLRQ,
        RLRE,
        InitiateRequest,
        InitiateResponse,
        ConfirmedServiceError,
        ServiceSpecificCiphered,
        GeneralGloCiphering,
        GeneralDedCiphering,
        GeneralCiphering,
        GeneralSigning,
    ]
else:
    Apdu = Union[APDU_TYPES]  # noqa: UP007  (the classes actually available)

# Direct decoders: CHOICE tags go straight to the concrete class of the second byte (its fast path).
_CHOICE_TABLES: Final[dict[int, dict[int, type[XdlmsApdu]]]] = {
    tag: cls.CHOICES
    for tag, cls in APDU_CLASSES.items()
    if isinstance(cls, type) and issubclass(cls, ChoiceApdu)
}


def decode_apdu(data: Buffer) -> Apdu:
    """Decode one APDU that fills ``data`` exactly, whatever its kind. Raises only DecodeError."""
    if not len(data):
        raise DecodeError("empty input", 0, "an APDU tag")
    tag = data[0]
    choices = _CHOICE_TABLES.get(tag)
    if choices is not None and len(data) > 1:
        sub = choices.get(data[1])
        if sub is not None:
            return sub.decode(data)
    cls = APDU_CLASSES.get(tag)
    if cls is None:
        raise DecodeError(f"unknown APDU tag 0x{tag:02X}", 0, "an APDU tag")
    apdu: Apdu = cls.decode(data)
    return apdu


def decode_apdu_from(data: Buffer, offset: int = 0) -> tuple[Apdu, int]:
    """Decode one APDU starting at ``offset``; return it and the offset after it."""
    if offset >= len(data):
        raise DecodeError("input ends before an APDU", offset, "an APDU tag")
    tag = data[offset]
    cls = APDU_CLASSES.get(tag)
    if cls is None:
        raise DecodeError(f"unknown APDU tag 0x{tag:02X}", offset, "an APDU tag")
    apdu: Apdu
    apdu, end = cls.decode_from(data, offset)
    return apdu, end
