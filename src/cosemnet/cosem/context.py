"""What an attribute access or method invocation needs from outside the object model.

:class:`AccessContext` is built by the application layer for each request (or by the meter itself
for internal work such as a scheduled profile capture, with ``association=None``). It carries who is
asking, how the request was protected, the current time and the :class:`SideEffects` hooks.

The object model never reads the system clock: ``AccessContext.now`` is the reference time (the
meter's real-time-clock reading, aware, normally UTC) injected by the caller.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.cosem.access import ObjectAccessRights
from cosemnet.cosem.results import CosemAccessError, DataAccessResult

if TYPE_CHECKING:
    from cosemnet.cosem.base import InterfaceClass


class AccessRightsSource(Protocol):
    """Where the rights of the current association come from (an Association LN or SN object)."""

    def rights_for(self, class_id: int, logical_name: bytes) -> ObjectAccessRights | None:
        """The rights on an object, or None when the association does not see the object."""
        ...


class SideEffects:
    """Hooks through which objects reach the rest of the meter.

    Subclass and override what the meter supports. The defaults refuse what needs outside help
    (reads of other objects, scripts, HLS, pushes) and ignore pure notifications.
    :class:`cosemnet.cosem.logical_device.DeviceEffects` implements the object-to-object hooks over a
    :class:`~cosemnet.cosem.logical_device.LogicalDevice`.
    """

    def timestamp(self, ctx: AccessContext) -> CosemDateTime:
        """The meter's current local date-time (capture_time of registers, ...).

        The default converts ``ctx.now`` as it is (its UTC offset becomes the deviation);
        :class:`~cosemnet.cosem.logical_device.DeviceEffects` asks the device's Clock object.
        """
        return CosemDateTime.from_datetime(ctx.now)

    def read_attribute(
        self, class_id: int, logical_name: Obis, attribute_index: int, ctx: AccessContext
    ) -> DataValue:
        """Current value of another object's attribute (capture objects, monitored values, pushes)."""
        raise CosemAccessError(DataAccessResult.OBJECT_UNAVAILABLE, "no object resolver configured")

    def execute_action(
        self,
        service_id: int,
        class_id: int,
        logical_name: Obis,
        index: int,
        parameter: DataValue,
        ctx: AccessContext,
    ) -> None:
        """One action_specification of a script: service_id 1 writes attribute ``index``, 2 invokes
        method ``index``."""
        raise CosemAccessError(DataAccessResult.OBJECT_UNAVAILABLE, "no script action executor configured")

    def execute_script(self, script_logical_name: Obis, script_selector: int, ctx: AccessContext) -> None:
        """Run script ``script_selector`` of the Script table ``script_logical_name`` (action_item)."""
        raise CosemAccessError(DataAccessResult.OBJECT_UNAVAILABLE, "no script executor configured")

    def reply_to_hls_authentication(
        self, association: InterfaceClass, client_response: bytes, ctx: AccessContext
    ) -> bytes:
        """HLS pass 3/4: check the client's f(StoC), return the server's f(CtoS).

        Raise :class:`CosemAccessError` (``read-write-denied``) when the response does not verify;
        the association then stays pending.
        """
        raise CosemAccessError(DataAccessResult.READ_WRITE_DENIED, "HLS authentication not available")

    def send_push(self, push_setup: InterfaceClass, body: DataValue, ctx: AccessContext) -> None:
        """Send a DataNotification with ``body`` as the push setup's send_destination_and_method says."""
        raise CosemAccessError(DataAccessResult.TEMPORARY_FAILURE, "no push transport configured")

    def output_state_changed(self, obj: InterfaceClass, output_state: bool, ctx: AccessContext) -> None:
        """A disconnect control switched its supply output (True = connected)."""

    def activate_image(
        self, obj: InterfaceClass, identification: bytes, image: bytes, ctx: AccessContext
    ) -> None:
        """Install a verified firmware image. Raise :class:`CosemAccessError` if activation fails."""

    def security_policy_activated(
        self, obj: InterfaceClass, security_policy: int, ctx: AccessContext
    ) -> None:
        """A Security setup object switched to a new security policy."""

    def keys_changed(self, obj: InterfaceClass, key_ids: tuple[int, ...], ctx: AccessContext) -> None:
        """A Security setup object received new keys (ids as in key_transfer's key_id)."""


@dataclass(slots=True)
class AccessContext:
    """One request's view of the world.

    ``association`` None means a local (internal) access with every right; otherwise rights come
    from it and an object it does not see is ``object-undefined``.
    """

    now: _dt.datetime
    """Reference time, timezone-aware (normally UTC). Never read from the system clock by the model."""
    effects: SideEffects = field(default_factory=SideEffects)
    client_sap: int = 16
    """Client SAP of the association (16 public client, 1 management client, ...)."""
    server_sap: int = 1
    mechanism: int = 0
    """Authentication mechanism id of the association (0 lowest, 1 LLS, 2..7 HLS)."""
    authenticated: bool = False
    """The association's authentication has completed (LLS checked or HLS pass 4 done)."""
    security_policy: int = 0
    """Security policy in force (Security setup attribute 2)."""
    request_authenticated: bool = False
    """The request APDU carried authentication (gates the authenticated-* access modes)."""
    request_encrypted: bool = False
    association: AccessRightsSource | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("AccessContext.now must be timezone-aware")

    @classmethod
    def local(cls, now: _dt.datetime, effects: SideEffects | None = None) -> AccessContext:
        """An internal context with every right (scheduled captures, scripts, the meter itself)."""
        return cls(now=now, effects=effects if effects is not None else SideEffects())

    def internal(self) -> AccessContext:
        """A copy with every right (an object acting on behalf of a request: scripts, captures)."""
        return AccessContext(
            now=self.now,
            effects=self.effects,
            client_sap=self.client_sap,
            server_sap=self.server_sap,
            mechanism=self.mechanism,
            authenticated=self.authenticated,
            security_policy=self.security_policy,
            request_authenticated=self.request_authenticated,
            request_encrypted=self.request_encrypted,
            association=None,
        )


__all__ = ["AccessContext", "AccessRightsSource", "SideEffects"]
