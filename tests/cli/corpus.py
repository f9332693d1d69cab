"""Test material shared by tests/cli and tests/codec/test_jsonform.py: the published vectors and
hypothesis strategies that build any APDU class from its field annotations.

Import it as ``from cli.corpus import ...`` (pytest puts tests/ on sys.path for the packages in it,
which is also how ``strategies``, the shared Data-value and xDLMS strategies, is found).
"""

from __future__ import annotations

import enum
import functools
import math
import operator
import typing
from dataclasses import is_dataclass
from typing import Any, Union

from hypothesis import strategies as st

import strategies as shared
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.ciphered import CIPHERED_TO_PLAIN
from cosemnet.codec.jsonform import DataValueHint, apdu_classes, field_hints
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import Float32
from cosemnet.errors import CosemnetError

# --------------------------------------------------------------------------------------------------
# Published vectors (/work/shared/spec-notes.md section 1)

EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"
SERVER_SYSTEM_TITLE = "4D4D4D0000BC614E"

PLAIN_VECTORS: dict[str, str] = {
    "aarq_ln": "601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFF",
    "aare_accepted": "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007",
    "aarq_hls_gmac": "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
    "BE10040E01000000065F1F0400007E1F04B0",
    "aare_hls_gmac": "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205AA0A8008"
    "503677524A323146BE10040E0800065F1F040000501F01F40007",
    "rlrq": "6203800100",
    "get_request": "C001C1000100002B0100FF0200",
    "get_response": "C401C1000600001391",
    "set_request": "C101C100080000010000FF0200090C07E50118FF0E303950FFC400",
    "set_response": "C501C100",
    "action_request": "C301C0000F0000280000FF010109111000001A90E6D2221FA2FD85EED61ACC22",
    "action_response": "C701C000010009111000001AFDE8857B728A3499106AA665D1",
    "aarq_ciphered": "6066A109060760857405080103A60A04084D4D4D0000BC614E8A0207808B0760857405080201AC0A8008"
    "3132333435363738BE34043221303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE"
    "6841DB204D39EE6FDB8E356855",
}
"""Every complete byte vector of spec-notes, by a short name."""

SUITE0_VECTORS: dict[str, str] = {
    "auth_only": "C81E1001234567C0010000080000010000FF020006725D910F9221D263877516",
    "enc_only": "C8122001234567411312FF935A47566827C467BC",
    "auth_enc": "C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B",
}
"""Green Book suite-0 glo-get-request vectors; plaintext :data:`SUITE0_PLAINTEXT`."""

SUITE0_PLAINTEXT = "C0010000080000010000FF0200"

WRAPPED_GET = "00010010000100" + "0D" + "C001C1000100002B0100FF0200"
"""The GET request of spec-notes in a wrapper frame (public client 16 -> management logical device 1)."""

ALL_VECTORS: dict[str, str] = {**PLAIN_VECTORS, **SUITE0_VECTORS, "wrapped_get": WRAPPED_GET}

# --------------------------------------------------------------------------------------------------
# COSEM Data values: the shared strategies of tests/strategies.py, plus non-finite floats (their JSON
# form is the hex of the IEEE 754 bytes, a path of its own)

non_finite_floats = st.one_of(
    st.sampled_from([math.inf, -math.inf, math.nan]),
    st.sampled_from([math.inf, -math.inf]).map(Float32),
)

data_values: st.SearchStrategy[Any] = st.one_of(shared.data_values(), non_finite_floats)
"""Any COSEM Data value, as the A-XDR decoder gives them back (typed integers, tuples, ...)."""

# --------------------------------------------------------------------------------------------------
# Any APDU, from its field annotations

_SMALL_INTS = st.one_of(
    st.integers(0, 15),
    st.integers(0, 255),
    st.integers(-128, 127),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
)


