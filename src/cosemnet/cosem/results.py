"""Result codes of attribute access and method invocation (IEC 62056-5-3, Data-Access-Result and
Action-Result) and the exception that carries them.

The two enumerations are those of the xDLMS codec (:mod:`cosemnet.codec.xdlms.common`), re-exported
here so that the object model and the APDUs share one definition.

The object model raises :class:`cosemnet.cosem.base.CosemAccessError` carrying one of these codes;
the application layer copies the code into the GET/SET/ACTION response.

The common codes share their numbers between the two enumerations (``type-unmatched`` is 12 in both),
so a failure found by a helper that does not know whether it runs for a SET or an ACTION can be
raised as a :class:`DataAccessResult` and converted with :func:`to_action_result`.
"""

from __future__ import annotations

from cosemnet.codec.xdlms.common import ActionResult, DataAccessResult
from cosemnet.errors import CosemnetError


def to_action_result(result: DataAccessResult | ActionResult) -> ActionResult:
    """The Action-Result with the same meaning; codes without one (long-set...) map to other-reason."""
    if isinstance(result, ActionResult):
        return result
    if result in (
        DataAccessResult.LONG_GET_ABORTED,
        DataAccessResult.NO_LONG_GET_IN_PROGRESS,
        DataAccessResult.LONG_SET_ABORTED,
        DataAccessResult.NO_LONG_SET_IN_PROGRESS,
        DataAccessResult.DATA_BLOCK_NUMBER_INVALID,
    ):
        return ActionResult.OTHER_REASON
    return ActionResult(int(result))


def to_data_access_result(result: DataAccessResult | ActionResult) -> DataAccessResult:
    """The Data-Access-Result with the same meaning; the long-action codes map to other-reason."""
    if isinstance(result, DataAccessResult):
        return result
    if result in (ActionResult.LONG_ACTION_ABORTED, ActionResult.NO_LONG_ACTION_IN_PROGRESS):
        return DataAccessResult.OTHER_REASON
    return DataAccessResult(int(result))


class CosemAccessError(CosemnetError):
    """An attribute access or method invocation failed with ``result``.

    ``reason`` is a short human-readable explanation for logs; it never carries key material and is
    not sent on the wire (only ``result`` is).
    """

    def __init__(self, result: DataAccessResult | ActionResult, reason: str = "") -> None:
        self.result = result
        self.reason = reason
        text = dlms_name(result)
        if reason:
            text += f": {reason}"
        super().__init__(text)

    @property
    def data_access_result(self) -> DataAccessResult:
        """The code as a Data-Access-Result (for GET/SET responses)."""
        return to_data_access_result(self.result)

    @property
    def action_result(self) -> ActionResult:
        """The code as an Action-Result (for ACTION responses)."""
        return to_action_result(self.result)


def dlms_name(result: DataAccessResult | ActionResult) -> str:
    """The name the standard uses, e.g. ``read-write-denied``."""
    return result.name.lower().replace("_", "-")


def type_unmatched(reason: str) -> CosemAccessError:
    """A ``type-unmatched`` failure (the value does not have the type the attribute needs)."""
    return CosemAccessError(DataAccessResult.TYPE_UNMATCHED, reason)


__all__ = [
    "ActionResult",
    "CosemAccessError",
    "DataAccessResult",
    "dlms_name",
    "to_action_result",
    "to_data_access_result",
    "type_unmatched",
]
