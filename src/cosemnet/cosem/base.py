"""Base of every COSEM interface class (IEC 62056-6-2, 4.1 / 4.3).

Each interface class is a plain subclass of :class:`InterfaceClass` with explicit class attributes:

* ``CLASS_ID`` and ``VERSION``;
* ``ATTRIBUTES``: a tuple of :class:`AttributeDef` (index, name, static, short_name_offset), attribute 1
  always ``logical_name``;
* ``METHODS``: a tuple of :class:`MethodDef` (index, name, short_name_offset);
* ``SELECTIVE_ACCESS``: attribute index -> the access selectors it supports.

Subclasses implement ``_get``, ``_set`` and ``_action`` (attribute 1 and the access-right checks are
done here). A failure raises :class:`CosemAccessError` with the Data-Access-Result / Action-Result.

Short names (SN referencing): attribute ``n`` of an object with ``base_name`` x is ``x + 8(n-1)``;
method ``m`` is at ``x + METHODS[m].short_name_offset``, the offsets each class defines.

Design choices where the standard is silent:

* An attribute or method index the class does not define fails with ``object-undefined``.
* An object the current association does not list fails with ``object-undefined``.
* Selective access on an attribute that does not support it, or with a selector it does not support,
  fails with ``other-reason``; malformed access parameters fail with ``type-unmatched``.
* Writing an attribute the class keeps read-only by nature (logical_name, counters the meter
  maintains...) fails with ``read-write-denied`` whatever the access rights say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult

LOGICAL_NAME = 1
"""Index of the logical_name attribute of every class."""


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute of an interface class.

    ``static``: the value changes only by configuration (clients may cache it), as the Blue Book
    marks attributes static or dynamic.
    """

    index: int
    name: str
    static: bool
    short_name_offset: int


@dataclass(frozen=True, slots=True)
class MethodDef:
    """One method of an interface class, with its short-name offset from the object's base_name."""

    index: int
    name: str
    short_name_offset: int


class SelectiveAccess(Protocol):
    """A selective-access-descriptor: {access_selector unsigned, access_parameters Data}.

    Any object with these two read-only attributes works (the xDLMS codec's descriptor class or
    :class:`cosemnet.cosem.selective.SelectiveAccessDescriptor`).
    """

    @property
    def access_selector(self) -> int: ...

    @property
    def access_parameters(self) -> DataValue: ...


LOGICAL_NAME_DEF = AttributeDef(1, "logical_name", True, 0x00)


