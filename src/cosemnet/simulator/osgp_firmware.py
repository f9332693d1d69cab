"""Firmware download on a simulated OSGP segment: the glue between the sans-IO firmware ends of
:mod:`cosemnet.profiles.lon.osgp_aes.firmware` and the simulated meters and concentrator.

:func:`attach_receiver` puts a :class:`~cosemnet.profiles.lon.osgp_aes.firmware.FirmwareReceiver` on a
meter's ADP, feeding the meter's Image transfer object (class 18, 0-0:44.0.0*255) and activating it in
the meter's own time and side effects (the active firmware identifier changes, an event is logged).
:func:`start_campaign` attaches a :class:`~cosemnet.profiles.lon.osgp_aes.firmware.FirmwareCampaign` to
the concentrator's ADP; it starts at the next pump of the endpoint (decision 0049).
"""

from __future__ import annotations

from collections.abc import Iterable

from cosemnet.cosem.context import AccessContext
from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, LonMeterEndpoint
from cosemnet.profiles.lon.osgp_aes.agent import ConcentratorSecurity, MeterSecurity
from cosemnet.profiles.lon.osgp_aes.firmware import CampaignConfig, FirmwareCampaign, FirmwareReceiver
from cosemnet.simulator.osgp_meter import OsgpMeter


def attach_receiver(
    endpoint: LonMeterEndpoint, security: MeterSecurity, osgp: OsgpMeter, *, max_image_size: int = 1 << 20
) -> FirmwareReceiver:
    """The firmware receiver of one simulated meter (its Image transfer object takes verified images)."""
    meter = osgp.meter

    def context() -> AccessContext:
        return AccessContext.local(meter.now, meter.effects)

    receiver = FirmwareReceiver(security, meter.image_transfer, context, max_image_size=max_image_size)
    endpoint.adp.attach(receiver)
    return receiver


def start_campaign(
    endpoint: LonConcentratorEndpoint,
    security: ConcentratorSecurity,
    meters: Iterable[SubnetNodeAddress],
    identifier: bytes,
    image: bytes,
    *,
    campaign: int = 1,
    config: CampaignConfig | None = None,
) -> FirmwareCampaign:
    """A firmware campaign from the concentrator to ``meters`` (each needs an established channel)."""
    job = FirmwareCampaign(security, campaign, identifier, image, meters, config)
    endpoint.adp.attach(job)
    return job


__all__ = ["attach_receiver", "start_campaign"]
