"""Class tables, short-name arithmetic, attribute 1, unknown indexes, result-code conversions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import Integer
from cosemnet.codec.xdlms import common as xdlms_common
from cosemnet.cosem import CLASSES_BY_ID, INTERFACE_CLASSES, Data, InterfaceClass, Register
from cosemnet.cosem.results import (
    ActionResult,
    CosemAccessError,
    DataAccessResult,
    to_action_result,
    to_data_access_result,
)

from .helpers import T0, ctx_at

# Method short-name offsets published for the classes (Blue Book tables; also what public clients use).
KNOWN_FIRST_METHOD_OFFSETS = {
    3: 0x28,
    4: 0x38,
    5: 0x48,
    7: 0x58,
    8: 0x60,
    9: 0x20,
    12: 0x20,
    15: 0x60,
    18: 0x40,
    40: 0x38,
    64: 0x30,
    70: 0x20,
}

EXPECTED_CLASS_IDS = {
    1,
    3,
    4,
    5,
    7,
    8,
    9,
    12,
    15,
    17,
    18,
    21,
    22,
    26,
    40,
    41,
    48,
    64,
    70,
    71,
    124,
    130,
    131,
    132,
    133,
}


def test_every_required_class_is_implemented() -> None:
    assert set(CLASSES_BY_ID) == EXPECTED_CLASS_IDS
    assert len(INTERFACE_CLASSES) == len(EXPECTED_CLASS_IDS)


@pytest.mark.parametrize("cls", INTERFACE_CLASSES, ids=lambda c: c.__name__)
def test_class_tables(cls: type[InterfaceClass]) -> None:
    attrs = cls.ATTRIBUTES
    assert [a.index for a in attrs] == list(range(1, len(attrs) + 1))
    assert attrs[0].name == "logical_name" and attrs[0].static
    for a in attrs:
        assert a.short_name_offset == 8 * (a.index - 1), a  # x + 8(n-1)
    methods = cls.METHODS
    assert [m.index for m in methods] == list(range(1, len(methods) + 1))
    offsets = [m.short_name_offset for m in methods]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    if methods:
        assert offsets[0] > attrs[-1].short_name_offset  # methods after the last attribute
        assert all(o % 8 == 0 for o in offsets)
        assert all(b - a == 8 for a, b in itertools.pairwise(offsets))
    if cls.CLASS_ID in KNOWN_FIRST_METHOD_OFFSETS:
        assert offsets[0] == KNOWN_FIRST_METHOD_OFFSETS[cls.CLASS_ID]
    for index in cls.SELECTIVE_ACCESS:
        cls.attribute_def(index)
    assert len({a.name for a in attrs}) == len(attrs)


@given(
    base=st.integers(0, 0xF000 // 8).map(lambda n: n * 8),
    cls=st.sampled_from(INTERFACE_CLASSES),
)
def test_short_name_arithmetic(base: int, cls: type[InterfaceClass]) -> None:
    obj = _instance(cls, base)
    for a in cls.ATTRIBUTES:
        sn = obj.attribute_short_name(a.index)
        assert sn == base + 8 * (a.index - 1)
        assert obj.resolve_short_name(sn) == ("attribute", a.index)
    for m in cls.METHODS:
        sn = obj.method_short_name(m.index)
        assert sn == base + m.short_name_offset
        assert obj.resolve_short_name(sn) == ("method", m.index)
    assert obj.resolve_short_name(base + cls.short_name_span()) is None
    assert obj.resolve_short_name(base - 8) is None


def test_short_name_examples() -> None:
    reg = Register("1-0:1.8.0*255", base_name=0x0100)
    assert reg.attribute_short_name(2) == 0x0108
    assert reg.method_short_name(1) == 0x0128  # reset at x + 0x28
    assert reg.resolve_short_name(0x0110) == ("attribute", 3)
    assert reg.resolve_short_name(0x0118) is None  # gap before the method
    with pytest.raises(ValueError):
        Register("1-0:1.8.0*255").attribute_short_name(2)
    with pytest.raises(ValueError):
        Register("1-0:1.8.0*255", base_name=0x0101)
    with pytest.raises(ValueError):
        Register("1-0:1.8.0*255", base_name=0x10000)


def _instance(cls: type[InterfaceClass], base: int) -> InterfaceClass:
    from .test_encoding import build_objects

    for obj in build_objects():
        if type(obj) is cls:
            obj.base_name = base
            return obj
    raise AssertionError(cls)


def test_logical_name_and_unknown_indexes() -> None:
    ctx = ctx_at(T0)
    obj = Data("0-0:96.1.0*255", b"SN123")
    assert obj.get(1, ctx) == bytes(Obis.parse("0-0:96.1.0*255"))
    assert type(obj.get(1, ctx)) is bytes  # an Obis would not encode (the codec wants exact bytes)
    with pytest.raises(CosemAccessError) as info:
        obj.set(1, bytes(6), ctx)
    assert info.value.result is DataAccessResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError) as info:
        obj.get(3, ctx)
    assert info.value.result is DataAccessResult.OBJECT_UNDEFINED
    with pytest.raises(CosemAccessError) as info:
        obj.action(1, Integer(0), ctx)
    assert info.value.result is ActionResult.OBJECT_UNDEFINED
    assert repr(Register("1-0:1.8.0*255", base_name=0x100)) == "Register('1-0:1.8.0*255', base_name=0x0100)"


def test_action_failures_carry_action_results() -> None:
    reg = Register("1-0:1.8.0*255")
    with pytest.raises(CosemAccessError) as info:
        reg.action(1, Integer(5), ctx_at(T0))  # reset takes integer 0
    assert info.value.result is ActionResult.TYPE_UNMATCHED
    assert info.value.action_result is ActionResult.TYPE_UNMATCHED
    assert info.value.data_access_result is DataAccessResult.TYPE_UNMATCHED


def test_result_enums_are_the_codec_ones_and_convert() -> None:
    assert DataAccessResult is xdlms_common.DataAccessResult
    assert ActionResult is xdlms_common.ActionResult
    for r in DataAccessResult:
        a = to_action_result(r)
        if r.name in {a.name for a in ActionResult}:
            assert a.value == r.value and a.name == r.name
        else:
            assert a is ActionResult.OTHER_REASON
        assert to_data_access_result(a) in (r, DataAccessResult.OTHER_REASON)
    assert to_data_access_result(ActionResult.LONG_ACTION_ABORTED) is DataAccessResult.OTHER_REASON
    err = CosemAccessError(DataAccessResult.SCOPE_OF_ACCESS_VIOLATED, "why")
    assert str(err) == "scope-of-access-violated: why"


def test_layering_imports_only_codec_security_and_errors() -> None:
    import ast
    import pathlib

    import cosemnet.cosem

    allowed = ("cosemnet.codec", "cosemnet.security", "cosemnet.errors", "cosemnet.cosem")
    package = pathlib.Path(cosemnet.cosem.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cosemnet"):
                assert node.module.startswith(allowed), (path.name, node.module)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("cosemnet") or alias.name.startswith(allowed)
