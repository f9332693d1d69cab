"""The attribute grammar of the ``hes`` commands: ``OBIS[:ATTR]`` or ``CLASS/OBIS/ATTR``, as ``read``.

An OBIS code given without its class (``1-0:1.8.0``, ``0-0:1.0.0*255:2``) takes ``--class-id`` when
given, else its class is looked up, once per run, in the object list (Association LN
``0-0:40.0.0*255``, attribute 2) of one registered meter: the first :data:`LOOKUP_METERS` meters of
the run are asked at once, the first of them that answered gives the classes. The classes are kept
for the run only; every meter of the run is assumed to describe an OBIS code with the same class (see
docs/decisions/0114). The read of the object list is a run of its own in the database (label
``15/0-0:40.0.0*255/2``). With no meter registered there is nothing to read and nothing is looked up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import click

from cosemnet.cli.params import AttributeSpecValue, parse_attribute_spec
from cosemnet.client.objects import parse_object_list
from cosemnet.codec.obis import Obis
from cosemnet.errors import CosemnetError
from cosemnet.headend import AttributeRef, HeadEndService

__all__ = [
    "LOOKUP_METERS",
    "OBJECT_LIST",
    "class_id_option",
    "needs_lookup",
    "no_meter",
    "object_classes",
    "parse_specs",
    "resolve",
    "resolve_specs",
]

OBJECT_LIST: Final = AttributeRef(15, Obis.parse("0-0:40.0.0*255"), 2)
"""The current association's object_list (Association LN, attribute 2)."""
LOOKUP_METERS: Final = 3
"""Meters asked for their object list (at once: one silent meter does not delay the run)."""


class_id_option = click.option(
    "--class-id",
    type=click.IntRange(0, 0xFFFF),
    default=None,
    help="Interface class of the OBIS codes given without one [default: looked up in the object list of "
    "the first registered meter that answers, once per run].",
)


def parse_specs(
    values: Iterable[str], class_id: int | None = None, option: str = "--obis"
) -> list[AttributeSpecValue]:
    """Every comma-separated ``OBIS[:ATTR]`` / ``CLASS/OBIS/ATTR`` of ``values``; ``class_id`` for those
    without a class. ``click.BadParameter`` for a bad one or none at all."""
    out = []
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            try:
                spec = parse_attribute_spec(part)
            except ValueError as exc:
                raise click.BadParameter(
                    f"bad attribute {part.strip()!r}: {exc}", param_hint=option
                ) from None
            if spec.class_id is None and class_id is not None:
                spec = AttributeSpecValue(class_id, spec.logical_name, spec.attribute_id)
            out.append(spec)
    if not out:
        raise click.BadParameter("give at least one attribute", param_hint=option)
    return out


def needs_lookup(specs: Sequence[AttributeSpecValue]) -> bool:
    return any(s.class_id is None for s in specs)


def resolve(specs: Sequence[AttributeSpecValue], classes: dict[bytes, int]) -> list[AttributeRef]:
    """The attributes with their classes (``classes``: OBIS -> class); ClickException for an OBIS code
    the object list does not have."""
    out = []
    for spec in specs:
        class_id = spec.class_id
        if class_id is None:
            class_id = classes.get(bytes(spec.logical_name))
            if class_id is None:
                raise click.ClickException(
                    f"{spec.logical_name} is not in the meter's object list: "
                    "give CLASS/OBIS/ATTR or --class-id"
                )
        out.append(AttributeRef(class_id, spec.logical_name, spec.attribute_id))
    return out


async def object_classes(service: HeadEndService, titles: Sequence[bytes] | None = None) -> dict[bytes, int]:
    """OBIS -> class from the object list of one of the first :data:`LOOKUP_METERS` meters (of
    ``titles``, else of the address book), asked at once; ClickException when none answers."""
    candidates = list(titles) if titles else [e.system_title for e in service.head_end.book.entries()]
    candidates = candidates[:LOOKUP_METERS]
    reasons = []
    run = await service.collect([OBJECT_LIST], system_titles=candidates) if candidates else None
    for title in candidates:
        assert run is not None
        result = run.results.get(title)
        if result is None or not result.ok:
            reason = run.failed.get(title) or (result.errors[0] if result is not None else None)
            reasons.append(f"{title.hex().upper()}: {reason or 'no answer'}")
            continue
        try:
            objects = parse_object_list(result.values[0])
        except CosemnetError as exc:
            reasons.append(f"{title.hex().upper()}: {exc}")
            continue
        return {bytes(o.logical_name): o.class_id for o in objects}
    why = "; ".join(reasons) if reasons else "no registered meter"
    raise click.ClickException(
        f"cannot look up the class of an OBIS code given without one ({why}): "
        "give CLASS/OBIS/ATTR or --class-id"
    )


def no_meter(service: HeadEndService, titles: Sequence[bytes] | None = None) -> bool:
    """True when the run has no meter to talk to (nothing to read, nothing to look up)."""
    return not titles and len(service.head_end.book) == 0


async def resolve_specs(
    service: HeadEndService, specs: Sequence[AttributeSpecValue], titles: Sequence[bytes] | None = None
) -> list[AttributeRef]:
    """``specs`` with their classes, the object list read only when one has no class."""
    classes = await object_classes(service, titles) if needs_lookup(specs) else {}
    return resolve(specs, classes)
