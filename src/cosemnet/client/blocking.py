"""Blocking facade over :class:`~cosemnet.client.asyncio_client.AsyncClient`, for scripts.

Each :class:`Client` owns an event loop that runs in the calling thread only while a call is in
progress (so it must not be used from inside a running event loop; use :class:`AsyncClient` there). ::

    with Client("192.0.2.10", config=ClientConfig(client_sap=16)) as meter:
        print(meter.read_register("1-0:1.8.0*255"))
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from cosemnet.client.asyncio_client import DEFAULT_PORT, AsyncClient, Transport
from cosemnet.client.connection import AssociationInfo, ClientConfig, ClientConnection
from cosemnet.client.errors import AccessError, ClientError
from cosemnet.client.objects import Column, ObjectDescription, ScaledValue
from cosemnet.codec.datetime import CosemDateTime
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import ParameterizedAccess, SelectiveAccessDescriptor
from cosemnet.trace import FrameObserver

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """Blocking client: the methods of :class:`AsyncClient`, run to completion in the calling thread.

    ``with Client(...) as meter:`` connects and associates on entry (AARQ/AARE and the HLS passes
    when configured) and releases the association and closes the transport on exit, so the block
    body can read at once. Without ``with``, call :meth:`associate` first and :meth:`close` at the
    end. Timeouts and UDP retries are the connection core's timers (see :class:`AsyncClient`).
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        config: ClientConfig | None = None,
        *,
        transport: Transport = "tcp",
        timeout: float = 10.0,
        retries: int = 2,
        observer: FrameObserver | None = None,
    ) -> None:
        """Same arguments as :class:`AsyncClient`; nothing is sent until :meth:`associate` (or
        ``with``)."""
        self._loop = asyncio.new_event_loop()
        self._client = AsyncClient(
            host, port, config, transport=transport, timeout=timeout, retries=retries, observer=observer
        )

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coroutine.close()
            raise ClientError("the client is closed")
        task = self._loop.create_task(coroutine)
        try:
            return self._loop.run_until_complete(task)
        except BaseException:
            # Ctrl-C (KeyboardInterrupt) stops the loop with the task still running: cancel it now, so
            # it does not finish later with an error nobody retrieves (logged with a traceback)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    self._loop.run_until_complete(task)
            raise

    @property
    def connection(self) -> ClientConnection:
        """The sans-IO association core (state, negotiated parameters, security context)."""
        return self._client.connection

    @property
    def async_client(self) -> AsyncClient:
        """The :class:`AsyncClient` this facade runs."""
        return self._client

    def associate(self) -> AssociationInfo:
        """Connect if needed and establish the association; what the server agreed to.
        AssociationRejected, ClientSecurityError, ClientTimeout."""
        return self._run(self._client.associate())

    def release(self) -> None:
        """Send RLRQ and wait for RLRE (a missing RLRE is tolerated); the transport stays open."""
        self._run(self._client.release())

    def close(self) -> None:
        """Close the transport and the event loop (idempotent)."""
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._client.close())
        finally:
            self._loop.close()

    def __enter__(self) -> Client:
        """Associate (see the class docstring); closes everything if that fails."""
        try:
            self.associate()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Release (skipped when the block ends with an error other than AccessError), then close."""
        try:
            if exc is None or isinstance(exc, AccessError):
                with contextlib.suppress(ClientError):
                    self.release()
        finally:
            self.close()

    def get(
        self,
        class_id: int,
        instance: Obis | str,
        attribute_id: int,
        selection: SelectiveAccessDescriptor | None = None,
    ) -> DataValue:
        """GET one attribute (LN), with optional selective access; AccessError when refused."""
        return self._run(self._client.get(class_id, instance, attribute_id, selection))

    def get_with_list(self, items: list[tuple[int, Obis | str, int]]) -> list[DataValue | AccessError]:
        """GET several ``(class_id, instance, attribute_id)`` at once; per item the value or an
        AccessError (returned, not raised)."""
        return self._run(self._client.get_with_list(items))

    def set(
        self,
        class_id: int,
        instance: Obis | str,
        attribute_id: int,
        value: DataValue,
        selection: SelectiveAccessDescriptor | None = None,
    ) -> None:
        """SET one attribute (LN; data blocks when too large); AccessError when refused."""
        self._run(self._client.set(class_id, instance, attribute_id, value, selection))

    def set_with_list(self, items: list[tuple[int, Obis | str, int, DataValue]]) -> list[object]:
        """SET several ``(class_id, instance, attribute_id, value)`` at once; each Data-Access-Result."""
        return self._run(self._client.set_with_list(items))

    def action(
        self, class_id: int, instance: Obis | str, method_id: int, parameters: DataValue = None
    ) -> DataValue:
        """Invoke one method (LN); its return parameters (None when none); AccessError when refused."""
        return self._run(self._client.action(class_id, instance, method_id, parameters))

    def action_with_list(self, items: list[tuple[int, Obis | str, int, DataValue]]) -> list[object]:
        """Invoke several methods at once; per method the return value or an AccessError."""
        return self._run(self._client.action_with_list(items))

    def read(self, variables: list[int | ParameterizedAccess]) -> list[DataValue | AccessError]:
        """SN Read of short names (or parameterized accesses); per variable the value or an
        AccessError (returned, not raised)."""
        return self._run(self._client.read(variables))

    def write(self, variables: list[tuple[int, DataValue]]) -> list[AccessError | None]:
        """SN Write of ``(short_name, value)`` pairs; per variable None or an AccessError."""
        return self._run(self._client.write(variables))

    def read_sn(self, base_name: int, attribute_id: int) -> DataValue:
        """SN Read of one attribute of the object at ``base_name``; AccessError when refused."""
        return self._run(self._client.read_sn(base_name, attribute_id))

    def capture_objects(self, instance: Obis | str) -> list[Column]:
        """The columns of a profile generic (its capture_objects, attribute 3)."""
        return self._run(self._client.capture_objects(instance))

    def get_attribute(self, class_id: int, instance: Obis | str, attribute_id: int) -> DataValue:
        """GET for LN; for SN the base name comes from the object list (read once and cached)."""
        return self._run(self._client.get_attribute(class_id, instance, attribute_id))

    def object_list(self) -> list[ObjectDescription]:
        """The current association's object list."""
        return self._run(self._client.object_list())

    def read_register(self, instance: Obis | str, class_id: int = 3) -> ScaledValue:
        """Value and scaler_unit of a register (class 3, 4 or 5)."""
        return self._run(self._client.read_register(instance, class_id))

    def read_clock(self, instance: Obis | str = "0-0:1.0.0*255") -> CosemDateTime | DataValue:
        """The clock time (class 8 attribute 2), as a CosemDateTime when it is a valid date-time."""
        return self._run(self._client.read_clock(instance))

    def read_profile(
        self,
        instance: Obis | str,
        *,
        start: _dt.datetime | None = None,
        end: _dt.datetime | None = None,
        from_entry: int | None = None,
        to_entry: int = 0,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Column], list[dict[str, DataValue | CosemDateTime]]]:
        """Rows of a profile generic buffer keyed by capture object; see
        :meth:`AsyncClient.read_profile` for the range and entry selections."""
        return self._run(
            self._client.read_profile(
                instance, start=start, end=end, from_entry=from_entry, to_entry=to_entry, progress=progress
            )
        )
