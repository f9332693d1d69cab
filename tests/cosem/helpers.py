"""Shared helpers of the object-model tests: injected time, recording side effects, a small meter."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned
from cosemnet.cosem import (
    AccessContext,
    Clock,
    DeviceEffects,
    InterfaceClass,
    LogicalDevice,
    Register,
    Unit,
)
from cosemnet.cosem.base import SelectiveAccess
from cosemnet.cosem.results import CosemAccessError

T0 = dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@dataclass
class Recorded:
    pushes: list[tuple[InterfaceClass, DataValue]] = field(default_factory=list)
    outputs: list[tuple[InterfaceClass, bool]] = field(default_factory=list)
    activations: list[tuple[bytes, bytes]] = field(default_factory=list)
    policies: list[int] = field(default_factory=list)
    key_changes: list[tuple[int, ...]] = field(default_factory=list)
    scripts: list[tuple[Obis, int]] = field(default_factory=list)


class RecordingEffects(DeviceEffects):
    """DeviceEffects that also records what leaves the device."""

    def __init__(self, device: LogicalDevice) -> None:
        super().__init__(device)
        self.recorded = Recorded()
        self.fail_activation = False

    def send_push(self, push_setup: InterfaceClass, body: DataValue, ctx: AccessContext) -> None:
        self.recorded.pushes.append((push_setup, body))

    def output_state_changed(self, obj: InterfaceClass, output_state: bool, ctx: AccessContext) -> None:
        self.recorded.outputs.append((obj, output_state))

    def activate_image(
        self, obj: InterfaceClass, identification: bytes, image: bytes, ctx: AccessContext
    ) -> None:
        if self.fail_activation:
            from cosemnet.cosem.results import ActionResult

            raise CosemAccessError(ActionResult.HARDWARE_FAULT, "flash write failed")
        self.recorded.activations.append((identification, image))

    def security_policy_activated(
        self, obj: InterfaceClass, security_policy: int, ctx: AccessContext
    ) -> None:
        self.recorded.policies.append(security_policy)

    def keys_changed(self, obj: InterfaceClass, key_ids: tuple[int, ...], ctx: AccessContext) -> None:
        self.recorded.key_changes.append(key_ids)

    def execute_script(self, script_logical_name: Obis, script_selector: int, ctx: AccessContext) -> None:
        self.recorded.scripts.append((script_logical_name, script_selector))
        super().execute_script(script_logical_name, script_selector, ctx)


def meter(name: bytes = b"COSEMNET00000001") -> tuple[LogicalDevice, RecordingEffects]:
    """A device with a clock and an energy register."""
    device = LogicalDevice(name)
    device.add(Clock())
    device.add(Register("1-0:1.8.0*255", DoubleLongUnsigned(1234), -3, Unit.WATT_HOUR))
    return device, RecordingEffects(device)


def ctx_at(now: dt.datetime, effects: DeviceEffects | None = None, **kwargs: object) -> AccessContext:
    if effects is None:
        return AccessContext.local(now)
    return AccessContext(now=now, effects=effects, **kwargs)  # type: ignore[arg-type]


def roundtrip(value: DataValue) -> DataValue:
    """Encode with the A-XDR codec and decode back; asserts the value survives unchanged."""
    encoded = encode_data(value)
    decoded = decode_data_exact(encoded)
    assert decoded == value, (value, decoded)
    return decoded


def read_all(
    obj: InterfaceClass, ctx: AccessContext, selective: SelectiveAccess | None = None
) -> dict[int, DataValue]:
    """Every readable attribute of ``obj`` (write-only ones skipped)."""
    out: dict[int, DataValue] = {}
    for a in obj.ATTRIBUTES:
        try:
            out[a.index] = obj.get(a.index, ctx)
        except CosemAccessError:
            continue
    return out
