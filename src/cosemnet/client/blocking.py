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

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """Blocking client: the methods of :class:`AsyncClient`, run to completion."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        config: ClientConfig | None = None,
        *,
        transport: Transport = "tcp",
        timeout: float = 10.0,
        retries: int = 2,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = AsyncClient(host, port, config, transport=transport, timeout=timeout, retries=retries)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coroutine.close()
            raise ClientError("the client is closed")
        return self._loop.run_until_complete(coroutine)

    @property
    def connection(self) -> ClientConnection:
        return self._client.connection

    @property
    def async_client(self) -> AsyncClient:
        return self._client

    def associate(self) -> AssociationInfo:
        return self._run(self._client.associate())

    def release(self) -> None:
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
        try:
            self.associate()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
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
        return self._run(self._client.get(class_id, instance, attribute_id, selection))

    def get_with_list(self, items: list[tuple[int, Obis | str, int]]) -> list[DataValue | AccessError]:
        return self._run(self._client.get_with_list(items))

    def set(
        self,
        class_id: int,
        instance: Obis | str,
        attribute_id: int,
        value: DataValue,
        selection: SelectiveAccessDescriptor | None = None,
    ) -> None:
        self._run(self._client.set(class_id, instance, attribute_id, value, selection))

    def set_with_list(self, items: list[tuple[int, Obis | str, int, DataValue]]) -> list[object]:
        return self._run(self._client.set_with_list(items))

    def action(
        self, class_id: int, instance: Obis | str, method_id: int, parameters: DataValue = None
    ) -> DataValue:
        return self._run(self._client.action(class_id, instance, method_id, parameters))

    def action_with_list(self, items: list[tuple[int, Obis | str, int, DataValue]]) -> list[object]:
        return self._run(self._client.action_with_list(items))

    def read(self, variables: list[int | ParameterizedAccess]) -> list[DataValue | AccessError]:
        return self._run(self._client.read(variables))

    def write(self, variables: list[tuple[int, DataValue]]) -> list[AccessError | None]:
        return self._run(self._client.write(variables))

    def get_attribute(self, class_id: int, instance: Obis | str, attribute_id: int) -> DataValue:
        return self._run(self._client.get_attribute(class_id, instance, attribute_id))

    def object_list(self) -> list[ObjectDescription]:
        return self._run(self._client.object_list())

    def read_register(self, instance: Obis | str, class_id: int = 3) -> ScaledValue:
        return self._run(self._client.read_register(instance, class_id))

    def read_clock(self, instance: Obis | str = "0-0:1.0.0*255") -> CosemDateTime | DataValue:
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
        return self._run(
            self._client.read_profile(
                instance, start=start, end=end, from_entry=from_entry, to_entry=to_entry, progress=progress
            )
        )