class InterfaceClass:
    """An instance of a COSEM interface class (a COSEM object)."""

    CLASS_ID: ClassVar[int]
    VERSION: ClassVar[int]
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (LOGICAL_NAME_DEF,)
    METHODS: ClassVar[tuple[MethodDef, ...]] = ()
    SELECTIVE_ACCESS: ClassVar[dict[int, tuple[int, ...]]] = {}

    def __init__(self, logical_name: Obis | str | bytes, *, base_name: int | None = None) -> None:
        self.logical_name: Obis = logical_name if type(logical_name) is Obis else Obis(logical_name)
        if base_name is not None and not 0 <= base_name <= 0xFFFF:
            raise ValueError(f"base_name {base_name} is not 0..0xFFFF")
        if base_name is not None and base_name % 8:
            raise ValueError(f"base_name 0x{base_name:04X} is not a multiple of 8")
        self.base_name: int | None = base_name

    # ----------------------------------------------------------------------------------------------
    # Class description

    @property
    def class_id(self) -> int:
        return self.CLASS_ID

    @property
    def version(self) -> int:
        return self.VERSION

    @classmethod
    def attribute_def(cls, index: int) -> AttributeDef:
        """The definition of attribute ``index``; ``object-undefined`` when the class has none."""
        for a in cls.ATTRIBUTES:
            if a.index == index:
                return a
        raise CosemAccessError(
            DataAccessResult.OBJECT_UNDEFINED, f"class {cls.CLASS_ID} has no attribute {index}"
        )

    @classmethod
    def method_def(cls, index: int) -> MethodDef:
        """The definition of method ``index``; ``object-undefined`` when the class has none."""
        for m in cls.METHODS:
            if m.index == index:
                return m
        raise CosemAccessError(ActionResult.OBJECT_UNDEFINED, f"class {cls.CLASS_ID} has no method {index}")

    # ----------------------------------------------------------------------------------------------
    # Short names

    def _require_base_name(self) -> int:
        if self.base_name is None:
            raise ValueError(f"{self!r} has no base_name")
        return self.base_name

    def attribute_short_name(self, index: int) -> int:
        """The short name of attribute ``index`` (base_name + 8(index - 1))."""
        return self._require_base_name() + self.attribute_def(index).short_name_offset

    def method_short_name(self, index: int) -> int:
        """The short name of method ``index`` (base_name + the class-defined offset)."""
        return self._require_base_name() + self.method_def(index).short_name_offset

    @classmethod
    def short_name_span(cls) -> int:
        """Largest offset used by the class plus 8: the short names an object occupies."""
        offsets = [a.short_name_offset for a in cls.ATTRIBUTES] + [m.short_name_offset for m in cls.METHODS]
        return max(offsets) + 8

    def resolve_short_name(self, short_name: int) -> tuple[str, int] | None:
        """``("attribute", n)`` or ``("method", n)`` for a short name inside this object, else None."""
        if self.base_name is None:
            return None
        offset = short_name - self.base_name
        for a in self.ATTRIBUTES:
            if a.short_name_offset == offset:
                return ("attribute", a.index)
        for m in self.METHODS:
            if m.short_name_offset == offset:
                return ("method", m.index)
        return None

    # ----------------------------------------------------------------------------------------------
    # Services

    def get(
        self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None = None
    ) -> DataValue:
        """GET attribute ``index`` (checks the association's rights, then reads)."""
        self.attribute_def(index)
        self._check_visible(ctx, DataAccessResult.OBJECT_UNDEFINED)
        if ctx.association is not None:
            rights = ctx.association.rights_for(self.CLASS_ID, self.logical_name)
            assert rights is not None  # _check_visible
            if not rights.attribute_mode(index).allows_read(ctx.request_authenticated):
                raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, f"attribute {index} not readable")
        if selective_access is not None:
            selectors = self.SELECTIVE_ACCESS.get(index, ())
            if selective_access.access_selector not in selectors:
                raise CosemAccessError(
                    DataAccessResult.OTHER_REASON,
                    f"attribute {index} does not support access selector {selective_access.access_selector}",
                )
        if index == LOGICAL_NAME:
            return bytes(self.logical_name)
        return self._get(index, ctx, selective_access)

    def set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        """SET attribute ``index`` to ``value`` (checks rights and type, then writes)."""
        self.attribute_def(index)
        self._check_visible(ctx, DataAccessResult.OBJECT_UNDEFINED)
        if ctx.association is not None:
            rights = ctx.association.rights_for(self.CLASS_ID, self.logical_name)
            assert rights is not None
            if not rights.attribute_mode(index).allows_write(ctx.request_authenticated):
                raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, f"attribute {index} not writable")
        if index == LOGICAL_NAME:
            raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, "logical_name is read-only")
        self._set(index, value, ctx)

    def action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        """ACTION method ``index`` with ``parameter``; returns the return parameter or None.

        Failures raise :class:`CosemAccessError` whose ``result`` is an :class:`ActionResult`.
        """
        self.method_def(index)
        try:
            self._check_visible(ctx, DataAccessResult.OBJECT_UNDEFINED)
            if ctx.association is not None:
                rights = ctx.association.rights_for(self.CLASS_ID, self.logical_name)
                assert rights is not None
                if not rights.method_mode(index).allows(ctx.request_authenticated):
                    raise CosemAccessError(ActionResult.READ_WRITE_DENIED, f"method {index} not allowed")
            return self._action(index, parameter, ctx)
        except CosemAccessError as exc:
            if isinstance(exc.result, ActionResult):
                raise
            raise CosemAccessError(exc.action_result, exc.reason) from None

    def _check_visible(self, ctx: AccessContext, result: DataAccessResult) -> None:
        if (
            ctx.association is not None
            and ctx.association.rights_for(self.CLASS_ID, self.logical_name) is None
        ):
            raise CosemAccessError(result, f"{self.logical_name} is not in the association's object list")

    # ----------------------------------------------------------------------------------------------
    # Subclass hooks

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        """Read attribute ``index`` (>= 2); ``selective_access`` already checked against SELECTIVE_ACCESS."""
        raise CosemAccessError(DataAccessResult.OBJECT_UNDEFINED, f"attribute {index}")

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        """Write attribute ``index`` (>= 2). The default refuses."""
        raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, f"attribute {index} is read-only")

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        """Run method ``index``."""
        raise CosemAccessError(ActionResult.OBJECT_UNDEFINED, f"method {index}")

    # ----------------------------------------------------------------------------------------------
    # Convenience

    def read(self, index: int, ctx: AccessContext) -> DataValue:
        """Read an attribute without access-right checks (the meter's own use)."""
        return self.get(index, ctx.internal() if ctx.association is not None else ctx)

    def __repr__(self) -> str:
        bn = f", base_name=0x{self.base_name:04X}" if self.base_name is not None else ""
        return f"{type(self).__name__}('{self.logical_name}'{bn})"


def read_only(index: int) -> CosemAccessError:
    """The error for a write to an attribute the class maintains itself."""
    return CosemAccessError(
        DataAccessResult.READ_WRITE_DENIED, f"attribute {index} is maintained by the meter"
    )


__all__ = [
    "LOGICAL_NAME",
    "LOGICAL_NAME_DEF",
    "ActionResult",
    "AttributeDef",
    "CosemAccessError",
    "DataAccessResult",
    "InterfaceClass",
    "MethodDef",
    "SelectiveAccess",
    "read_only",
]
