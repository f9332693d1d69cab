"""The mesh meter's management objects (decisions 0124, 0126), installed by
:class:`~cosemnet.profiles.mesh.meter_node.MeshMeterNode` on the meter it serves:

* ``0-0:128.20.0*255`` group membership (:class:`~cosemnet.profiles.mesh.groups.GroupMembershipObject`)
  and ``0-0:128.20.1*255`` response window (:class:`~cosemnet.profiles.mesh.response_window.
  ResponseWindowObject`): read-and-write in the management association only (our design, not the TS's);
* ``0-0:43.1.0*255`` invocation counter (Data, read-only in every association, the public one
  included): the lowest invocation counter the meter accepts from the management Security setup's
  client (decision 0126).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, Protocol, runtime_checkable

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned
from cosemnet.cosem.access import AttributeAccess, ObjectAccessRights
from cosemnet.cosem.association import AssociationBase, ObjectListEntry
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.data import Data
from cosemnet.cosem.logical_device import LogicalDevice
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.profiles.mesh.groups import GROUP_MEMBERSHIP_LN, GroupMembership, GroupMembershipObject
from cosemnet.profiles.mesh.response_window import RESPONSE_WINDOW_LN, ResponseWindow, ResponseWindowObject
from cosemnet.security.counters import ReplayFloors, key_fingerprint
from cosemnet.security.keys import KeyRole

__all__ = ["INVOCATION_COUNTER_LN", "install_meter_objects", "lowest_acceptable_counter"]

INVOCATION_COUNTER_LN: Final = Obis("0-0:43.1.0*255")
"""The invocation counter Data object of the management Security setup (0-0:43.1.e*255 with e = 0);
[design, decision 0126] its value is the lowest invocation counter the meter accepts from that
setup's client, readable in every association (the public one included), never settable."""
_READ_WRITE_VALUE: Final = ObjectAccessRights.for_class(Data, overrides={2: AttributeAccess.READ_AND_WRITE})
_READ_ONLY_VALUE: Final = ObjectAccessRights.for_class(Data)
_NO_GROUPS: Final = GroupMembership(())
_DEFAULT_WINDOW: Final = ResponseWindow(0, 5000)


@runtime_checkable
class _ProfileObjectList(Protocol):
    """An object list shared by the meters of one profile (the simulator's): entries for objects
    every such meter gets are added once, without a per-meter copy."""

    def add_profile_entry(self, entry: ObjectListEntry) -> None: ...


def _grant(association: AssociationBase, grants: Sequence[tuple[Obis, ObjectAccessRights]]) -> None:
    """Put the objects in an association's object list (once per shared list, see
    :class:`_ProfileObjectList`)."""
    for logical_name, rights in grants:
        if association.entry(Data.CLASS_ID, bytes(logical_name)) is not None:
            continue
        entry = ObjectListEntry(Data.CLASS_ID, Data.VERSION, logical_name, rights)
        if isinstance(association, _ProfileObjectList):
            association.add_profile_entry(entry)
        else:
            association.add_entry(entry)


def install_meter_objects(
    device: LogicalDevice,
    associations: Sequence[tuple[int, AssociationBase]],
    management_client: int,
    counter: Callable[[AccessContext], DataValue],
) -> tuple[GroupMembershipObject, ResponseWindowObject]:
    """The device's group membership and response window objects (created, with the invocation
    counter object read through ``counter``, when missing; an existing object of the right class
    at the logical name is adopted) and their rights in ``associations`` ``(client SAP,
    association)``: settable in the ``management_client``'s only, the counter readable in all."""
    group = device.find(Data.CLASS_ID, GROUP_MEMBERSHIP_LN)
    if not isinstance(group, GroupMembershipObject):
        group = device.add(GroupMembershipObject(GROUP_MEMBERSHIP_LN, _NO_GROUPS))
    found = device.find(Data.CLASS_ID, RESPONSE_WINDOW_LN)
    window = (
        found
        if isinstance(found, ResponseWindowObject)
        else device.add(ResponseWindowObject(RESPONSE_WINDOW_LN, _DEFAULT_WINDOW))
    )
    if device.find(Data.CLASS_ID, INVOCATION_COUNTER_LN) is None:
        device.add(Data(INVOCATION_COUNTER_LN, provider=counter))
    for client_sap, association in associations:
        grants = [(INVOCATION_COUNTER_LN, _READ_ONLY_VALUE)]
        if client_sap == management_client:
            grants += [(GROUP_MEMBERSHIP_LN, _READ_WRITE_VALUE), (RESPONSE_WINDOW_LN, _READ_WRITE_VALUE)]
        _grant(association, grants)
    return group, window


def lowest_acceptable_counter(floors: ReplayFloors, setup: SecuritySetup | None) -> DataValue:
    """The invocation counter object's value: one above the last counter accepted from ``setup``'s
    client under its unicast key (0: none yet, or no key)."""
    if setup is None or setup.keys.ek is None:
        return DoubleLongUnsigned(0)
    table = floors.tables.get(key_fingerprint(setup.keys.ek), {})
    last = table.get((setup.client_system_title, KeyRole.GLOBAL_UNICAST))
    return DoubleLongUnsigned(0 if last is None else min(last + 1, 0xFFFFFFFF))
