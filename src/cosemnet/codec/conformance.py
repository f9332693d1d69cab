"""Conformance presets, in one place (the ``Conformance`` block bits are in :mod:`cosemnet.codec.initiate`).

Each preset is what one caller uses by default; callers keep their own public names as aliases
(``cosemnet.server.DEFAULT_LN_CONFORMANCE`` is :data:`LN_SERVER_CONFORMANCE`, the client's
``DEFAULT_LN_CONFORMANCE`` is :data:`LN_CLIENT_CONFORMANCE`...). The values are design choices of this
project, not the standard's.
"""

from __future__ import annotations

from typing import Final

from cosemnet.codec.initiate import Conformance

__all__ = [
    "LN_CLIENT_CONFORMANCE",
    "LN_READ_ONLY_CONFORMANCE",
    "LN_SERVER_CONFORMANCE",
    "LN_SET_ACTION_CONFORMANCE",
    "SN_CONFORMANCE",
]

LN_CLIENT_CONFORMANCE: Final = (
    Conformance.GET
    | Conformance.SET
    | Conformance.ACTION
    | Conformance.SELECTIVE_ACCESS
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
    | Conformance.BLOCK_TRANSFER_WITH_ACTION
)
"""Every LN service with the service-specific block transfers, no general block transfer: what LN
clients propose by default, and the LON management association (the ADP already segments)."""

LN_SERVER_CONFORMANCE: Final = (
    LN_CLIENT_CONFORMANCE
    | Conformance.GENERAL_BLOCK_TRANSFER
    | Conformance.GENERAL_PROTECTION
    | Conformance.PRIORITY_MGMT_SUPPORTED
)
"""What a server offers on an LN association declared without a conformance: the client preset plus
general block transfer, general protection and priority management."""

SN_CONFORMANCE: Final = (
    Conformance.READ
    | Conformance.WRITE
    | Conformance.UNCONFIRMED_WRITE
    | Conformance.PARAMETERIZED_ACCESS
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
)
"""SN services (proposed by SN clients and offered by SN servers by default)."""

LN_READ_ONLY_CONFORMANCE: Final = (
    Conformance.GET
    | Conformance.SELECTIVE_ACCESS
    | Conformance.MULTIPLE_REFERENCES
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
)
"""Read-only LN services: GET (normal, with-list, next block) with selective access (LON public)."""

LN_SET_ACTION_CONFORMANCE: Final = Conformance.SET | Conformance.ACTION
"""Unconfirmed SET / ACTION only (LON broadcast)."""
