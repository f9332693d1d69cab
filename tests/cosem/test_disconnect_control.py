"""Disconnect control: the state machine of every control mode, the remote methods, outputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.types import Enumerated, Integer
from cosemnet.cosem import AccessContext, ControlMode, ControlState, DisconnectControl
from cosemnet.cosem.disconnect_control import Trigger
from cosemnet.cosem.results import ActionResult, CosemAccessError, DataAccessResult

from .helpers import T0, meter

D, C, R = ControlState.DISCONNECTED, ControlState.CONNECTED, ControlState.READY_FOR_RECONNECTION
RD, RR = Trigger.REMOTE_DISCONNECT, Trigger.REMOTE_RECONNECT
MD, MR = Trigger.MANUAL_DISCONNECT, Trigger.MANUAL_RECONNECT
LD, LR = Trigger.LOCAL_DISCONNECT, Trigger.LOCAL_RECONNECT

# Written out from the Blue Book's description of each mode (which triggers may disconnect / reconnect
# and where a remote reconnection leads), not from the implementation's letter table.
REMOTE_DISCONNECTS = {(RD, C): D, (RD, R): D}
EXPECTED: dict[ControlMode, dict[tuple[Trigger, ControlState], ControlState]] = {
    ControlMode.NONE: {},
    ControlMode.MODE_1: {**REMOTE_DISCONNECTS, (MD, C): R, (LD, C): R, (RR, D): C, (MR, R): C},
    ControlMode.MODE_2: {**REMOTE_DISCONNECTS, (MD, C): R, (LD, C): R, (RR, D): R, (MR, R): C},
    ControlMode.MODE_3: {**REMOTE_DISCONNECTS, (LD, C): R, (RR, D): C, (MR, R): C},
    ControlMode.MODE_4: {**REMOTE_DISCONNECTS, (LD, C): R, (RR, D): R, (MR, R): C},
    ControlMode.MODE_5: {**REMOTE_DISCONNECTS, (MD, C): R, (LD, C): R, (RR, D): C, (MR, R): C, (LR, R): C},
    ControlMode.MODE_6: {**REMOTE_DISCONNECTS, (LD, C): R, (RR, D): C, (MR, R): C, (LR, R): C},
}


@pytest.mark.parametrize("mode", list(ControlMode))
@pytest.mark.parametrize("state", [D, C, R])
@pytest.mark.parametrize("trigger", list(Trigger))
def test_transition_table(mode: ControlMode, state: ControlState, trigger: Trigger) -> None:
    device, effects = meter()
    dc = device.add(DisconnectControl(control_mode=ControlMode.MODE_1, control_state=state))
    dc.control_mode = mode
    ctx = AccessContext(now=T0, effects=effects)
    expected = EXPECTED[mode].get((trigger, state))
    assert dc.fire(trigger, ctx) is (expected is not None)
    assert dc.control_state is (expected if expected is not None else state)
    assert dc.output_state is (dc.control_state is C)
    changed = (state is C) != (dc.control_state is C)
    assert effects.recorded.outputs == ([(dc, dc.output_state)] if changed else [])


@pytest.mark.parametrize("mode", [m for m in ControlMode if m is not ControlMode.NONE])
def test_remote_methods_per_mode(mode: ControlMode) -> None:
    device, effects = meter()
    dc = device.add(DisconnectControl(control_mode=mode))
    ctx = AccessContext(now=T0, effects=effects)
    assert dc.action(1, Integer(0), ctx) is None
    assert dc.get(3, ctx) == Enumerated(D) and dc.get(2, ctx) is False
    assert dc.action(1, Integer(0), ctx) is None  # already disconnected: success, no change
    dc.action(2, Integer(0), ctx)
    if mode in (ControlMode.MODE_2, ControlMode.MODE_4):
        assert dc.control_state is R  # the customer must press the button
        dc.action(2, Integer(0), ctx)  # already ready: success
        assert dc.manual_reconnect(ctx) and dc.control_state is C
    else:
        assert dc.control_state is C
    assert dc.action(2, Integer(0), ctx) is None  # already connected
    assert [o for _, o in effects.recorded.outputs] == [False, True]


def test_mode_none_refuses_remote_methods_and_stays_connected() -> None:
    dc = DisconnectControl(control_mode=ControlMode.NONE, control_state=D)
    ctx = AccessContext.local(T0)
    assert dc.control_state is C
    with pytest.raises(CosemAccessError) as info:
        dc.action(1, Integer(0), ctx)
    assert info.value.result is ActionResult.READ_WRITE_DENIED
    assert dc.action(2, Integer(0), ctx) is None  # already connected: nothing to do
    assert not dc.local_disconnect(ctx) and dc.output_state


def test_remote_reconnect_from_ready_is_refused_in_mode_1() -> None:
    dc = DisconnectControl(control_mode=ControlMode.MODE_1)
    ctx = AccessContext.local(T0)
    assert dc.local_disconnect(ctx) and dc.control_state is R
    with pytest.raises(CosemAccessError) as info:
        dc.action(2, Integer(0), ctx)
    assert info.value.result is ActionResult.READ_WRITE_DENIED
    assert not dc.local_reconnect(ctx)  # no local reconnection in mode 1
    assert dc.manual_reconnect(ctx) and dc.output_state


def test_control_mode_attribute() -> None:
    device, effects = meter()
    dc = device.add(DisconnectControl(control_mode=ControlMode.MODE_1))
    ctx = AccessContext(now=T0, effects=effects)
    dc.remote_disconnect(ctx)
    dc.set(4, Enumerated(0), ctx)  # mode 0: always connected
    assert dc.control_state is C and effects.recorded.outputs[-1] == (dc, True)
    with pytest.raises(CosemAccessError) as info:
        dc.set(4, Enumerated(8), ctx)
    assert info.value.result is DataAccessResult.TYPE_UNMATCHED
    for index in (2, 3):
        with pytest.raises(CosemAccessError) as info:
            dc.set(index, Enumerated(0), ctx)
        assert info.value.result is DataAccessResult.READ_WRITE_DENIED


@given(st.sampled_from(list(ControlMode)), st.lists(st.sampled_from(list(Trigger)), max_size=30))
def test_random_sequences_keep_the_invariants(mode: ControlMode, triggers: list[Trigger]) -> None:
    dc = DisconnectControl(control_mode=mode)
    ctx = AccessContext.local(T0)
    for trigger in triggers:
        before = dc.control_state
        dc.fire(trigger, ctx)
        assert dc.output_state is (dc.control_state is C)
        if dc.control_state is D and before is not D:
            assert trigger is RD  # only a remote disconnection reaches "disconnected"
        if mode is ControlMode.NONE:
            assert dc.control_state is C
