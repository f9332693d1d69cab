"""Head-end operations beyond GET: SET and ACTION to meters and groups (issue 12, docs/decisions/0099).

An :class:`Operation` names one SET (attribute) or ACTION (method) with its value. The head-end runs it
through the same throttled, per-meter machinery as a collect (:meth:`HeadEnd.operate`), or as one group
request (:meth:`HeadEnd.broadcast` with ``operation``); each meter's outcome is a result name
(``success`` or the DLMS data-access-result / action-result name, or why there was no answer), stored
in the ``operation_results`` table by :func:`record_run`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cosemnet.client.requests import Action, Set
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue
from cosemnet.codec.xdlms import (
    ActionRequestNormal,
    ActionResponseNormal,
    ActionResult,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataAccessResult,
    ServiceClass,
    SetRequestNormal,
    SetResponseNormal,
)

if TYPE_CHECKING:
    from cosemnet.headend.store import HeadEndStore

__all__ = ["Operation", "OperationOutcome", "group_outcome", "record_run"]

_log = logging.getLogger(__name__)

OperationKind = Literal["set", "action"]


@dataclass(frozen=True, slots=True)
class Operation:
    """One SET of attribute ``index`` or one ACTION of method ``index`` of an object."""

    kind: OperationKind
    class_id: int
    logical_name: Obis
    index: int
    value: DataValue = None
    """SET: the new value; ACTION: the method invocation parameters (None: absent)."""
    confirmed: bool = True
    """False: a group request of the unconfirmed service class (members answer nothing; used for the
    image blocks of a firmware campaign, docs/decisions/0117). Unicast requests are always confirmed."""

    def __str__(self) -> str:
        return f"{self.kind} {self.class_id}/{self.logical_name}/{self.index}"

    @property
    def target(self) -> str:
        """``CLASS/OBIS/INDEX`` of the attribute or method."""
        return f"{self.class_id}/{self.logical_name}/{self.index}"

    def client_request(self) -> Set | Action:
        """The unicast request, for the client core's ``send_request`` (ciphered by the association)."""
        if self.kind == "set":
            return Set(self.class_id, self.logical_name, self.index, self.value)
        return Action(self.class_id, self.logical_name, self.index, self.value)

    def group_request(self, invoke_id: int) -> bytes:
        """The plain group request APDU (protected with the broadcast key by the caller)."""
        service_class = ServiceClass.CONFIRMED if self.confirmed else ServiceClass.UNCONFIRMED
        if self.kind == "set":
            descriptor = CosemAttributeDescriptor(self.class_id, self.logical_name, self.index)
            request = SetRequestNormal(invoke_id, descriptor, None, self.value, service_class=service_class)
            return request.encode()
        method = CosemMethodDescriptor(self.class_id, self.logical_name, self.index)
        return ActionRequestNormal(invoke_id, method, self.value, service_class=service_class).encode()


@dataclass(frozen=True, slots=True)
class OperationOutcome:
    """One meter's result: ``result`` is ``success``, a DLMS result name or ``no-answer``."""

    system_title: bytes
    result: str
    detail: str | None = None
    value: DataValue = None


def _result_name(result: DataAccessResult | ActionResult) -> str:
    return result.name.lower().replace("_", "-")


def group_outcome(title: bytes, response: object) -> OperationOutcome | None:
    """The outcome carried by a group SET/ACTION response (None: not one)."""
    if isinstance(response, SetResponseNormal):
        return OperationOutcome(title, _result_name(response.result))
    if isinstance(response, ActionResponseNormal):
        single = response.single_response
        value = single.return_parameters
        if isinstance(value, DataAccessResult):
            return OperationOutcome(title, _result_name(single.result), _result_name(value))
        return OperationOutcome(title, _result_name(single.result), None, value)
    return None


def unicast_outcomes(
    results: Mapping[
        bytes, tuple[list[DataValue | None], list[str | None], list[DataAccessResult | ActionResult | None]]
    ],
    failed: Mapping[bytes, str],
) -> list[OperationOutcome]:
    """The outcomes of a unicast run: answered meters (success or the DLMS result the meter sent: an
    answer's error is always an access error, ``(values, errors, access results)``), then the meters
    without an answer."""
    out: list[OperationOutcome] = []
    for title, (values, errors, access) in results.items():
        error = errors[0] if errors else None
        result = access[0] if access else None
        if error is None:
            out.append(OperationOutcome(title, "success", None, values[0] if values else None))
        else:
            out.append(OperationOutcome(title, "error" if result is None else _result_name(result), error))
    for title, reason in failed.items():
        out.append(OperationOutcome(title, "no-answer", reason))
    return out


def record_run(
    store: HeadEndStore,
    run_id: int,
    operation: Operation,
    outcomes: list[OperationOutcome],
    now: float | None = None,
) -> None:
    """Store each meter's outcome of ``operation`` in run ``run_id``."""
    at = time.time() if now is None else now
    store.add_operation_results(
        [
            (run_id, o.system_title, operation.kind, operation.target, o.result, o.detail, o.value, at)
            for o in outcomes
        ]
    )
    _log.info("%s: %d results stored in run %d", operation, len(outcomes), run_id)
