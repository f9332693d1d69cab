"""Group management as COSEM objects (issue 12 item 6, decision 0124): the mesh meter's group
membership and response window are Data objects, settable by SET in the management association only,
and the node's group behaviour follows them at once."""

from __future__ import annotations

import pytest

from cosemnet.client import ClientConfig, ClientConnection
from cosemnet.client.errors import AccessError
from cosemnet.codec.types import DoubleLongUnsigned, LongUnsigned
from cosemnet.codec.xdlms import DataAccessResult
from cosemnet.profiles.mesh import GroupMembership, ResponseWindow
from cosemnet.profiles.mesh.groups import GROUP_MEMBERSHIP_LN, GroupMembershipObject
from cosemnet.profiles.mesh.meter_node import INVOCATION_COUNTER_LN
from cosemnet.profiles.mesh.response_window import RESPONSE_WINDOW_LN

from .test_meter_node import (
    HEAD_END,
    SCHEME,
    T0,
    _exchange,
    _group_request,
    _is_registration,
    _management,
    _node,
    _run_until,
)


def _answers(node: object, until: float, since: float) -> list[object]:
    return [o for o in _run_until(node, until) if o.send_at >= since and not _is_registration(o)]  # type: ignore[arg-type]


def test_set_of_the_membership_object_makes_the_meter_answer_the_new_group() -> None:
    node = _node(membership=GroupMembership.static([4]))
    node.join(T0)
    client = _management()
    _exchange(node, client, client.associate(), HEAD_END, T0)
    read = _exchange(node, client, client.get(1, GROUP_MEMBERSHIP_LN, 2), HEAD_END, T0 + 1)
    assert GroupMembership.from_data(read) == GroupMembership.static([4])  # type: ignore[arg-type]
    node.receive_datagram(HEAD_END, _group_request(client, 1), T0 + 2, destination=SCHEME.address(5))
    assert _answers(node, T0 + 20, T0 + 2) == [] and node.stats.group_not_member == 1

    new = GroupMembership.static([4, 5])
    _exchange(node, client, client.set(1, GROUP_MEMBERSHIP_LN, 2, new.to_data()), HEAD_END, T0 + 30)
    _exchange(
        node,
        client,
        client.set(1, RESPONSE_WINDOW_LN, 2, ResponseWindow(0, 2000).to_data()),
        HEAD_END,
        T0 + 31,
    )
    assert node.membership == new and node.response_window == ResponseWindow(0, 2000)
    node.receive_datagram(HEAD_END, _group_request(client, 2), T0 + 40, destination=SCHEME.address(5))
    (answer,) = _answers(node, T0 + 60, T0 + 40)
    assert node.stats.group_executed == 1
    assert T0 + 40 <= answer.send_at <= T0 + 42  # type: ignore[attr-defined]  # the new window


def test_a_set_that_is_not_a_membership_is_refused_and_changes_nothing() -> None:
    node = _node(membership=GroupMembership.static([4]))
    node.join(T0)
    client = _management()
    _exchange(node, client, client.associate(), HEAD_END, T0)
    with pytest.raises(AccessError) as caught:
        _exchange(node, client, client.set(1, GROUP_MEMBERSHIP_LN, 2, [LongUnsigned(5)]), HEAD_END, T0 + 1)
    assert caught.value.result is DataAccessResult.TYPE_UNMATCHED
    with pytest.raises(AccessError):
        bad = (DoubleLongUnsigned(9), DoubleLongUnsigned(1))  # ends before it starts
        _exchange(node, client, client.set(1, RESPONSE_WINDOW_LN, 2, bad), HEAD_END, T0 + 2)
    assert node.membership == GroupMembership.static([4])


def test_the_public_client_reads_the_counter_but_sets_no_group_object() -> None:
    node = _node(membership=GroupMembership.static([4]))
    node.join(T0)
    public = ClientConnection(ClientConfig(client_sap=16))
    _exchange(node, public, public.associate(), HEAD_END, T0)
    value = _exchange(node, public, public.get(1, INVOCATION_COUNTER_LN, 2), HEAD_END, T0 + 1)
    assert isinstance(value, DoubleLongUnsigned)
    with pytest.raises(AccessError):
        new = GroupMembership.static([5]).to_data()
        _exchange(node, public, public.set(1, GROUP_MEMBERSHIP_LN, 2, new), HEAD_END, T0 + 2)
    assert node.membership == GroupMembership.static([4])


def test_the_objects_are_shared_in_the_object_list_not_copied_per_meter() -> None:
    """Fleet meters share their object lists (memory); the node adds its objects once for all."""
    a, b = _node(1), _node(2)
    for node in (a, b):
        found = node.meter.device.find(1, GROUP_MEMBERSHIP_LN)
        assert isinstance(found, GroupMembershipObject)
        management = node.meter.association(1)
        assert management is not None and management.association.entry(1, bytes(GROUP_MEMBERSHIP_LN))
    assert a.meter.association(1).association._entries is b.meter.association(1).association._entries  # type: ignore[union-attr]