_NAMED_INTS: dict[str, st.SearchStrategy[int]] = {
    "invoke_id": st.integers(0, 15),
    "reserved": st.integers(0, 3),
    "class_id": st.integers(0, 0xFFFF),
    "attribute_id": st.integers(-128, 127),
    "method_id": st.integers(-128, 127),
    "window": st.integers(0, 63),
    "block_number": st.integers(0, 0xFFFF),
    "block_number_ack": st.integers(0, 0xFFFF),
    "proposed_quality_of_service": st.integers(-128, 127),
    "negotiated_quality_of_service": st.integers(-128, 127),
    "proposed_dlms_version_number": st.integers(0, 255),
    "negotiated_dlms_version_number": st.integers(0, 255),
    "selector": st.integers(0, 255),
    "tag": st.sampled_from(sorted(CIPHERED_TO_PLAIN)),
}
"""Field names whose integers have a narrow range: drawing them from it keeps most examples valid."""

_DATE_TIME_FIELDS = frozenset({"date_time", "time", "current_time"})


def _flags(cls: type[enum.IntFlag]) -> st.SearchStrategy[Any]:
    members = [m for m in cls if m.value]
    return st.lists(st.sampled_from(members), max_size=len(members)).map(
        lambda chosen: functools.reduce(operator.or_, chosen, cls(0))
    )


def for_hint(hint: Any, name: str = "") -> st.SearchStrategy[Any]:
    """Values of an annotation as used by the APDU classes (see docs/apdu-conventions.md)."""
    if hint is DataValueHint:
        return data_values
    if hint is type(None):
        return st.none()
    if name == "ber_length_octets":
        return st.just(())
    origin = typing.get_origin(hint)
    if origin is Union or origin is typing.get_origin(int | None):
        return st.one_of(*(for_hint(member, name) for member in typing.get_args(hint)))
    if origin is list:
        return st.lists(for_hint(typing.get_args(hint)[0], name), max_size=3)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(for_hint(args[0], name), max_size=3).map(tuple)
        return st.tuples(*(for_hint(a, name) for a in args))
    if hint is bool:
        return st.booleans()
    if isinstance(hint, type):
        if issubclass(hint, enum.IntFlag):
            return _flags(hint)
        if issubclass(hint, enum.Enum):
            return st.sampled_from(list(hint))
        if hint is int:
            return _NAMED_INTS.get(name, _SMALL_INTS)
        if hint is str:
            return st.text(max_size=8)
        if issubclass(hint, Obis):
            return st.binary(min_size=6, max_size=6).map(Obis)
        if hint is bytes:
            if name in _DATE_TIME_FIELDS:
                return st.binary(min_size=12, max_size=12)
            if "system_title" in name or name.endswith("ap_title"):
                return st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))
            return st.binary(max_size=24)
        if is_dataclass(hint):
            return instances(hint)
    raise TypeError(f"no strategy for {hint!r} ({name})")


@functools.cache
def instances(cls: type) -> st.SearchStrategy[Any]:
    """Instances of dataclass ``cls`` with every init field drawn from its annotation."""
    hints = field_hints(cls)
    fields = {name: st.deferred(lambda h=hint, n=name: for_hint(h, n)) for name, hint in hints.items()}
    return st.fixed_dictionaries(fields).map(lambda kwargs: _construct(cls, kwargs)).filter(_is_built)


class _Invalid:
    """What :func:`_construct` gives when the constructor refuses the drawn values."""


def _construct(cls: type, kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except CosemnetError:
        return _Invalid()


def _is_built(value: Any) -> bool:
    return not isinstance(value, _Invalid)


def encodable(apdu: Any) -> bytes | None:
    """The bytes of ``apdu`` if it encodes and decodes back to the same bytes, else None."""
    try:
        raw: bytes = apdu.encode()
        if decode_apdu(raw).encode() != raw:
            return None
    except CosemnetError:
        return None
    return raw


APDU_CLASS_NAMES: tuple[str, ...] = tuple(sorted(apdu_classes()))
"""Every concrete APDU class the JSON form knows."""


def apdu_bytes(cls_name: str) -> st.SearchStrategy[bytes]:
    """Byte strings of valid APDUs of class ``cls_name``: built from random field values by the generic
    annotation walk, and (xDLMS classes) by the hand-tuned strategies of tests/strategies.py."""
    cls = apdu_classes()[cls_name]
    objects = instances(cls)
    tuned = shared.APDU_STRATEGIES.get(cls)
    if tuned is not None:
        objects = st.one_of(objects, tuned)
    return objects.map(encodable).filter(lambda raw: raw is not None)  # type: ignore[arg-type,return-value]
