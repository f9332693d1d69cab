"""A COSEM logical device: the objects of one server SAP.

:class:`LogicalDevice` holds objects by (class_id, logical_name) and by base_name, with the
mandatory "COSEM logical device name" Data object (0-0:42.0.0*255, octet-string) created at
construction. The "current association" (0-0:40.0.0*255) resolves to the association the request
runs on (``ctx.association``) when that association object belongs to the device; otherwise to an
object registered under that very name.

:class:`DeviceEffects` implements the object-to-object hooks of
:class:`~cosemnet.cosem.context.SideEffects` over a device (capture/push/monitor reads, script
actions, script execution, timestamps from the device's Clock); subclass it for the hooks that leave
the device (HLS, pushes, image activation, outputs).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import TypeVar

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.cosem.access import ObjectAccessRights
from cosemnet.cosem.association import CURRENT_ASSOCIATION_LN, AssociationBase
from cosemnet.cosem.base import InterfaceClass, SelectiveAccess
from cosemnet.cosem.clock import Clock
from cosemnet.cosem.context import AccessContext, SideEffects
from cosemnet.cosem.data import Data
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult
from cosemnet.cosem.script_table import ScriptTable, ServiceId

T = TypeVar("T", bound=InterfaceClass)

LOGICAL_DEVICE_NAME_LN = Obis(bytes((0, 0, 42, 0, 0, 255)))

ShortNameTarget = tuple[InterfaceClass, str, int]
"""(object, "attribute" or "method", index) a short name designates."""


_SHARED_KEYS: dict[tuple[int, bytes], tuple[int, bytes]] = {}
_SHARED_KEYS_LIMIT = 65536


def _shared_key(class_id: int, logical_name: bytes) -> tuple[int, bytes]:
    """The registry key of an object, shared by every device that holds the same object.

    A fleet simulator builds thousands of devices with identical object sets; sharing the key tuples
    saves two small objects per object per device (decision 0016, memory per simulated meter).
    """
    key = (class_id, bytes(logical_name))
    if len(_SHARED_KEYS) >= _SHARED_KEYS_LIMIT:
        return key
    return _SHARED_KEYS.setdefault(key, key)


def _ln(logical_name: Obis | bytes | str) -> bytes:
    """The six raw bytes of a logical name given as Obis, bytes or text."""
    return bytes(logical_name if isinstance(logical_name, Obis) else Obis(logical_name))


class LogicalDevice:
    """The objects of one logical device."""

    def __init__(self, logical_device_name: bytes, *, server_sap: int = 1) -> None:
        if not logical_device_name or len(logical_device_name) > 16:
            raise ValueError("the logical device name is an octet-string of 1..16 bytes")
        self.server_sap = server_sap
        self._objects: dict[tuple[int, bytes], InterfaceClass] = {}
        # Objects with a base_name, sorted by it; _base_name_keys holds the base names in the same order.
        self._base_names: list[InterfaceClass] = []
        self._base_name_keys: list[int] = []
        self.name_object = self.add(Data(LOGICAL_DEVICE_NAME_LN, logical_device_name))

    @property
    def logical_device_name(self) -> bytes:
        value = self.name_object.value
        assert type(value) is bytes
        return value

    # ----------------------------------------------------------------------------------------------
    # Registry

    def add(self, obj: T) -> T:
        """Register ``obj``; (class_id, logical_name) and short-name ranges must be unique."""
        key = _shared_key(obj.class_id, obj.logical_name)
        if key in self._objects:
            raise ValueError(f"{obj!r}: class {obj.class_id} object {obj.logical_name} already registered")
        if obj.base_name is not None:
            self._check_short_names(obj)
        self._objects[key] = obj
        if obj.base_name is not None:
            self._index_short_names(obj)
        return obj

    def _index_short_names(self, obj: InterfaceClass) -> None:
        assert obj.base_name is not None
        position = bisect.bisect_left(self._base_name_keys, obj.base_name)
        self._base_name_keys.insert(position, obj.base_name)
        self._base_names.insert(position, obj)

    def _check_short_names(self, obj: InterfaceClass) -> None:
        assert obj.base_name is not None
        start, end = obj.base_name, obj.base_name + obj.short_name_span()
        if end > 0x10000:
            raise ValueError(f"{obj!r}: short names run past 0xFFFF")
        for base, other in zip(self._base_name_keys, self._base_names, strict=True):
            if base < end and start < base + other.short_name_span():
                raise ValueError(f"{obj!r}: short names overlap those of {other!r}")

    def remove(self, class_id: int, logical_name: Obis | bytes | str) -> InterfaceClass:
        obj = self._objects.pop((class_id, _ln(logical_name)))
        kept = [(b, o) for b, o in zip(self._base_name_keys, self._base_names, strict=True) if o is not obj]
        self._base_name_keys = [b for b, _ in kept]
        self._base_names = [o for _, o in kept]
        return obj

    def __iter__(self) -> Iterator[InterfaceClass]:
        return iter(list(self._objects.values()))

    def __len__(self) -> int:
        return len(self._objects)

    @property
    def objects(self) -> list[InterfaceClass]:
        return list(self._objects.values())

    def find(self, class_id: int, logical_name: Obis | bytes | str) -> InterfaceClass | None:
        return self._objects.get((class_id, _ln(logical_name)))

    def find_by_logical_name(self, logical_name: Obis | bytes | str) -> list[InterfaceClass]:
        ln = _ln(logical_name)
        return [o for (_, name), o in self._objects.items() if name == ln]

    def find_by_short_name(self, short_name: int) -> ShortNameTarget | None:
        """The object, kind and index a short name designates, or None."""
        i = bisect.bisect_right(self._base_name_keys, short_name) - 1
        if i < 0:
            return None
        obj = self._base_names[i]
        target = obj.resolve_short_name(short_name)
        if target is None:
            return None
        return (obj, target[0], target[1])

    def of_class(self, cls: type[T]) -> list[T]:
        return [o for o in self._objects.values() if isinstance(o, cls)]

    @property
    def clock(self) -> Clock | None:
        """The device's Clock (0-0:1.0.0*255 if present, else the first Clock)."""
        clocks = self.of_class(Clock)
        for c in clocks:
            if c.logical_name == Obis(bytes((0, 0, 1, 0, 0, 255))):
                return c
        return clocks[0] if clocks else None

    def allocate_base_names(self, start: int = 0x0100) -> None:
        """Give every object without a base_name one, in registration order, after ``start``."""
        for obj in self._objects.values():
            if obj.base_name is not None:
                continue
            candidate = start
            while True:
                obj.base_name = candidate
                try:
                    self._check_short_names(obj)
                except ValueError:
                    candidate += 8
                    if candidate + obj.short_name_span() > 0x10000:
                        obj.base_name = None
                        raise
                    continue
                break
            self._index_short_names(obj)
            start = candidate + obj.short_name_span()

    def grant_all(
        self,
        association: AssociationBase,
        rights: Callable[[InterfaceClass], ObjectAccessRights | None] | None = None,
    ) -> None:
        """List every object in ``association`` with ``rights(obj)`` (read-only by default; None
        from the callable leaves the object out)."""
        for obj in self._objects.values():
            r = rights(obj) if rights is not None else ObjectAccessRights.read_only(type(obj))
            if r is not None:
                association.grant(obj, r)

    # ----------------------------------------------------------------------------------------------
    # Resolution and services

    def resolve(self, class_id: int, logical_name: Obis | bytes | str, ctx: AccessContext) -> InterfaceClass:
        """The object a request addresses. Unknown -> object-undefined; a known logical name with
        another class -> object-class-inconsistent."""
        ln = _ln(logical_name)
        if ln == CURRENT_ASSOCIATION_LN and isinstance(ctx.association, AssociationBase):
            current = ctx.association
            if (
                current.class_id == class_id
                and self._objects.get((class_id, bytes(current.logical_name))) is current
            ):
                return current
        obj = self._objects.get((class_id, ln))
        if obj is not None:
            return obj
        if any(name == ln for (_, name) in self._objects):
            raise CosemAccessError(
                DataAccessResult.OBJECT_CLASS_INCONSISTENT, f"{Obis(ln)} is not class {class_id}"
            )
        raise CosemAccessError(DataAccessResult.OBJECT_UNDEFINED, f"no object {Obis(ln)} of class {class_id}")

    def get(
        self,
        class_id: int,
        logical_name: Obis | bytes | str,
        attribute_index: int,
        ctx: AccessContext,
        selective_access: SelectiveAccess | None = None,
    ) -> DataValue:
        return self.resolve(class_id, logical_name, ctx).get(attribute_index, ctx, selective_access)

    def set(
        self,
        class_id: int,
        logical_name: Obis | bytes | str,
        attribute_index: int,
        value: DataValue,
        ctx: AccessContext,
    ) -> None:
        self.resolve(class_id, logical_name, ctx).set(attribute_index, value, ctx)

    def action(
        self,
        class_id: int,
        logical_name: Obis | bytes | str,
        method_index: int,
        parameter: DataValue,
        ctx: AccessContext,
    ) -> DataValue | None:
        try:
            obj = self.resolve(class_id, logical_name, ctx)
        except CosemAccessError as exc:
            raise CosemAccessError(exc.action_result, exc.reason) from None
        return obj.action(method_index, parameter, ctx)

    def __repr__(self) -> str:
        return f"LogicalDevice({self.logical_device_name!r}, {len(self)} objects)"


