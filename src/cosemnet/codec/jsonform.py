"""The JSON form of COSEM Data values and APDUs (``cosemnet decode --json`` / ``cosemnet encode``).

The form is generic: every APDU class follows docs/apdu-conventions.md (a dataclass with typed
fields), so one walker over ``dataclasses.fields`` and the field annotations converts any of them.
It is exactly reversible: for every input ``b`` the codecs decode, ``from_json(to_json(decode(b)))``
encodes back to ``b``.

APDUs and nested structures
---------------------------

* An APDU is an object whose ``"apdu"`` key names its class, followed by its fields by their
  standard names: ``{"apdu": "GetRequestNormal", "invoke_id": 1, ...}``. An APDU carried in a
  ``bytes`` field of another (:data:`NESTED_APDU_FIELDS`: ACSE user-information, the wrapper
  payload, signed content) is shown as its APDU object when it decodes as one; input accepts the
  object or the hex.
* A wrapper frame is ``{"wrapper": {"source_wport": 16, "destination_wport": 1}, "apdu": {...}}``.
* A nested dataclass is an object whose ``"type"`` key names its class:
  ``{"type": "CosemAttributeDescriptor", "class_id": 8, ...}``. The key is always written; on input
  it may be left out where the field can hold only one class (it is required in a CHOICE of
  several classes).
* ``int``/``bool``/``str`` fields are JSON numbers/booleans/strings; ``bytes`` fields are lower-case
  hex strings (input also accepts upper case, spaces and colons); OBIS codes are ``"1-0:1.8.0*255"``
  (input: any form :meth:`Obis.parse` accepts); an OPTIONAL component that is absent is ``null``;
  lists and ``tuple[T, ...]`` are arrays.
* A field whose default is None (or an empty tuple/list) is left out while it holds that default;
  on input a missing field takes its default.
* Enumerations are their member name (``"SUCCESS"``); a value without a name is its number. Flags
  are the names joined with ``|`` (``"A|B"``) when every set bit has a name, else the number. Where
  a CHOICE is made of several enumerations (the enumeration class selects the alternative), the
  name is qualified by the class: ``"ClassName.MEMBER"``.
* A CHOICE (a union of member types) is resolved in the order: ``null``, enumeration name or number,
  object with ``"type"``, tagged Data value.

COSEM Data values
-----------------

A Data value is an object with exactly one key, the DLMS type name, whose value depends on the type:

=========================  ==========================================================================
``null-data``              ``null``
``array``, ``structure``   array of Data values
``boolean``                ``true`` / ``false``
``bit-string``             string of ``0``/``1``, first bit first (``"10110"``); when the unused bits
                           of the last byte are not zero: ``{"length": n, "hex": "..."}``
integer types              number (``integer``, ``long``, ``double-long``, ``long64``, ``unsigned``,
                           ``long-unsigned``, ``double-long-unsigned``, ``long64-unsigned``, ``enum``,
                           ``bcd`` (the raw byte), ``delta-*``)
``octet-string``           hex string
``visible-string``         string (8-bit characters)
``utf8-string``            string
``float32``, ``float64``   number; NaN and infinities as the hex string of the IEEE 754 bytes
``date-time``              ``{"year", "month", "day", "day_of_week", "hour", "minute", "second",
                           "hundredths", "deviation", "clock_status"}`` (0xFF / 0xFFFF / -32768 for
                           "not specified", as on the wire); input also accepts the 12-byte hex
``date``, ``time``         the same with their fields; input also accepts the hex of the bytes
``compact-array``          ``{"type": <type description>, "values": [Data values]}``; a type
                           description is a type name (``"long-unsigned"``),
                           ``{"structure": [descriptions]}`` or
                           ``{"array": {"count": n, "element": description}}``
``dont-care``              ``null``
=========================  ==========================================================================

Design choices (the standards define no JSON form): the tag names are the DLMS type names of
IEC 62056-6-2; the APDU field names are those of the dataclasses (the standard's ASN.1 names in
snake_case); 64-bit integers are JSON numbers, so JSON tools that read numbers as doubles lose
precision above 2**53 (Python's ``json`` does not).
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import math
import re
import struct
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, Final, Union

from cosemnet.codec import axdr
from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import (
    DONT_CARE,
    INT_TYPES,
    BitString,
    CompactArray,
    DataValue,
    Float32,
    Tag,
    TypeDescription,
    Utf8String,
)
from cosemnet.errors import CosemnetError, EncodeError


@dataclasses.dataclass(frozen=True, slots=True)
class DataJson:
    """A Data value left in a JSON form built with ``stream=True``: :func:`write_json` writes its JSON
    form element by element, so a large array never exists as a tree of JSON objects in memory."""

    value: DataValue


JsonValue = Union[None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"], DataJson]  # noqa: UP007
"""What :func:`json.loads` gives and :func:`json.dumps` takes; a form built with ``stream=True`` also
holds :class:`DataJson` leaves (write it with :func:`write_json`)."""

JsonObject = dict[str, JsonValue]

APDU_KEY: Final = "apdu"
TYPE_KEY: Final = "type"
ANNOTATION_KEYS: Final[frozenset[str]] = frozenset({"decrypted"})
"""Keys that tools may add to an APDU object for people (e.g. the decrypted plaintext); ignored on input."""


class JsonFormError(EncodeError):
    """A JSON document is not a valid JSON form. ``path`` locates the offending part (``apdu.invoke_id``)."""

    def __init__(self, reason: str, path: str = "") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)

    def to_dict(self) -> dict[str, object]:
        """``{"reason", "path"}`` for JSON error output."""
        return {"reason": self.reason, "path": self.path}


MAX_JSON_DEPTH: Final = 200  # see docs/decisions/0041
"""Input objects nested deeper than this many levels (counted along their path) are refused: a bound on
the recursion of the JSON form decoder (A-XDR allows 64 levels of Data, the form needs fewer than 150)."""


def _check_depth(path: str) -> None:
    if path.count(".") > MAX_JSON_DEPTH:
        raise JsonFormError(f"nested deeper than {MAX_JSON_DEPTH} levels", path[:60] + "...")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------------------------------
# Hex


_HEX_JUNK = re.compile(r"[\s:]|0x", re.IGNORECASE)


def parse_hex(text: str, path: str = "") -> bytes:
    """Bytes from hex text; tolerates spaces, colons and ``0x`` prefixes."""
    digits = _HEX_JUNK.sub("", text) if _HEX_JUNK.search(text) else text  # no copy of a long plain line
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise JsonFormError(f"not a hex string: {text[:40]!r}", path) from None


def _hex_from_json(obj: Any, path: str) -> bytes:
    if not isinstance(obj, str):
        raise JsonFormError(f"expected a hex string, got {_kind(obj)}", path)
    return parse_hex(obj, path)


def _kind(obj: Any) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, int):
        return "a number"
    if isinstance(obj, float):
        return "a number"
    if isinstance(obj, str):
        return "a string"
    if isinstance(obj, list):
        return "an array"
    if isinstance(obj, dict):
        return "an object"
    return type(obj).__name__


# --------------------------------------------------------------------------------------------------
# COSEM Data values

_TAG_BY_NAME: Final[dict[str, Tag]] = {tag.dlms_name: tag for tag in Tag}
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_DATE_TIME_FIELDS: Final = tuple(f.name for f in dataclasses.fields(CosemDateTime))
_DATE_FIELDS: Final = tuple(f.name for f in dataclasses.fields(CosemDate))
_TIME_FIELDS: Final = tuple(f.name for f in dataclasses.fields(CosemTime))


def data_to_json(value: DataValue) -> JsonObject:
    """The tagged JSON form of one Data value (``{"long-unsigned": 5}``)."""
    tag = axdr.data_tag(value)
    return {tag.dlms_name: _data_payload(tag, value)}


def _data_payload(tag: Tag, value: Any) -> JsonValue:
    if tag in INT_TYPES:
        return int(value)
    if tag == Tag.STRUCTURE or tag == Tag.ARRAY:
        return [data_to_json(item) for item in value]
    if tag == Tag.OCTET_STRING:
        return bytes(value).hex()
    if tag == Tag.VISIBLE_STRING or tag == Tag.UTF8_STRING:
        return str(value)
    if tag == Tag.BOOLEAN:
        return bool(value)
    if tag == Tag.NULL_DATA or tag == Tag.DONT_CARE:
        return None
    if tag == Tag.FLOAT64 or tag == Tag.FLOAT32:
        number = float(value)
        if math.isfinite(number):
            return number
        return (_F64 if tag == Tag.FLOAT64 else _F32).pack(number).hex()
    if tag == Tag.DATE_TIME:
        return {name: getattr(value, name) for name in _DATE_TIME_FIELDS}
    if tag == Tag.DATE:
        return {name: getattr(value, name) for name in _DATE_FIELDS}
    if tag == Tag.TIME:
        return {name: getattr(value, name) for name in _TIME_FIELDS}
    if tag == Tag.BIT_STRING:
        bits: str = value.bits()
        if BitString.from_bits(bits) == value:
            return bits
        return {"length": value.length, "hex": value.data.hex()}
    if tag == Tag.COMPACT_ARRAY:
        return {
            "type": type_description_to_json(value.type_description),
            "values": [data_to_json(item) for item in value.values],
        }
    raise EncodeError(f"no JSON form for {tag.dlms_name}")  # pragma: no cover - every tag is handled


def type_description_to_json(desc: TypeDescription) -> JsonValue:
    """A compact-array type description: a type name, ``{"structure": [...]}`` or ``{"array": {...}}``."""
    if desc.tag == Tag.STRUCTURE:
        return {"structure": [type_description_to_json(e) for e in desc.elements]}
    if desc.tag == Tag.ARRAY:
        element = type_description_to_json(desc.elements[0]) if desc.elements else None
        return {"array": {"count": desc.count, "element": element}}
    return desc.tag.dlms_name


def write_json(obj: JsonValue, write: Callable[[str], object]) -> None:
    """Write ``obj`` in pieces, as ``json.dumps(obj)`` would write it (default separators).

    :class:`DataJson` leaves are written element by element: with :func:`message_to_json` ``(...,
    stream=True)`` the memory used for a large array is the decoded value only, not a tree of JSON
    objects and one huge string as well (``cosemnet decode --json``).
    """
    if isinstance(obj, DataJson):
        _write_data(obj.value, write)
    elif isinstance(obj, dict):
        write("{")
        first = True
        for key, item in obj.items():
            write(("" if first else ", ") + json.dumps(key) + ": ")
            write_json(item, write)
            first = False
        write("}")
    elif isinstance(obj, list):
        write("[")
        for index, item in enumerate(obj):
            if index:
                write(", ")
            write_json(item, write)
        write("]")
    else:
        write(json.dumps(obj))


def _write_data(value: DataValue, write: Callable[[str], object]) -> None:
    tag = axdr.data_tag(value)
    items: Any
    if tag == Tag.STRUCTURE or tag == Tag.ARRAY:
        write("{" + json.dumps(tag.dlms_name) + ": [")
        items, end = value, "]}"
    elif tag == Tag.COMPACT_ARRAY:
        assert isinstance(value, CompactArray)
        description = json.dumps(type_description_to_json(value.type_description))
        write('{"compact-array": {"type": ' + description + ', "values": [')
        items, end = value.values, "]}}"
    else:
        write(json.dumps({tag.dlms_name: _data_payload(tag, value)}))
        return
    for index, item in enumerate(items):
        if index:
            write(", ")
        _write_data(item, write)
    write(end)


def type_description_from_json(obj: Any, path: str = "") -> TypeDescription:
    """A compact-array type description from its JSON form (JsonFormError naming ``path``)."""
    _check_depth(path)
    if isinstance(obj, str):
        tag = _TAG_BY_NAME.get(obj)
        if tag is None or tag in (Tag.STRUCTURE, Tag.ARRAY, Tag.COMPACT_ARRAY):
            raise JsonFormError(f"{obj!r} is not a simple DLMS type name", path)
        return TypeDescription(tag)
    if isinstance(obj, dict) and len(obj) == 1:
        ((key, inner),) = obj.items()
        if key == "structure" and isinstance(inner, list):
            elements = tuple(
                type_description_from_json(e, _join(_join(path, "structure"), i)) for i, e in enumerate(inner)
            )
            return TypeDescription(Tag.STRUCTURE, elements)
        if key == "array" and isinstance(inner, dict) and set(inner) == {"count", "element"}:
            count = _int_from_json(inner["count"], _join(_join(path, "array"), "count"))
            if not 0 <= count <= 0xFFFF:
                raise JsonFormError("array count must be 0..65535", _join(_join(path, "array"), "count"))
            element = type_description_from_json(inner["element"], _join(_join(path, "array"), "element"))
            return TypeDescription(Tag.ARRAY, (element,), count)
    raise JsonFormError(
        'a type description is a type name, {"structure": [...]} or {"array": {"count": n, "element": ...}}',
        path,
    )


def data_from_json(obj: Any, path: str = "") -> DataValue:
    """The Data value of a tagged JSON form (inverse of :func:`data_to_json`)."""
    _check_depth(path)
    if not isinstance(obj, dict) or len(obj) != 1:
        raise JsonFormError(
            'a Data value is an object with one key, its DLMS type name (e.g. {"long-unsigned": 5})', path
        )
    ((key, payload),) = obj.items()
    tag = _TAG_BY_NAME.get(key)
    if tag is None:
        raise JsonFormError(f"{key!r} is not a DLMS data type name", path)
    inner = _join(path, key)
    try:
        return _data_from_payload(tag, payload, inner)
    except JsonFormError:
        raise
    except (EncodeError, ValueError, OverflowError) as exc:
        raise JsonFormError(str(exc), inner) from None


def _data_from_payload(tag: Tag, payload: Any, path: str) -> DataValue:
    int_type = INT_TYPES.get(tag)
    if int_type is not None:
        return int_type(_int_from_json(payload, path))
    if tag == Tag.STRUCTURE or tag == Tag.ARRAY:
        if not isinstance(payload, list):
            raise JsonFormError(f"expected an array of Data values, got {_kind(payload)}", path)
        items = [data_from_json(item, _join(path, i)) for i, item in enumerate(payload)]
        return tuple(items) if tag == Tag.STRUCTURE else items
    if tag == Tag.OCTET_STRING:
        return _hex_from_json(payload, path)
    if tag == Tag.VISIBLE_STRING or tag == Tag.UTF8_STRING:
        if not isinstance(payload, str):
            raise JsonFormError(f"expected a string, got {_kind(payload)}", path)
        if tag == Tag.UTF8_STRING:
            return Utf8String(payload)
        try:
            payload.encode("latin-1")
        except UnicodeEncodeError:
            raise JsonFormError("a visible-string holds only 8-bit characters", path) from None
        return str(payload)
    if tag == Tag.BOOLEAN:
        if not isinstance(payload, bool):
            raise JsonFormError(f"expected true or false, got {_kind(payload)}", path)
        return payload
    if tag == Tag.NULL_DATA or tag == Tag.DONT_CARE:
        if payload is not None:
            raise JsonFormError(f"{tag.dlms_name} takes null, got {_kind(payload)}", path)
        return None if tag == Tag.NULL_DATA else DONT_CARE
    if tag == Tag.FLOAT64 or tag == Tag.FLOAT32:
        packer = _F64 if tag == Tag.FLOAT64 else _F32
        if isinstance(payload, str):
            raw = parse_hex(payload, path)
            if len(raw) != packer.size:
                raise JsonFormError(f"{tag.dlms_name} hex must be {packer.size} bytes", path)
            number = packer.unpack(raw)[0]
        elif isinstance(payload, int | float) and not isinstance(payload, bool):
            number = float(payload)
        else:
            raise JsonFormError(f"expected a number or the hex of the bytes, got {_kind(payload)}", path)
        return Float32(number) if tag == Tag.FLOAT32 else number
    if tag == Tag.DATE_TIME:
        return _fields_from_json(CosemDateTime, _DATE_TIME_FIELDS, payload, path)
    if tag == Tag.DATE:
        return _fields_from_json(CosemDate, _DATE_FIELDS, payload, path)
    if tag == Tag.TIME:
        return _fields_from_json(CosemTime, _TIME_FIELDS, payload, path)
    if tag == Tag.BIT_STRING:
        if isinstance(payload, str):
            return BitString.from_bits(payload)
        if isinstance(payload, dict) and set(payload) == {"length", "hex"}:
            length = _int_from_json(payload["length"], _join(path, "length"))
            return BitString(_hex_from_json(payload["hex"], _join(path, "hex")), length)
        raise JsonFormError('a bit-string is "0101..." or {"length": n, "hex": "..."}', path)
    if tag == Tag.COMPACT_ARRAY:
        if not isinstance(payload, dict) or set(payload) != {"type", "values"}:
            raise JsonFormError('a compact-array is {"type": <type description>, "values": [...]}', path)
        desc = type_description_from_json(payload["type"], _join(path, "type"))
        values = payload["values"]
        if not isinstance(values, list):
            raise JsonFormError(f"expected an array, got {_kind(values)}", _join(path, "values"))
        elements = tuple(data_from_json(v, _join(_join(path, "values"), i)) for i, v in enumerate(values))
        return CompactArray(desc, elements)
    raise JsonFormError(f"no JSON form for {tag.dlms_name}", path)  # pragma: no cover


_DateLike = CosemDateTime | CosemDate | CosemTime


def _fields_from_json(
    cls: type[CosemDateTime] | type[CosemDate] | type[CosemTime],
    names: tuple[str, ...],
    payload: Any,
    path: str,
) -> _DateLike:
    if isinstance(payload, str):
        raw = parse_hex(payload, path)
        size = len(cls().to_bytes())
        if len(raw) != size:
            raise JsonFormError(f"expected {size} bytes of hex, got {len(raw)}", path)
        return cls.from_bytes(raw)
    if not isinstance(payload, dict):
        raise JsonFormError(f"expected an object with {', '.join(names)}", path)
    unknown = set(payload) - set(names)
    if unknown:
        raise JsonFormError(f"unknown fields {sorted(unknown)}; expected {', '.join(names)}", path)
    values = {name: _int_from_json(v, _join(path, name)) for name, v in payload.items()}
    return cls(**values)


def _int_from_json(obj: Any, path: str) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise JsonFormError(f"expected an integer, got {_kind(obj)}", path)
    return obj


# --------------------------------------------------------------------------------------------------
# Generic dataclass walker


class _DataValueMarker:
    """Stands for the ``DataValue`` alias while field annotations are evaluated."""


DataValueHint: Final = _DataValueMarker
"""What :func:`field_hints` puts where a field is annotated ``DataValue``."""


_DATA_VALUE_ARGS: Final = frozenset(typing.get_args(DataValue))

ToJson = Callable[[Any, "_Context"], JsonValue]
FromJson = Callable[[Any, str], Any]
Annotate = Callable[[object], "JsonObject | None"]


@dataclasses.dataclass(slots=True)
class _Context:
    annotate: Annotate | None
    stream: bool = False
    """Leave Data values as :class:`DataJson` (see :func:`write_json`)."""


def _data_to(value: Any, ctx: _Context) -> JsonValue:
    return DataJson(value) if ctx.stream else data_to_json(value)


@dataclasses.dataclass(slots=True)
class _Field:
    name: str
    to_json: ToJson
    from_json: FromJson
    required: bool
    omit_when_empty: bool
    """The default is None or an empty tuple/list: leave the field out of the JSON when it has that value."""
    empty_type: type
    """``type(None)``, ``tuple`` or ``list``: the type of that default (an empty list in a field whose
    default is None is a Data value, an empty array, and stays)."""


@dataclasses.dataclass(slots=True)
class _Plan:
    cls: type
    fields: list[_Field]
    names: frozenset[str]


_PLANS: dict[type, _Plan] = {}


def _resolve_hints(cls: type) -> dict[str, Any]:
    """Evaluated annotations of the dataclass fields of ``cls``, with ``DataValue`` as the marker."""
    hints: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        annotations = inspect.get_annotations(base)
        if not annotations:
            continue
        module = sys.modules.get(base.__module__)
        namespace = dict(vars(module)) if module is not None else {}
        namespace["DataValue"] = _DataValueMarker
        for name, annotation in annotations.items():
            if isinstance(annotation, str):
                annotation = eval(annotation, namespace)
            hints[name] = annotation
    return hints


_HINTS: dict[type, dict[str, Any]] = {}


def field_hints(cls: type) -> dict[str, Any]:
    """The evaluated annotations of the ``init`` fields of dataclass ``cls`` (cached).

    ``DataValue`` (alone or in a union) is replaced by :data:`DataValueHint`, so a caller can tell a
    COSEM Data value from a plain ``int``/``bytes``/``tuple`` field.
    """
    hints = _HINTS.get(cls)
    if hints is None:
        raw = _resolve_hints(cls)
        hints = {f.name: _normalise(raw[f.name]) for f in dataclasses.fields(cls) if f.init}
        _HINTS[cls] = hints
    return hints


def is_empty_default(cls: type, name: str, value: object) -> bool:
    """True when field ``name`` of ``cls`` holds its None or empty default (and is left out of the JSON)."""
    for f in _plan(cls).fields:
        if f.name == name:
            return _holds_empty_default(f, value)
    return False


def _holds_empty_default(f: _Field, value: object) -> bool:
    if not f.omit_when_empty:
        return False
    if f.empty_type is type(None):
        return value is None
    return type(value) is f.empty_type and not value


def hint_members(hint: Any) -> tuple[Any, ...]:
    """The members of a union annotation (the annotation itself when it is not a union)."""
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(hint)
    return (hint,)


def _normalise(hint: Any) -> Any:
    """Replace an already-evaluated ``DataValue`` union (or a union containing it) by the marker."""
    if hint == DataValue:
        return _DataValueMarker
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = set(typing.get_args(hint))
        if args >= _DATA_VALUE_ARGS:
            rest = args - _DATA_VALUE_ARGS
            return Union[(*rest, _DataValueMarker)] if rest else _DataValueMarker
    return hint


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    hints = field_hints(cls)
    fields: list[_Field] = []
    plan = _Plan(cls, fields, frozenset())
    _PLANS[cls] = plan  # registered before the fields are built: recursive types refer to it
    try:
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            if f.name == TYPE_KEY or f.name in ANNOTATION_KEYS:
                raise TypeError(f"{cls.__name__}.{f.name}: field name clashes with a JSON form key")
            hint = hints[f.name]
            to_json, from_json = _converters(hint, f"{cls.__name__}.{f.name}")
            if f.name in NESTED_APDU_FIELDS and set(hint_members(hint)) <= {bytes, type(None)}:
                to_json, from_json = _nested_apdu_converters(to_json, from_json)
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if f.default_factory is not dataclasses.MISSING:
                default: Any = f.default_factory()
            else:
                default = f.default
            omit = default is None or (type(default) in (tuple, list) and len(default) == 0)
            fields.append(_Field(f.name, to_json, from_json, required, omit, type(default)))
    except Exception:
        del _PLANS[cls]
        raise
    plan.names = frozenset(f.name for f in fields)
    return plan


def _converters(hint: Any, where: str) -> tuple[ToJson, FromJson]:
    hint = _normalise(hint)
    if hint is _DataValueMarker:
        return _data_to, data_from_json
    if hint is type(None) or hint is None:
        return _none_to, _none_from
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return _union_converters(typing.get_args(hint), where)
    if origin is list:
        (item,) = typing.get_args(hint)
        return _sequence_converters(item, list, where)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return _sequence_converters(args[0], tuple, where)
        return _fixed_tuple_converters(args, where)
    if isinstance(hint, type):
        if hint is bool:
            return _bool_to, _bool_from
        if issubclass(hint, enum.IntFlag):
            return _flag_converters(hint)
        if issubclass(hint, enum.Enum):
            return _enum_converters(hint)
        if hint is int:
            return _int_to, _int_from_json
        if hint is str:
            return _str_to, _str_from
        if hint is float:
            return _float_to, _float_from
        if issubclass(hint, Obis):
            return _obis_to, _obis_from
        if hint is bytes or hint is bytearray:
            return _bytes_to, _hex_from_json
        if dataclasses.is_dataclass(hint):
            return _dataclass_converters(hint)
    raise TypeError(f"{where}: no JSON form for the annotation {hint!r}")


def _none_to(value: Any, ctx: _Context) -> JsonValue:
    return None


def _none_from(obj: Any, path: str) -> None:
    if obj is not None:
        raise JsonFormError(f"expected null, got {_kind(obj)}", path)
    return None


def _bool_to(value: Any, ctx: _Context) -> JsonValue:
    return bool(value)


def _bool_from(obj: Any, path: str) -> bool:
    if not isinstance(obj, bool):
        raise JsonFormError(f"expected true or false, got {_kind(obj)}", path)
    return obj


def _int_to(value: Any, ctx: _Context) -> JsonValue:
    return int(value)


def _str_to(value: Any, ctx: _Context) -> JsonValue:
    return str(value)


def _str_from(obj: Any, path: str) -> str:
    if not isinstance(obj, str):
        raise JsonFormError(f"expected a string, got {_kind(obj)}", path)
    return obj


def _float_to(value: Any, ctx: _Context) -> JsonValue:
    return float(value)


def _float_from(obj: Any, path: str) -> float:
    if isinstance(obj, bool) or not isinstance(obj, int | float):
        raise JsonFormError(f"expected a number, got {_kind(obj)}", path)
    return float(obj)


def _obis_to(value: Any, ctx: _Context) -> JsonValue:
    return str(Obis(value))


def _obis_from(obj: Any, path: str) -> Obis:
    if not isinstance(obj, str):
        raise JsonFormError(f'expected an OBIS code like "1-0:1.8.0*255", got {_kind(obj)}', path)
    try:
        return Obis.parse(obj)
    except EncodeError as exc:
        raise JsonFormError(str(exc), path) from None


def _bytes_to(value: Any, ctx: _Context) -> JsonValue:
    return bytes(value).hex()


def _enum_converters(cls: type[enum.Enum]) -> tuple[ToJson, FromJson]:
    members = {m.name: m for m in cls}

    def to_json(value: Any, ctx: _Context) -> JsonValue:
        if not isinstance(value, cls):
            try:
                value = cls(value)  # a plain number in an enumerated field
            except ValueError:
                return int(value)
        name: str | None = value.name
        if name is not None and members.get(name) is value:
            return name
        return int(value.value)

    def from_json(obj: Any, path: str) -> Any:
        if isinstance(obj, str):
            member = members.get(obj)
            if member is None:
                raise JsonFormError(f"{obj!r} is not a {cls.__name__} (one of {', '.join(members)})", path)
            return member
        if isinstance(obj, int) and not isinstance(obj, bool):
            try:
                return cls(obj)
            except ValueError:
                raise JsonFormError(f"{obj} is not a {cls.__name__} value", path) from None
        raise JsonFormError(f"expected a {cls.__name__} name or number, got {_kind(obj)}", path)

    return to_json, from_json


def _flag_converters(cls: type[enum.IntFlag]) -> tuple[ToJson, FromJson]:
    members: dict[str, enum.IntFlag] = {m.name: m for m in cls if m.name is not None}

    def to_json(value: Any, ctx: _Context) -> JsonValue:
        number = int(value)
        names = [name for name, m in members.items() if int(m) and int(m) & number == int(m)]
        covered = 0
        for name in names:
            covered |= int(members[name])
        if names and covered == number and all(int(members[n]).bit_count() == 1 for n in names):
            return "|".join(names)
        return number

    def from_json(obj: Any, path: str) -> Any:
        if isinstance(obj, int) and not isinstance(obj, bool):
            try:
                return cls(obj)
            except ValueError:
                raise JsonFormError(f"{obj} is not a {cls.__name__} value", path) from None
        if isinstance(obj, str):
            value = cls(0)
            for name in obj.split("|"):
                member = members.get(name.strip())
                if member is None:
                    raise JsonFormError(f"{name!r} is not a {cls.__name__} flag", path)
                value |= member
            return value
        raise JsonFormError(
            f"expected {cls.__name__} names joined with | or a number, got {_kind(obj)}", path
        )

    return to_json, from_json


def _sequence_converters(item: Any, container: type, where: str) -> tuple[ToJson, FromJson]:
    item_to, item_from = _converters(item, where + "[]")

    def to_json(value: Any, ctx: _Context) -> JsonValue:
        return [item_to(v, ctx) for v in value]

    def from_json(obj: Any, path: str) -> Any:
        if not isinstance(obj, list):
            raise JsonFormError(f"expected an array, got {_kind(obj)}", path)
        return container(item_from(v, _join(path, i)) for i, v in enumerate(obj))

    return to_json, from_json


def _fixed_tuple_converters(args: tuple[Any, ...], where: str) -> tuple[ToJson, FromJson]:
    parts = [_converters(a, f"{where}[{i}]") for i, a in enumerate(args)]

    def to_json(value: Any, ctx: _Context) -> JsonValue:
        return [to(v, ctx) for (to, _), v in zip(parts, value, strict=True)]

    def from_json(obj: Any, path: str) -> Any:
        if not isinstance(obj, list) or len(obj) != len(parts):
            raise JsonFormError(f"expected an array of {len(parts)} items", path)
        return tuple(frm(v, _join(path, i)) for i, ((_, frm), v) in enumerate(zip(parts, obj, strict=True)))

    return to_json, from_json


def _dataclass_converters(cls: type) -> tuple[ToJson, FromJson]:
    def to_json(value: Any, ctx: _Context) -> JsonValue:
        return _object_to_json(value, ctx, TYPE_KEY)

    def from_json(obj: Any, path: str) -> Any:
        return _object_from_json(cls, obj, path, TYPE_KEY)

    _plan(cls)  # fail early on unsupported annotations (a class being planned is already registered)
    return to_json, from_json


def _union_converters(args: tuple[Any, ...], where: str) -> tuple[ToJson, FromJson]:
    has_none = type(None) in args
    has_data = _DataValueMarker in args
    enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
    classes = [a for a in args if isinstance(a, type) and dataclasses.is_dataclass(a)]
    others = [
        a
        for a in args
        if a is not type(None) and a is not _DataValueMarker and a not in enums and a not in classes
    ]
    enum_conv = [(e, *_converters(e, where)) for e in enums]
    if len(enums) > 1:
        enum_conv = [(e, *_qualified_enum_converters(e, to, frm)) for e, to, frm in enum_conv]
    class_conv = {c.__name__: (c, *_converters(c, where)) for c in classes}
    other_conv = [(o, *_converters(o, where)) for o in others]

    def to_json(value: Any, ctx: _Context) -> JsonValue:
        if value is None and has_none:
            return None
        for e, to, _ in enum_conv:
            if isinstance(value, e):
                return to(value, ctx)
        entry = class_conv.get(type(value).__name__)
        if entry is not None and type(value) is entry[0]:
            return entry[1](value, ctx)
        for o, to, _ in other_conv:
            runtime = typing.get_origin(o) or o
            if isinstance(runtime, type) and isinstance(value, runtime):
                return to(value, ctx)
        if has_data:
            return _data_to(value, ctx)
        raise EncodeError(f"{where}: {type(value).__name__} is not a member of the CHOICE")

    def from_json(obj: Any, path: str) -> Any:
        if obj is None and has_none:
            return None
        errors: list[JsonFormError] = []
        if isinstance(obj, str | int) and not isinstance(obj, bool) and enum_conv:
            matches = []
            for _, _, frm in enum_conv:
                try:
                    matches.append(frm(obj, path))
                except JsonFormError as exc:
                    errors.append(exc)
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                names = ", ".join(f"{type(m).__name__}.{m.name}" for m in matches)
                raise JsonFormError(f"{obj!r} is ambiguous in this CHOICE: write one of {names}", path)
        if isinstance(obj, dict) and class_conv:
            name = obj.get(TYPE_KEY)
            if isinstance(name, str) and name in class_conv:
                return class_conv[name][2](obj, path)
            if len(class_conv) == 1 and not (has_data and _looks_like_data(obj)):
                return next(iter(class_conv.values()))[2](obj, path)
        for _, _, frm in other_conv:
            try:
                return frm(obj, path)
            except JsonFormError as exc:
                errors.append(exc)
        if has_data and not (errors and isinstance(obj, str | int)):
            return data_from_json(obj, path)
        if len(errors) == 1:
            raise errors[0]
        choices = [e.__name__ for e in enums] + list(class_conv) + [str(o) for o in others]
        if has_none:
            choices.append("null")
        raise JsonFormError(f"{_kind(obj)} is none of the CHOICE members ({', '.join(choices)})", path)

    return to_json, from_json


def _qualified_enum_converters(cls: type[enum.Enum], to: ToJson, frm: FromJson) -> tuple[ToJson, FromJson]:
    """In a CHOICE of several enumerations the class selects the alternative: ``"Class.MEMBER"``."""
    prefix = cls.__name__ + "."

    def to_json(value: Any, ctx: _Context) -> JsonValue:
        return prefix + str(to(value, ctx))

    def from_json(obj: Any, path: str) -> Any:
        if isinstance(obj, str) and "." in obj:
            if not obj.startswith(prefix):
                raise JsonFormError(f"{obj!r} is not a {cls.__name__}", path)
            rest = obj[len(prefix) :]
            return frm(int(rest) if rest.isdigit() else rest, path)
        return frm(obj, path)

    return to_json, from_json


def _looks_like_data(obj: dict[str, Any]) -> bool:
    return len(obj) == 1 and next(iter(obj)) in _TAG_BY_NAME


def _object_to_json(value: Any, ctx: _Context, key: str) -> JsonObject:
    plan = _plan(type(value))
    if key in plan.names:
        raise TypeError(f"{type(value).__name__} has a field named {key!r}: no JSON form as an APDU")
    out: JsonObject = {key: type(value).__name__}
    for f in plan.fields:
        item = getattr(value, f.name)
        if f.omit_when_empty and _holds_empty_default(f, item):
            continue
        out[f.name] = f.to_json(item, ctx)
    if key == APDU_KEY and ctx.annotate is not None:
        extra = ctx.annotate(value)
        if extra:
            out.update(extra)
    return out


def _object_from_json(cls: type, obj: Any, path: str, key: str) -> Any:
    _check_depth(path)
    if not isinstance(obj, dict):
        raise JsonFormError(f"expected an object ({cls.__name__}), got {_kind(obj)}", path)
    plan = _plan(cls)
    name = obj.get(key)
    if key == TYPE_KEY and name is not None and name != cls.__name__:
        raise JsonFormError(f"expected a {cls.__name__}, got {name!r}", _join(path, key))
    unknown = set(obj) - plan.names - {key} - (ANNOTATION_KEYS if key == APDU_KEY else set())
    if unknown:
        raise JsonFormError(
            f"unknown field(s) {', '.join(sorted(unknown))} for {cls.__name__}"
            f" (fields: {', '.join(f.name for f in plan.fields)})",
            path,
        )
    kwargs: dict[str, Any] = {}
    for f in plan.fields:
        if f.name in obj:
            kwargs[f.name] = f.from_json(obj[f.name], _join(path, f.name))
        elif f.required:
            raise JsonFormError(f"missing field {f.name!r} of {cls.__name__}", path)
    try:
        return cls(**kwargs)
    except CosemnetError as exc:
        raise JsonFormError(str(exc), path) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise JsonFormError(f"cannot build {cls.__name__}: {exc}", path) from None


# --------------------------------------------------------------------------------------------------
# APDUs nested in other APDUs

NESTED_APDU_FIELDS: Final[frozenset[str]] = frozenset({"user_information", "apdu", "content"})
"""``bytes`` fields that carry a whole APDU (ACSE user-information, the wrapper payload, signed content).

