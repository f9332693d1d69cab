"""DLMS/COSEM client: sans-IO association (:mod:`.connection`), asyncio API (:mod:`.asyncio_client`),
blocking facade (:mod:`.blocking`), typed views of object lists, profiles and registers (:mod:`.objects`)."""

from cosemnet.client.asyncio_client import DEFAULT_PORT, AsyncClient
from cosemnet.client.blocking import Client
from cosemnet.client.connection import (
    AssociationInfo,
    AwaitApdu,
    ClientConfig,
    ClientConnection,
    ConnectionState,
    Done,
    Referencing,
    SendApdu,
    short_name,
)
from cosemnet.client.errors import (
    AccessError,
    AssociationRejected,
    ClientError,
    ClientSecurityError,
    ClientTimeout,
    ProtocolError,
    ServiceErrorResponse,
)
from cosemnet.client.objects import Column, ObjectDescription, ScaledValue

__all__ = [
    "DEFAULT_PORT",
    "AccessError",
    "AssociationInfo",
    "AssociationRejected",
    "AsyncClient",
    "AwaitApdu",
    "Client",
    "ClientConfig",
    "ClientConnection",
    "ClientError",
    "ClientSecurityError",
    "ClientTimeout",
    "Column",
    "ConnectionState",
    "Done",
    "ObjectDescription",
    "ProtocolError",
    "Referencing",
    "ScaledValue",
    "SendApdu",
    "ServiceErrorResponse",
    "short_name",
]
