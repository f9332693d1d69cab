"""Communication port protection (class_id 124, version 0): lock a port after failed associations.

Attributes: 2 protection_mode enum (0 locked, 1 locked_on_failed_attempts, 2 unlocked),
3 allowed_failed_attempts long-unsigned, 4 initial_lockout_time double-long-unsigned (s),
5 steepness_factor unsigned, 6 max_lockout_time double-long-unsigned (s), 7 port_reference
octet-string, 8 protection_status enum (0 unlocked, 1 temporarily_locked, 2 locked),
9 failed_attempts double-long-unsigned, 10 cumulative_failed_attempts double-long-unsigned.
Method 1 reset (integer 0).

The application layer reports each association attempt on the port with
:meth:`CommunicationPortProtection.register_failure` / ``register_success`` and asks
:meth:`CommunicationPortProtection.is_locked` before accepting one (time is ``ctx.now``).

Reconstructed / design choices: in mode 1, once failed_attempts reaches allowed_failed_attempts, the
port locks for ``initial_lockout_time * steepness_factor ** (failed_attempts -
allowed_failed_attempts)`` seconds, capped at max_lockout_time; each further failure (after the
lockout ends) locks again, longer. A success clears failed_attempts. reset clears failed_attempts and
any temporary lockout. The method's short-name offset x + 0x50 (right after the last attribute) is not
confirmed by a public source.
"""

from __future__ import annotations

import datetime as _dt
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Enumerated, LongUnsigned, Unsigned
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
from cosemnet.cosem.results import type_unmatched
from cosemnet.cosem.values import as_int, as_octet_string


class ProtectionMode(IntEnum):
    LOCKED = 0
    LOCKED_ON_FAILED_ATTEMPTS = 1
    UNLOCKED = 2


class ProtectionStatus(IntEnum):
    UNLOCKED = 0
    TEMPORARILY_LOCKED = 1
    LOCKED = 2


class CommunicationPortProtection(InterfaceClass):
    """Communication port protection."""

    CLASS_ID: ClassVar[int] = 124
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "protection_mode", True, 0x08),
        AttributeDef(3, "allowed_failed_attempts", True, 0x10),
        AttributeDef(4, "initial_lockout_time", True, 0x18),
        AttributeDef(5, "steepness_factor", True, 0x20),
        AttributeDef(6, "max_lockout_time", True, 0x28),
        AttributeDef(7, "port_reference", True, 0x30),
        AttributeDef(8, "protection_status", False, 0x38),
        AttributeDef(9, "failed_attempts", False, 0x40),
        AttributeDef(10, "cumulative_failed_attempts", False, 0x48),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (MethodDef(1, "reset", 0x50),)

    def __init__(
        self,
        logical_name: Obis | str | bytes,
        port_reference: bytes = bytes(6),
        protection_mode: ProtectionMode = ProtectionMode.LOCKED_ON_FAILED_ATTEMPTS,
        allowed_failed_attempts: int = 3,
        initial_lockout_time: int = 60,
        steepness_factor: int = 2,
        max_lockout_time: int = 86400,
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.port_reference = port_reference
        self.protection_mode = protection_mode
        self.allowed_failed_attempts = allowed_failed_attempts
        self.initial_lockout_time = initial_lockout_time
        self.steepness_factor = steepness_factor
        self.max_lockout_time = max_lockout_time
        self.failed_attempts = 0
        self.cumulative_failed_attempts = 0
        self.locked_until: _dt.datetime | None = None

    def lockout_time(self) -> int:
        """Seconds of the lockout the current failed_attempts count earns."""
        excess = max(self.failed_attempts - self.allowed_failed_attempts, 0)
        # 2**64 already exceeds any double-long-unsigned maximum: bound the exponent (and the work).
        seconds: int = self.initial_lockout_time * self.steepness_factor ** min(excess, 64)
        return min(seconds, self.max_lockout_time)

    def protection_status(self, now: _dt.datetime) -> ProtectionStatus:
        if self.protection_mode is ProtectionMode.LOCKED:
            return ProtectionStatus.LOCKED
        if self.protection_mode is ProtectionMode.UNLOCKED:
            return ProtectionStatus.UNLOCKED
        if self.locked_until is not None and now < self.locked_until:
            return ProtectionStatus.TEMPORARILY_LOCKED
        return ProtectionStatus.UNLOCKED

    def is_locked(self, ctx: AccessContext) -> bool:
        return self.protection_status(ctx.now) is not ProtectionStatus.UNLOCKED

    def register_failure(self, ctx: AccessContext) -> None:
        """An association attempt on the port failed (wrong password, HLS failure...)."""
        self.failed_attempts = min(self.failed_attempts + 1, DoubleLongUnsigned.maximum)
        self.cumulative_failed_attempts = min(self.cumulative_failed_attempts + 1, DoubleLongUnsigned.maximum)
        if (
            self.protection_mode is ProtectionMode.LOCKED_ON_FAILED_ATTEMPTS
            and self.failed_attempts >= self.allowed_failed_attempts
        ):
            self.locked_until = ctx.now + _dt.timedelta(seconds=self.lockout_time())

    def register_success(self, ctx: AccessContext) -> None:
        """An association on the port succeeded."""
        self.failed_attempts = 0

    def reset(self) -> None:
        self.failed_attempts = 0
        self.locked_until = None

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return Enumerated(self.protection_mode)
        if index == 3:
            return LongUnsigned(self.allowed_failed_attempts)
        if index == 4:
            return DoubleLongUnsigned(self.initial_lockout_time)
        if index == 5:
            return Unsigned(self.steepness_factor)
        if index == 6:
            return DoubleLongUnsigned(self.max_lockout_time)
        if index == 7:
            return self.port_reference
        if index == 8:
            return Enumerated(self.protection_status(ctx.now))
        if index == 9:
            return DoubleLongUnsigned(self.failed_attempts)
        return DoubleLongUnsigned(self.cumulative_failed_attempts)

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            try:
                self.protection_mode = ProtectionMode(as_int(value, Enumerated, "protection_mode"))
            except ValueError:
                raise type_unmatched("protection_mode must be 0..2") from None
        elif index == 3:
            self.allowed_failed_attempts = as_int(value, LongUnsigned, "allowed_failed_attempts")
        elif index == 4:
            self.initial_lockout_time = as_int(value, DoubleLongUnsigned, "initial_lockout_time")
        elif index == 5:
            self.steepness_factor = as_int(value, Unsigned, "steepness_factor")
        elif index == 6:
            self.max_lockout_time = as_int(value, DoubleLongUnsigned, "max_lockout_time")
        elif index == 7:
            self.port_reference = as_octet_string(value, 6, "port_reference")
        else:
            raise read_only(index)

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        check_zero_parameter(parameter)
        self.reset()
        return None


__all__ = ["CommunicationPortProtection", "ProtectionMode", "ProtectionStatus"]