When their bytes decode as an APDU that re-encodes to the same bytes, the JSON form shows the APDU
object instead of the hex; on input both forms are accepted.
"""


def decode_nested_apdu(raw: bytes) -> object | None:
    """The APDU ``raw`` holds, if it holds exactly one that re-encodes to ``raw``; else None."""
    from cosemnet.codec.apdu import decode_apdu

    try:
        apdu = decode_apdu(raw)
        if apdu.encode() != raw:
            return None
    except CosemnetError:
        return None
    return apdu


def _nested_apdu_converters(to_bytes: ToJson, from_bytes: FromJson) -> tuple[ToJson, FromJson]:
    def to_json(value: Any, ctx: _Context) -> JsonValue:
        if isinstance(value, bytes) and value:
            nested = decode_nested_apdu(value)
            if nested is not None:
                return _object_to_json(nested, ctx, APDU_KEY)
        return to_bytes(value, ctx)

    def from_json(obj: Any, path: str) -> Any:
        if isinstance(obj, dict) and APDU_KEY in obj:
            return encode_apdu_json(obj, path)
        return from_bytes(obj, path)

    return to_json, from_json


# --------------------------------------------------------------------------------------------------
# Public entry points for any dataclass following the APDU conventions


def object_to_json(value: object, *, annotate: Annotate | None = None, stream: bool = False) -> JsonObject:
    """The JSON form of an APDU (``{"apdu": "<ClassName>", ...fields}``).

    ``annotate`` is called with this APDU and with every APDU nested in it that the form shows as an
    object; the keys it returns are added to that APDU's object (only :data:`ANNOTATION_KEYS` are
    read back on input). With ``stream``, Data values stay :class:`DataJson` leaves for :func:`write_json`.
    """
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise EncodeError(f"{type(value).__name__} is not an APDU dataclass")
    return _object_to_json(value, _Context(annotate, stream), APDU_KEY)


def object_from_json(cls: type, obj: Any, path: str = APDU_KEY) -> Any:
    """Build an instance of the APDU class ``cls`` from its JSON form (the ``"apdu"`` key is ignored)."""
    return _object_from_json(cls, obj, path, APDU_KEY)


def value_to_json(value: Any, hint: Any) -> JsonValue:
    """The JSON form of ``value`` typed as ``hint`` (an annotation as in docs/apdu-conventions.md)."""
    to_json, _ = _converters(hint, "value")
    return to_json(value, _Context(None))


def value_from_json(obj: Any, hint: Any, path: str = "") -> Any:
    """Inverse of :func:`value_to_json`."""
    _, from_json = _converters(hint, "value")
    return from_json(obj, path)


# --------------------------------------------------------------------------------------------------
# APDUs by class name, wrapper frames


_APDU_CLASSES_BY_NAME: dict[str, type] = {}


def apdu_classes() -> dict[str, type]:
    """Every APDU class the JSON form knows, by class name (from :data:`cosemnet.codec.apdu.APDU_CLASSES`)."""
    if not _APDU_CLASSES_BY_NAME:
        from cosemnet.codec import ciphered
        from cosemnet.codec.apdu import APDU_CLASSES

        classes: list[type] = list(APDU_CLASSES.values())
        classes += [
            ciphered.ServiceSpecificCiphered,
            ciphered.GeneralGloCiphering,
            ciphered.GeneralDedCiphering,
            ciphered.GeneralCiphering,
            ciphered.GeneralSigning,
        ]
        pending = list(classes)
        while pending:  # CHOICE base classes (GetRequest) are keys too: add their concrete subclasses
            cls = pending.pop()
            if dataclasses.is_dataclass(cls):
                _APDU_CLASSES_BY_NAME.setdefault(cls.__name__, cls)
            pending.extend(cls.__subclasses__())
    return _APDU_CLASSES_BY_NAME


def apdu_to_json(apdu: object, *, annotate: Annotate | None = None) -> JsonObject:
    """The JSON form of an APDU object: ``{"apdu": "<ClassName>", ...fields}``."""
    return object_to_json(apdu, annotate=annotate)


def apdu_from_json(obj: Any, path: str = "") -> Any:
    """The APDU object of a JSON form (its class is named by the ``"apdu"`` key)."""
    if not isinstance(obj, dict):
        raise JsonFormError(f'an APDU is an object with an "apdu" key, got {_kind(obj)}', path)
    name = obj.get(APDU_KEY)
    if not isinstance(name, str):
        raise JsonFormError('an APDU object needs "apdu": "<ClassName>"', path)
    cls = apdu_classes().get(name)
    if cls is None:
        raise JsonFormError(f"unknown APDU class {name!r}", _join(path, APDU_KEY))
    return _object_from_json(cls, obj, path, APDU_KEY)


def encode_apdu_json(obj: Any, path: str = "") -> bytes:
    """The bytes of the APDU a JSON form describes."""
    apdu = apdu_from_json(obj, path)
    try:
        encoded: bytes = apdu.encode()
    except CosemnetError as exc:
        raise JsonFormError(f"cannot encode {type(apdu).__name__}: {exc}", path) from None
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:
        raise JsonFormError(f"cannot encode {type(apdu).__name__}: {exc}", path) from None
    return encoded


WRAPPER_KEY: Final = "wrapper"


def message_to_json(message: object, *, annotate: Annotate | None = None, stream: bool = False) -> JsonObject:
    """The JSON form of a decoded message: an APDU, or a wrapper frame around one.

    A :class:`cosemnet.codec.wrapper.WrapperFrame` becomes ``{"wrapper": {<header fields>}, "apdu":
    {<APDU>}}`` (``"apdu"`` is the hex of the payload when it is not one decodable APDU).
    With ``stream``, Data values stay :class:`DataJson` leaves for :func:`write_json`.
    """
    from cosemnet.codec.wrapper import WrapperFrame

    if isinstance(message, WrapperFrame):
        ctx = _Context(annotate, stream)
        plan = _plan(WrapperFrame)
        header: JsonObject = {}
        body: JsonValue = None
        for f in plan.fields:
            value = getattr(message, f.name)
            if f.name == APDU_KEY:
                body = f.to_json(value, ctx)
            else:
                header[f.name] = f.to_json(value, ctx)
        return {WRAPPER_KEY: header, APDU_KEY: body}
    return object_to_json(message, annotate=annotate, stream=stream)


def encode_message_json(obj: Any) -> bytes:
    """The bytes of a message JSON form (inverse of :func:`message_to_json`)."""
    if isinstance(obj, dict) and WRAPPER_KEY in obj:
        from cosemnet.codec.wrapper import WrapperFrame

        header = obj[WRAPPER_KEY]
        if not isinstance(header, dict):
            raise JsonFormError(f"expected an object, got {_kind(header)}", WRAPPER_KEY)
        unknown = set(obj) - {WRAPPER_KEY, APDU_KEY}
        if unknown:
            raise JsonFormError(f'unknown key(s) {", ".join(sorted(unknown))} next to "wrapper"')
        if APDU_KEY not in obj:
            raise JsonFormError('a wrapper frame needs "apdu"')
        frame = _object_from_json(WrapperFrame, {**header, APDU_KEY: obj[APDU_KEY]}, "", TYPE_KEY)
        try:
            encoded: bytes = frame.encode()
        except CosemnetError as exc:
            raise JsonFormError(f"cannot encode the wrapper frame: {exc}", WRAPPER_KEY) from None
        return encoded
    return encode_apdu_json(obj)


__all__ = [
    "ANNOTATION_KEYS",
    "APDU_KEY",
    "MAX_JSON_DEPTH",
    "NESTED_APDU_FIELDS",
    "TYPE_KEY",
    "WRAPPER_KEY",
    "Annotate",
    "DataJson",
    "DataValueHint",
    "JsonFormError",
    "JsonObject",
    "JsonValue",
    "apdu_classes",
    "apdu_from_json",
    "apdu_to_json",
    "data_from_json",
    "data_to_json",
    "decode_nested_apdu",
    "encode_apdu_json",
    "encode_message_json",
    "field_hints",
    "hint_members",
    "is_empty_default",
    "message_to_json",
    "object_from_json",
    "object_to_json",
    "parse_hex",
    "type_description_from_json",
    "type_description_to_json",
    "value_from_json",
    "value_to_json",
    "write_json",
]
