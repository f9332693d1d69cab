"""Every public member of the client package, cosemnet.server and the codec entry points has a docstring
(issue 15 item 7): what ``help()`` and an editor show a script writer."""

from __future__ import annotations

import enum
import importlib
import inspect
from collections.abc import Iterator

import pytest

MODULES = (
    "cosemnet.client",
    "cosemnet.server",
    "cosemnet.codec.apdu",
    "cosemnet.codec.wrapper",
    "cosemnet.codec.jsonform",
    "cosemnet.codec.obis",
    "cosemnet.codec.datetime",
    "cosemnet.headend",
    "cosemnet.headend.events",
    "cosemnet.headend.firmware",
    "cosemnet.headend.firmware_service",
    "cosemnet.headend.firmware_store",
    "cosemnet.trace",
    "cosemnet.cli.lon",
    "cosemnet.cli.lon_feeder",
    "cosemnet.cli.lon_inject",
    "cosemnet.cli.lon_read",
    "cosemnet.cli.lon_tool",
    "cosemnet.cli.lon_tree",
    "cosemnet.cli.hes_run",
    "cosemnet.cli.hes_output",
    "cosemnet.cli.hes_readings",
    "cosemnet.cli.signals",
    "cosemnet.cli.sim_lon",
    "cosemnet.cli.sim_lon_cnip",
    "cosemnet.cli.sim_lon_feeder",
    "cosemnet.cli.sim_lon_observe",
)
"""Packages and modules whose ``__all__`` is the public API (the codec's entry points: APDUs, the wrapper,
the JSON form, OBIS codes and date-times; the head-end with its firmware campaigns and events; traces;
the LON and simulation commands' modules)."""


def _members(cls: type) -> Iterator[tuple[str, object]]:
    """Public methods and properties the class itself defines (not dataclass/enum machinery)."""
    if issubclass(cls, enum.Enum):
        return
    for name, value in vars(cls).items():
        if name.startswith("_") and name not in ("__enter__", "__exit__", "__aenter__", "__aexit__"):
            continue
        if isinstance(value, property | staticmethod | classmethod) or inspect.isfunction(value):
            yield name, value


EXPLICIT = {
    "cosemnet.codec.obis": ("Obis", "obis_name"),
    "cosemnet.codec.datetime": ("CosemDate", "CosemTime", "CosemDateTime"),
}
"""Modules without ``__all__``: their public entry points."""


def public_objects() -> Iterator[tuple[str, object]]:
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in EXPLICIT.get(module_name) or module.__all__:
            value = getattr(module, name)
            if not (inspect.isclass(value) or inspect.isfunction(value)):
                continue  # constants and type aliases are documented where they are defined
            owner = getattr(value, "__module__", "")
            if not owner.startswith("cosemnet"):
                continue
            yield f"{module_name}.{name}", value
            if inspect.isclass(value):
                for member, attribute in _members(value):
                    yield f"{module_name}.{name}.{member}", attribute


def _doc(value: object) -> str | None:
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if isinstance(value, property):
        return value.__doc__ or (value.fget.__doc__ if value.fget else None)
    return value.__doc__ if inspect.isclass(value) or inspect.isfunction(value) else None


def test_every_public_member_has_a_docstring() -> None:
    missing = sorted({name for name, value in public_objects() if not (_doc(value) or "").strip()})
    assert missing == [], f"{len(missing)} public members without a docstring:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    "name", ["Client", "AsyncClient", "ClientConfig", "KeySet", "Mechanism", "Referencing"]
)
def test_what_a_script_needs_is_importable_from_the_client_package(name: str) -> None:
    assert hasattr(importlib.import_module("cosemnet.client"), name)


@pytest.mark.parametrize(
    "name",
    [
        "FirmwareCampaign",
        "CampaignConfig",
        "CampaignRequest",
        "FirmwareStore",
        "run_campaign",
        "MeterCompleted",
        "MeterFailed",
        "RunFinished",
        "GroupRequestClosed",
        "Operation",
        "OperationOutcome",
        "PushEvent",
        "HeadEndService",
    ],
)
def test_what_a_script_needs_is_importable_from_the_headend_package(name: str) -> None:
    assert hasattr(importlib.import_module("cosemnet.headend"), name)
