"""Reusable hypothesis strategies: COSEM Data values and every xDLMS APDU class.

Import from test modules as ``from strategies import data_values`` (``tests/`` is on ``sys.path`` under
pytest's default import mode).

Values are generated in the canonical form the decoders produce (typed integers, ``bytes`` not
``bytearray``, ``Obis`` for instance ids...), so ``decode(encode(x))`` must be *typed-equal* to ``x``:
compare with :func:`typed_equal`, which unlike ``==`` tells ``True`` from ``Unsigned(1)``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from hypothesis import strategies as st

from cosemnet.codec.datetime import CosemDate, CosemDateTime, CosemTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import (
    DONT_CARE,
    INT_TYPES,
    BitString,
    CompactArray,
    Float32,
    Tag,
    TypeDescription,
    Utf8String,
)
from cosemnet.codec.xdlms import (
    ActionRequestNextPblock,
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithList,
    ActionRequestWithListAndFirstPblock,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithOptionalData,
    ActionResponseWithPblock,
    ActionResult,
    BlockNumber,
    BlockNumberAccess,
    CosemAttributeDescriptor,
    CosemAttributeDescriptorWithSelection,
    CosemMethodDescriptor,
    DataAccessResult,
    DataBlockG,
    DataBlockResult,
    DataBlockSA,
    DataNotification,
    EventNotificationRequest,
    ExceptionResponse,
    ExceptionServiceError,
    GeneralBlockTransfer,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDataBlock,
    GetResponseWithList,
    InformationReportRequest,
    ParameterizedAccess,
    Priority,
    ReadDataBlockAccess,
    ReadRequest,
    ReadResponse,
    SelectiveAccessDescriptor,
    ServiceClass,
    SetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetRequestWithList,
    SetRequestWithListAndFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseLastDatablockWithList,
    SetResponseNormal,
    SetResponseWithList,
    StateError,
    UnconfirmedWriteRequest,
    VariableName,
    WriteDataBlockAccess,
    WriteRequest,
    WriteResponse,
)

# --------------------------------------------------------------------------------------------------
# Typed equality


def typed_equal(a: Any, b: Any) -> bool:
    """``a == b`` with the types compared too, recursively (lists, tuples, dataclasses, floats bitwise
    up to NaN payloads)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(typed_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return all(typed_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return bool(a == b)


# --------------------------------------------------------------------------------------------------
# Data values


def typed_ints() -> st.SearchStrategy[Any]:
    return st.one_of(*(st.integers(cls.minimum, cls.maximum).map(cls) for cls in INT_TYPES.values()))


def _special(values: range, *extra: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(values), st.sampled_from(extra))


def cosem_dates() -> st.SearchStrategy[CosemDate]:
    return st.builds(
        CosemDate,
        st.integers(0, 0xFFFF),
        _special(range(1, 13), 0xFD, 0xFE, 0xFF),
        _special(range(1, 32), 0xFD, 0xFE, 0xFF),
        _special(range(1, 8), 0xFF),
    )


def cosem_times() -> st.SearchStrategy[CosemTime]:
    return st.builds(
        CosemTime,
        _special(range(24), 0xFF),
        _special(range(60), 0xFF),
        _special(range(60), 0xFF),
        _special(range(100), 0xFF),
    )


def cosem_date_times() -> st.SearchStrategy[CosemDateTime]:
    return st.builds(
        lambda d, t, deviation, status: CosemDateTime(
            d.year, d.month, d.day, d.day_of_week, t.hour, t.minute, t.second, t.hundredths, deviation, status
        ),
        cosem_dates(),
        cosem_times(),
        st.one_of(st.integers(-720, 720), st.just(-0x8000)),
        st.integers(0, 0xFF),
    )


def bit_strings() -> st.SearchStrategy[BitString]:
    return st.integers(0, 70).flatmap(
        lambda n: st.binary(min_size=(n + 7) // 8, max_size=(n + 7) // 8).map(lambda b: BitString(b, n))
    )


def visible_strings(max_size: int = 20) -> st.SearchStrategy[str]:
    return st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=max_size)


def utf8_strings(max_size: int = 20) -> st.SearchStrategy[Utf8String]:
    return st.text(st.characters(codec="utf-8"), max_size=max_size).map(Utf8String)


def float32s() -> st.SearchStrategy[Float32]:
    return st.floats(width=32, allow_nan=False).map(Float32)


def float64s() -> st.SearchStrategy[float]:
    return st.floats(allow_nan=False)


# Simple type tags usable inside a compact-array, with a strategy for their values.
_COMPACT_SIMPLE: dict[Tag, st.SearchStrategy[Any]] = {
    **{tag: st.integers(cls.minimum, cls.maximum).map(cls) for tag, cls in INT_TYPES.items()},
    Tag.BOOLEAN: st.booleans(),
    Tag.OCTET_STRING: st.binary(max_size=20),
    Tag.VISIBLE_STRING: visible_strings(),
    Tag.UTF8_STRING: utf8_strings(),
    Tag.BIT_STRING: bit_strings(),
    Tag.FLOAT32: float32s(),
    Tag.FLOAT64: float64s(),
    Tag.DATE_TIME: cosem_date_times(),
    Tag.DATE: cosem_dates(),
    Tag.TIME: cosem_times(),
}


def type_descriptions() -> st.SearchStrategy[TypeDescription]:
    """Type descriptions whose values all take at least one byte (zero-size elements cannot be
    decoded from a compact-array body)."""
    simple = st.sampled_from(sorted(_COMPACT_SIMPLE)).map(TypeDescription)
    return st.recursive(
        simple,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=4).map(
                lambda members: TypeDescription(Tag.STRUCTURE, tuple(members))
            ),
            st.tuples(children, st.integers(1, 3)).map(
                lambda ec: TypeDescription(Tag.ARRAY, (ec[0],), ec[1])
            ),
        ),
        max_leaves=6,
    )


