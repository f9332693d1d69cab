"""Register (class_id 3, version 0): a value with a scaler and a unit.

``scaler_unit`` = structure {scaler integer, unit enum}; the physical value is
``value * 10**scaler`` in ``unit``. Method 1 ``reset(data)`` (integer 0) sets the value to its
default.

Design choices: the default value of a reset is 0 of the value's type (an empty string for string
types); a SET of ``value`` must keep the current DLMS type; the value CHOICE allowed is the Blue
Book's simple types (integers, floats, octet-, visible- and utf8-strings).
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import (
    DataValue,
    DoubleLong,
    DoubleLongUnsigned,
    Enumerated,
    Float32,
    Integer,
    Long,
    Long64,
    Long64Unsigned,
    LongUnsigned,
    TypedInt,
    Unsigned,
    Utf8String,
)
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, MethodDef, SelectiveAccess
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import ActionResult, CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_int, as_struct


class Unit(IntEnum):
    """Units of scaler_unit (IEC 62056-6-2 table of units, the common part). Other values are allowed
    on the wire; :attr:`Register.unit` keeps them as plain ints."""

    YEAR = 1
    MONTH = 2
    WEEK = 3
    DAY = 4
    HOUR = 5
    MINUTE = 6
    SECOND = 7
    DEGREE = 8
    DEGREE_CELSIUS = 9
    CURRENCY = 10
    METRE = 11
    METRE_PER_SECOND = 12
    CUBIC_METRE = 13
    CUBIC_METRE_CORRECTED = 14
    CUBIC_METRE_PER_HOUR = 15
    CUBIC_METRE_PER_HOUR_CORRECTED = 16
    CUBIC_METRE_PER_DAY = 17
    CUBIC_METRE_PER_DAY_CORRECTED = 18
    LITRE = 19
    KILOGRAM = 20
    NEWTON = 21
    NEWTON_METRE = 22
    PASCAL = 23
    BAR = 24
    JOULE = 25
    JOULE_PER_HOUR = 26
    WATT = 27
    VOLT_AMPERE = 28
    VAR = 29
    WATT_HOUR = 30
    VOLT_AMPERE_HOUR = 31
    VAR_HOUR = 32
    AMPERE = 33
    COULOMB = 34
    VOLT = 35
    VOLT_PER_METRE = 36
    FARAD = 37
    OHM = 38
    OHM_METRE = 39
    WEBER = 40
    TESLA = 41
    AMPERE_PER_METRE = 42
    HENRY = 43
    HERTZ = 44
    ACTIVE_ENERGY_METER_CONSTANT = 45
    REACTIVE_ENERGY_METER_CONSTANT = 46
    APPARENT_ENERGY_METER_CONSTANT = 47
    VOLT_SQUARED_HOUR = 48
    AMPERE_SQUARED_HOUR = 49
    KILOGRAM_PER_SECOND = 50
    SIEMENS = 51
    KELVIN = 52
    PERCENTAGE = 56
    AMPERE_HOUR = 57
    OTHER = 254
    COUNT = 255


REGISTER_VALUE_TYPES: tuple[type, ...] = (
    DoubleLong,
    DoubleLongUnsigned,
    bytes,
    str,
    Utf8String,
    Integer,
    Long,
    Unsigned,
    LongUnsigned,
    Long64,
    Long64Unsigned,
    Float32,
    float,
)


def default_of(value: DataValue) -> DataValue:
    """The reset value of a register value: 0 of its type, or an empty string."""
    if isinstance(value, TypedInt):
        return type(value)(0)
    if type(value) is Float32:
        return Float32(0.0)
    if type(value) is float:
        return 0.0
    if type(value) is bytes:
        return b""
    if type(value) is Utf8String:
        return Utf8String("")
    if type(value) is str:
        return ""
    return None


def check_register_value(value: DataValue, current: DataValue) -> DataValue:
    """A SET value for ``value``: a register value type, the same as the current one."""
    if type(value) not in REGISTER_VALUE_TYPES:
        raise type_unmatched(f"{type(value).__name__} is not a register value type")
    if current is not None and type(value) is not type(current):
        raise type_unmatched(f"value must keep its type {type(current).__name__}")
    return value


class Register(InterfaceClass):
    """Register: 2 ``value``, 3 ``scaler_unit``; method 1 ``reset``."""

    CLASS_ID: ClassVar[int] = 3
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "value", False, 0x08),
        AttributeDef(3, "scaler_unit", True, 0x10),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (MethodDef(1, "reset", 0x28),)

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        value: DataValue = None,
        scaler: int = 0,
        unit: int = Unit.COUNT,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        if value is None:
            value = DoubleLongUnsigned(0)
        if type(value) not in REGISTER_VALUE_TYPES:
            raise ValueError(f"{type(value).__name__} is not a register value type")
        self.value: DataValue = value
        Integer(scaler)  # range check
        Enumerated(unit)
        self.scaler = scaler
        self.unit = unit

    @property
    def scaler_unit(self) -> DataValue:
        return (Integer(self.scaler), Enumerated(self.unit))

    def physical_value(self) -> float:
        """``value * 10**scaler`` (numeric values only)."""
        if isinstance(self.value, int | float) and not isinstance(self.value, bool):
            return float(self.value) * 10.0**self.scaler
        raise TypeError("register value is not numeric")

    def _set_scaler_unit(self, value: DataValue) -> None:
        scaler, unit = as_struct(value, 2, "scaler_unit")
        self.scaler = as_int(scaler, Integer, "scaler")
        self.unit = as_int(unit, Enumerated, "unit")

    def _reset(self, ctx: AccessContext) -> None:
        self.value = default_of(self.value)

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return self.value
        return self.scaler_unit

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            self.value = check_register_value(value, self.value)
        else:
            self._set_scaler_unit(value)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        check_zero_parameter(parameter)
        self._reset(ctx)
        return None


def check_zero_parameter(parameter: DataValue) -> None:
    """Methods whose parameter is ``data`` "integer (0)": accept integer 0 (and null-data).

    Design choice: null-data is accepted too, as several clients send it for parameterless methods.
    """
    if parameter is None:
        return
    if type(parameter) is not Integer or parameter != 0:
        raise CosemAccessError(ActionResult.TYPE_UNMATCHED, "method parameter must be integer 0")


__all__ = [
    "REGISTER_VALUE_TYPES",
    "Register",
    "Unit",
    "check_register_value",
    "check_zero_parameter",
    "default_of",
]
