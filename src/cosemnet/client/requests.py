"""Client requests as objects (IEC 62056-5-3 services), for :meth:`ClientConnection.send_request`.

Each request is a frozen dataclass naming one xDLMS or ACSE service with its parameters; the
matching typed event (:mod:`cosemnet.client.events`) carries it back. :class:`RequestKind` names the
exchange in progress inside the core, including its internal phases (HLS pass 3, block transfer).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import ParameterizedAccess, SelectiveAccessDescriptor

__all__ = [
    "Action",
    "ActionWithList",
    "Associate",
    "Get",
    "GetItem",
    "GetWithList",
    "Read",
    "Release",
    "Request",
    "RequestKind",
    "Set",
    "SetWithList",
    "Write",
]


GetItem = tuple[int, Obis | str, int] | tuple[int, Obis | str, int, SelectiveAccessDescriptor | None]
"""``(class_id, instance, attribute_id)``, optionally with a selective access."""


class RequestKind(Enum):
    """The exchange in progress (one at a time per association)."""

    ASSOCIATE = "associate"
    HLS = "hls"
    """HLS pass 3/4: reply_to_HLS_authentication after an accepted AARE."""
    RELEASE = "release"
    GET = "get"
    GET_LIST = "get_list"
    SET = "set"
    SET_BLOCKS = "set_blocks"
    """SET whose value travels in data blocks."""
    SET_LIST = "set_list"
    ACTION = "action"
    ACTION_BLOCKS = "action_blocks"
    """ACTION whose parameters travel in pblocks."""
    ACTION_LIST = "action_list"
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Associate:
    """COSEM-OPEN: the AARQ (and the HLS passes 3 and 4 when the mechanism asks for them)."""


@dataclass(frozen=True, slots=True)
class Release:
    """COSEM-RELEASE with an RLRQ (reason normal)."""


@dataclass(frozen=True, slots=True)
class Get:
    """GET one attribute (LN)."""

    class_id: int
    instance: Obis | str
    attribute_id: int
    selection: SelectiveAccessDescriptor | None = None


@dataclass(frozen=True, slots=True)
class GetWithList:
    """GET several attributes at once (LN): ``(class_id, instance, attribute_id[, selection])``."""

    items: tuple[GetItem, ...]


@dataclass(frozen=True, slots=True)
class Set:
    """SET one attribute (LN); sent in data blocks when too large for the server."""

    class_id: int
    instance: Obis | str
    attribute_id: int
    value: DataValue
    selection: SelectiveAccessDescriptor | None = None


@dataclass(frozen=True, slots=True)
class SetWithList:
    """SET several attributes at once (LN): ``(class_id, instance, attribute_id, value)``."""

    items: tuple[tuple[int, Obis | str, int, DataValue], ...]


@dataclass(frozen=True, slots=True)
class Action:
    """ACTION: invoke one method (LN); parameters in pblocks when too large for the server."""

    class_id: int
    instance: Obis | str
    method_id: int
    parameters: DataValue = None


@dataclass(frozen=True, slots=True)
class ActionWithList:
    """ACTION on several methods at once (LN): ``(class_id, instance, method_id, parameters)``."""

    items: tuple[tuple[int, Obis | str, int, DataValue], ...]


@dataclass(frozen=True, slots=True)
class Read:
    """SN Read of short names or parameterized accesses."""

    variables: tuple[int | ParameterizedAccess, ...]


@dataclass(frozen=True, slots=True)
class Write:
    """SN Write: ``(short_name, value)`` pairs."""

    variables: tuple[tuple[int, DataValue], ...]


Request = Associate | Release | Get | GetWithList | Set | SetWithList | Action | ActionWithList | Read | Write
"""Every request :meth:`~cosemnet.client.connection.ClientConnection.send_request` accepts."""