def values_of(desc: TypeDescription) -> st.SearchStrategy[Any]:
    """Values matching a compact-array type description."""
    if desc.tag == Tag.STRUCTURE:
        return st.tuples(*(values_of(m) for m in desc.elements))
    if desc.tag == Tag.ARRAY:
        element = values_of(desc.elements[0])
        return st.lists(element, min_size=desc.count, max_size=desc.count)
    return _COMPACT_SIMPLE[desc.tag]


def compact_arrays() -> st.SearchStrategy[CompactArray]:
    return type_descriptions().flatmap(
        lambda desc: st.lists(values_of(desc), max_size=5).map(lambda vs: CompactArray(desc, tuple(vs)))
    )


def simple_data_values() -> st.SearchStrategy[Any]:
    """Every Data type except array, structure and compact-array."""
    return st.one_of(
        st.none(),
        st.booleans(),
        typed_ints(),
        float32s(),
        float64s(),
        st.binary(max_size=40),
        visible_strings(),
        utf8_strings(),
        bit_strings(),
        cosem_date_times(),
        cosem_dates(),
        cosem_times(),
        st.just(DONT_CARE),
    )


def data_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any COSEM Data value: simple values, nested arrays (lists) and structures (tuples), compact
    arrays."""
    base = st.one_of(simple_data_values(), compact_arrays())
    return st.recursive(
        base,
        lambda children: st.one_of(st.lists(children, max_size=5), st.lists(children, max_size=5).map(tuple)),
        max_leaves=max_leaves,
    )


def uniform_rows(min_size: int = 8, max_size: int = 40) -> st.SearchStrategy[list[Any]]:
    """Arrays of structures sharing one layout (what the A-XDR columnar fast path handles): a profile
    buffer-like table."""
    column_kinds = [
        *(st.integers(cls.minimum, cls.maximum).map(cls) for cls in INT_TYPES.values()),
        st.booleans(),
        float64s(),
        float32s(),
        cosem_date_times(),
        st.none(),
        st.just(DONT_CARE),
    ]
    fixed_octets = st.integers(0, 20).map(lambda n: st.binary(min_size=n, max_size=n))
    fixed_text = st.integers(0, 10).map(
        lambda n: st.text(st.characters(min_codepoint=0, max_codepoint=255), min_size=n, max_size=n)
    )
    column = st.one_of(st.sampled_from(column_kinds), fixed_octets, fixed_text)
    return st.lists(column, min_size=1, max_size=6).flatmap(
        lambda cols: st.lists(st.tuples(*cols), min_size=min_size, max_size=max_size)
    )


# --------------------------------------------------------------------------------------------------
# xDLMS building blocks

obis_codes = st.binary(min_size=6, max_size=6).map(Obis)
data_access_results = st.sampled_from(DataAccessResult)
action_results = st.sampled_from(ActionResult)
u32 = st.integers(0, 0xFFFFFFFF)
u16 = st.integers(0, 0xFFFF)
small_data = data_values(max_leaves=6)


def _iip() -> dict[str, st.SearchStrategy[Any]]:
    return {
        "invoke_id": st.integers(0, 15),
        "service_class": st.sampled_from(ServiceClass),
        "priority": st.sampled_from(Priority),
        "reserved": st.integers(0, 3),
    }


attribute_descriptors = st.builds(
    CosemAttributeDescriptor, st.integers(0, 0xFFFF), obis_codes, st.integers(-128, 127)
)
method_descriptors = st.builds(
    CosemMethodDescriptor, st.integers(0, 0xFFFF), obis_codes, st.integers(-128, 127)
)
selective_access = st.builds(SelectiveAccessDescriptor, st.integers(0, 255), small_data)
optional_selection = st.one_of(st.none(), selective_access)
descriptors_with_selection = st.builds(
    CosemAttributeDescriptorWithSelection, attribute_descriptors, optional_selection
)
get_data_results = st.one_of(data_access_results, small_data)
data_block_g = st.builds(
    DataBlockG, st.booleans(), u32, st.one_of(data_access_results, st.binary(max_size=30))
)
data_block_sa = st.builds(DataBlockSA, st.booleans(), u32, st.binary(max_size=30))
action_responses_with_data = st.one_of(
    st.builds(
        ActionResponseWithOptionalData, action_results, get_data_results.filter(lambda v: v is not None)
    ),
    st.builds(ActionResponseWithOptionalData, action_results, st.none(), st.booleans()),
)
variable_access_specifications = st.one_of(
    st.builds(VariableName, u16),
    st.builds(ParameterizedAccess, u16, st.integers(0, 255), small_data),
    st.builds(BlockNumberAccess, u16),
    st.builds(ReadDataBlockAccess, st.booleans(), u16, st.binary(max_size=20)),
    st.builds(WriteDataBlockAccess, st.booleans(), u16),
)
_lists = {"max_size": 4}


def _apdu(cls: type, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(cls, **fields, **_iip())


APDU_STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    GetRequestNormal: _apdu(
        GetRequestNormal,
        cosem_attribute_descriptor=attribute_descriptors,
        access_selection=optional_selection,
    ),
    GetRequestNext: _apdu(GetRequestNext, block_number=u32),
    GetRequestWithList: _apdu(
        GetRequestWithList, attribute_descriptor_list=st.lists(descriptors_with_selection, **_lists)
    ),
    GetResponseNormal: _apdu(GetResponseNormal, result=get_data_results),
    GetResponseWithDataBlock: _apdu(GetResponseWithDataBlock, result=data_block_g),
    GetResponseWithList: _apdu(GetResponseWithList, result=st.lists(get_data_results, **_lists)),
    SetRequestNormal: _apdu(
        SetRequestNormal,
        cosem_attribute_descriptor=attribute_descriptors,
        access_selection=optional_selection,
        value=small_data,
    ),
    SetRequestWithFirstDatablock: _apdu(
        SetRequestWithFirstDatablock,
        cosem_attribute_descriptor=attribute_descriptors,
        access_selection=optional_selection,
        datablock=data_block_sa,
    ),
    SetRequestWithDatablock: _apdu(SetRequestWithDatablock, datablock=data_block_sa),
    SetRequestWithList: _apdu(
        SetRequestWithList,
        attribute_descriptor_list=st.lists(descriptors_with_selection, **_lists),
        value_list=st.lists(small_data, **_lists),
    ),
    SetRequestWithListAndFirstDatablock: _apdu(
        SetRequestWithListAndFirstDatablock,
        attribute_descriptor_list=st.lists(descriptors_with_selection, **_lists),
        datablock=data_block_sa,
    ),
    SetResponseNormal: _apdu(SetResponseNormal, result=data_access_results),
    SetResponseDatablock: _apdu(SetResponseDatablock, block_number=u32),
    SetResponseLastDatablock: _apdu(SetResponseLastDatablock, result=data_access_results, block_number=u32),
    SetResponseLastDatablockWithList: _apdu(
        SetResponseLastDatablockWithList, result=st.lists(data_access_results, **_lists), block_number=u32
    ),
    SetResponseWithList: _apdu(SetResponseWithList, result=st.lists(data_access_results, **_lists)),
    ActionRequestNormal: st.one_of(
        _apdu(
            ActionRequestNormal,
            cosem_method_descriptor=method_descriptors,
            method_invocation_parameters=small_data.filter(lambda v: v is not None),
        ),
        _apdu(
            ActionRequestNormal,
            cosem_method_descriptor=method_descriptors,
            method_invocation_parameters=st.none(),
            explicit_null=st.booleans(),
        ),
    ),
    ActionRequestNextPblock: _apdu(ActionRequestNextPblock, block_number=u32),
    ActionRequestWithList: _apdu(
        ActionRequestWithList,
        cosem_method_descriptor_list=st.lists(method_descriptors, **_lists),
        method_invocation_parameters=st.lists(small_data, **_lists),
    ),
    ActionRequestWithFirstPblock: _apdu(
        ActionRequestWithFirstPblock, cosem_method_descriptor=method_descriptors, pblock=data_block_sa
    ),
    ActionRequestWithListAndFirstPblock: _apdu(
        ActionRequestWithListAndFirstPblock,
        cosem_method_descriptor_list=st.lists(method_descriptors, **_lists),
        pblock=data_block_sa,
    ),
    ActionRequestWithPblock: _apdu(ActionRequestWithPblock, pblock=data_block_sa),
    ActionResponseNormal: _apdu(ActionResponseNormal, single_response=action_responses_with_data),
    ActionResponseWithPblock: _apdu(ActionResponseWithPblock, pblock=data_block_sa),
    ActionResponseWithList: _apdu(
        ActionResponseWithList, list_of_responses=st.lists(action_responses_with_data, **_lists)
    ),
    ActionResponseNextPblock: _apdu(ActionResponseNextPblock, block_number=u32),
    ReadRequest: st.builds(ReadRequest, st.lists(variable_access_specifications, **_lists)),
    ReadResponse: st.builds(
        ReadResponse,
        st.lists(
            st.one_of(
                small_data,
                data_access_results,
                st.builds(DataBlockResult, st.booleans(), u16, st.binary(max_size=20)),
                st.builds(BlockNumber, u16),
            ),
            **_lists,
        ),
    ),
    WriteRequest: st.builds(
        WriteRequest, st.lists(variable_access_specifications, **_lists), st.lists(small_data, **_lists)
    ),
    UnconfirmedWriteRequest: st.builds(
        UnconfirmedWriteRequest,
        st.lists(variable_access_specifications, **_lists),
        st.lists(small_data, **_lists),
    ),
    WriteResponse: st.builds(
        WriteResponse,
        st.lists(st.one_of(st.none(), data_access_results, st.builds(BlockNumber, u16)), **_lists),
    ),
    InformationReportRequest: st.builds(
        InformationReportRequest,
        st.one_of(st.none(), st.binary(min_size=12, max_size=12)),
        st.lists(variable_access_specifications, **_lists),
        st.lists(small_data, **_lists),
    ),
    DataNotification: st.builds(
        DataNotification,
        invoke_id=st.integers(0, 0xFFFFFF),
        date_time=st.one_of(st.none(), st.binary(min_size=1, max_size=20)),
        notification_body=small_data,
        self_descriptive=st.booleans(),
        break_on_error=st.booleans(),
        service_class=st.sampled_from(ServiceClass),
        priority=st.sampled_from(Priority),
        reserved=st.integers(0, 15),
    ),
    EventNotificationRequest: st.builds(
        EventNotificationRequest,
        st.one_of(st.none(), st.binary(max_size=20)),
        attribute_descriptors,
        small_data,
    ),
    ExceptionResponse: st.one_of(
        st.builds(
            ExceptionResponse,
            st.sampled_from(StateError),
            st.sampled_from(
                [e for e in ExceptionServiceError if e is not ExceptionServiceError.INVOCATION_COUNTER_ERROR]
            ),
        ),
        st.builds(
            ExceptionResponse,
            st.sampled_from(StateError),
            st.just(ExceptionServiceError.INVOCATION_COUNTER_ERROR),
            u32,
        ),
    ),
    GeneralBlockTransfer: st.builds(
        GeneralBlockTransfer,
        st.booleans(),
        st.booleans(),
        st.integers(0, 63),
        u16,
        u16,
        st.binary(max_size=300),
    ),
}
"""One strategy per concrete xDLMS APDU class."""

xdlms_apdus = st.one_of(*APDU_STRATEGIES.values())
