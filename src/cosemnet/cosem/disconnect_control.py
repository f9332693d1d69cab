"""Disconnect control (class_id 70, version 0): the supply switch.

Attributes: 2 output_state boolean (True = supply connected), 3 control_state enum (0 disconnected,
1 connected, 2 ready_for_reconnection), 4 control_mode enum (0..6). Methods: 1 remote_disconnect
(x + 0x20), 2 remote_reconnect (x + 0x28), parameter integer 0.

State transitions (Blue Book state diagram):

==  ==================  ==========================================
a   remote_reconnect    disconnected -> ready_for_reconnection
b   remote_disconnect   connected -> disconnected
c   remote_disconnect   ready_for_reconnection -> disconnected
d   remote_reconnect    disconnected -> connected
e   manual_reconnect    ready_for_reconnection -> connected
f   manual_disconnect   connected -> ready_for_reconnection
g   local_disconnect    connected -> ready_for_reconnection
h   local_reconnect     ready_for_reconnection -> connected
==  ==================  ==========================================

Control modes (which transitions are enabled): 0 none (always connected); 1 b c f g / d e;
2 b c f g / a e; 3 b c g / d e; 4 b c g / a e; 5 b c f g / d e h; 6 b c g / d e h.

Manual (push button) and local (limiter, supervision) triggers come from the meter through
:meth:`DisconnectControl.manual_disconnect` etc. Output changes are reported through
``ctx.effects.output_state_changed``.

Design choices: a trigger whose transition is not enabled in the current mode, or that has no
transition from the current state, changes nothing; for the remote methods this is a success when
the object is already in the state the method aims at (remote_disconnect while disconnected,
remote_reconnect while connected, in any mode, or already ready_for_reconnection in modes 2 and 4)
and a read-write-denied failure otherwise (so remote_disconnect always fails in mode 0). Python
triggers return whether a transition happened.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, Enumerated
from cosemnet.cosem.base import (
    LOGICAL_NAME_DEF,
    AttributeDef,
    InterfaceClass,
    MethodDef,
    SelectiveAccess,
    read_only,
)
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.register import check_zero_parameter
from cosemnet.cosem.results import ActionResult, CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_int


class ControlState(IntEnum):
    DISCONNECTED = 0
    CONNECTED = 1
    READY_FOR_RECONNECTION = 2


class ControlMode(IntEnum):
    NONE = 0
    MODE_1 = 1
    MODE_2 = 2
    MODE_3 = 3
    MODE_4 = 4
    MODE_5 = 5
    MODE_6 = 6


class Trigger(IntEnum):
    REMOTE_DISCONNECT = 0
    REMOTE_RECONNECT = 1
    MANUAL_DISCONNECT = 2
    MANUAL_RECONNECT = 3
    LOCAL_DISCONNECT = 4
    LOCAL_RECONNECT = 5


_D, _C, _R = ControlState.DISCONNECTED, ControlState.CONNECTED, ControlState.READY_FOR_RECONNECTION

TRANSITIONS: dict[str, tuple[Trigger, ControlState, ControlState]] = {
    "a": (Trigger.REMOTE_RECONNECT, _D, _R),
    "b": (Trigger.REMOTE_DISCONNECT, _C, _D),
    "c": (Trigger.REMOTE_DISCONNECT, _R, _D),
    "d": (Trigger.REMOTE_RECONNECT, _D, _C),
    "e": (Trigger.MANUAL_RECONNECT, _R, _C),
    "f": (Trigger.MANUAL_DISCONNECT, _C, _R),
    "g": (Trigger.LOCAL_DISCONNECT, _C, _R),
    "h": (Trigger.LOCAL_RECONNECT, _R, _C),
}
"""Transition letter -> (trigger, from state, to state)."""

ENABLED: dict[ControlMode, str] = {
    ControlMode.NONE: "",
    ControlMode.MODE_1: "bcfgde",
    ControlMode.MODE_2: "bcfgae",
    ControlMode.MODE_3: "bcgde",
    ControlMode.MODE_4: "bcgae",
    ControlMode.MODE_5: "bcfgdeh",
    ControlMode.MODE_6: "bcgdeh",
}
"""Control mode -> letters of the enabled transitions."""


class DisconnectControl(InterfaceClass):
    """Disconnect control."""

    CLASS_ID: ClassVar[int] = 70
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "output_state", False, 0x08),
        AttributeDef(3, "control_state", False, 0x10),
        AttributeDef(4, "control_mode", True, 0x18),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "remote_disconnect", 0x20),
        MethodDef(2, "remote_reconnect", 0x28),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = "0-0:96.3.10*255",
        control_mode: ControlMode = ControlMode.MODE_1,
        control_state: ControlState = ControlState.CONNECTED,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.control_mode = control_mode
        self.control_state = ControlState.CONNECTED if control_mode is ControlMode.NONE else control_state

    @property
    def output_state(self) -> bool:
        return self.control_state is ControlState.CONNECTED

    def fire(self, trigger: Trigger, ctx: AccessContext) -> bool:
        """Apply a trigger; returns True when a transition happened."""
        for letter in ENABLED[self.control_mode]:
            t, source, target = TRANSITIONS[letter]
            if t is trigger and source is self.control_state:
                before = self.output_state
                self.control_state = target
                if self.output_state != before:
                    ctx.effects.output_state_changed(self, self.output_state, ctx)
                return True
        return False

    def manual_disconnect(self, ctx: AccessContext) -> bool:
        return self.fire(Trigger.MANUAL_DISCONNECT, ctx)

    def manual_reconnect(self, ctx: AccessContext) -> bool:
        return self.fire(Trigger.MANUAL_RECONNECT, ctx)

    def local_disconnect(self, ctx: AccessContext) -> bool:
        return self.fire(Trigger.LOCAL_DISCONNECT, ctx)

    def local_reconnect(self, ctx: AccessContext) -> bool:
        return self.fire(Trigger.LOCAL_RECONNECT, ctx)

    def remote_disconnect(self, ctx: AccessContext) -> bool:
        return self.fire(Trigger.REMOTE_DISCONNECT, ctx)

    def remote_reconnect(self, ctx: AccessContext) -> bool:
        return self.fire(Trigger.REMOTE_RECONNECT, ctx)

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return self.output_state
        if index == 3:
            return Enumerated(self.control_state)
        return Enumerated(self.control_mode)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index != 4:
            raise read_only(index)
        try:
            mode = ControlMode(as_int(value, Enumerated, "control_mode"))
        except ValueError:
            raise type_unmatched("control_mode must be 0..6") from None
        self.control_mode = mode
        if mode is ControlMode.NONE and self.control_state is not ControlState.CONNECTED:
            self.control_state = ControlState.CONNECTED
            ctx.effects.output_state_changed(self, True, ctx)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        check_zero_parameter(parameter)
        if index == 1:
            if self.remote_disconnect(ctx) or self.control_state is ControlState.DISCONNECTED:
                return None
        else:
            reached = (
                (ControlState.READY_FOR_RECONNECTION, ControlState.CONNECTED)
                if "a" in ENABLED[self.control_mode]
                else (ControlState.CONNECTED,)
            )
            if self.remote_reconnect(ctx) or self.control_state in reached:
                return None
        raise CosemAccessError(
            ActionResult.READ_WRITE_DENIED,
            f"no enabled transition in control mode {self.control_mode.value} from {self.control_state.name}",
        )


__all__ = ["ENABLED", "TRANSITIONS", "ControlMode", "ControlState", "DisconnectControl", "Trigger"]
