"""LonStack follows the sans-IO contract of docs/sans-io.md (issue 16 item 1)."""

from __future__ import annotations

import pytest

from cosemnet.profiles.lon import ApplicationMessage, SubnetNodeAddress
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.repeater import ProxyStack
from cosemnet.profiles.lon.stack import Completed, LonStack
from cosemnet.sansio import SansIOCore, TimerCore

DOMAIN = b"\x42"


def stack(node: int = 1) -> LonStack:
    return LonStack(LonNode.configured_in(bytes((5, 0, 0, 0, 0, node)), DOMAIN, 1, node))


def test_lon_stack_and_proxy_stack_are_sans_io_cores() -> None:
    proxy = ProxyStack(LonNode.configured_in(bytes((5, 0, 0, 0, 0, 9)), DOMAIN, 1, 9))
    for core in (stack(), proxy):
        assert isinstance(core, SansIOCore) and isinstance(core, TimerCore)
    for old in ("events", "poll", "next_deadline"):
        assert not hasattr(stack(), old)


def test_send_and_respond_need_the_time() -> None:
    a = stack()
    with pytest.raises(TypeError):
        a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"x"))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        a.respond(1, None)  # type: ignore[call-arg]


def test_timer_flow_with_the_contract_names() -> None:
    """An ACKD message nobody acknowledges: the deadline starts at the given ``now``, an early
    handle_timer changes nothing, each expiry retransmits, the last one ends in Completed(False)."""
    a = stack()
    handle = a.send(
        SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"x"), retry_count=1, tx_timer=8, now=50.0
    )
    sent: list[LonFrame] = a.pop_outgoing()
    assert len(sent) == 1 and a.pop_events() == []
    deadline = a.get_timer()
    assert deadline is not None and deadline > 50.0
    a.handle_timer(deadline - 0.001)  # early: harmless
    assert a.pop_outgoing() == [] and a.get_timer() == deadline
    a.handle_timer(deadline)  # first expiry: one retry
    assert [f.encode() for f in a.pop_outgoing()] == [f.encode() for f in sent]
    second = a.get_timer()
    assert second is not None and second > deadline
    a.handle_timer(second)
    a.handle_timer(second)  # twice: harmless
    assert a.pop_events() == [Completed(handle, False)]
    assert a.get_timer() is None and a.pop_outgoing() == []