class DeviceEffects(SideEffects):
    """Side effects resolved inside one :class:`LogicalDevice`.

    Design choice: ``read_attribute`` with attribute_index 0 returns the structure of every
    attribute of the object (as push_object_list defines), unreadable ones as null-data.
    """

    def __init__(self, device: LogicalDevice) -> None:
        self.device = device

    def timestamp(self, ctx: AccessContext) -> CosemDateTime:
        clock = self.device.clock
        return clock.now(ctx) if clock is not None else super().timestamp(ctx)

    def read_attribute(
        self, class_id: int, logical_name: Obis, attribute_index: int, ctx: AccessContext
    ) -> DataValue:
        obj = self.device.resolve(class_id, logical_name, ctx)
        internal = ctx.internal()
        if attribute_index == 0:
            values: list[DataValue] = []
            for a in obj.ATTRIBUTES:
                try:
                    values.append(obj.get(a.index, internal))
                except CosemAccessError:
                    values.append(None)
            return tuple(values)
        return obj.get(attribute_index, internal)

    def execute_action(
        self,
        service_id: int,
        class_id: int,
        logical_name: Obis,
        index: int,
        parameter: DataValue,
        ctx: AccessContext,
    ) -> None:
        internal = ctx.internal()
        obj = self.device.resolve(class_id, logical_name, internal)
        if service_id == ServiceId.WRITE_ATTRIBUTE:
            obj.set(index, parameter, internal)
        elif service_id == ServiceId.EXECUTE_METHOD:
            obj.action(index, parameter, internal)
        else:
            raise CosemAccessError(ActionResult.TYPE_UNMATCHED, f"service_id {service_id}")

    def execute_script(self, script_logical_name: Obis, script_selector: int, ctx: AccessContext) -> None:
        table = self.device.resolve(ScriptTable.CLASS_ID, script_logical_name, ctx)
        assert isinstance(table, ScriptTable)
        table.execute(script_selector, ctx)


__all__ = ["LOGICAL_DEVICE_NAME_LN", "DeviceEffects", "LogicalDevice", "ShortNameTarget"]
