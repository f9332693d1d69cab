"""Putting the OSGP-AES-128-PSK suite on LON DLMS endpoints (meter and concentrator).

:func:`secure_meter` / :func:`secure_concentrator` attach an agent to an endpoint's ADP: the agent is
the ADP's suite resolver and an auxiliary protocol (its own message code), and the ADP sends the
protected form with suite 1. :func:`null_suite_config` is the explicit opt-in to the null suite on the
protected SAPs (``--security none``): it protects nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from cosemnet.profiles.lon.adp import OSGP_AES_128_PSK_SUITE_ID
from cosemnet.profiles.lon.adp_service import AdpConfig, AdpService
from cosemnet.profiles.lon.dlms import LonConcentratorEndpoint, LonMeterEndpoint
from cosemnet.profiles.lon.osgp_aes.agent import (
    ConcentratorSecurity,
    MeterSecurity,
    OsgpConfig,
    SecurityEvent,
)
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore, LongTermKey
from cosemnet.security.counters import CounterStore


def null_suite_config(config: AdpConfig | None = None) -> AdpConfig:
    """``config`` (default: the defaults) with the null suite allowed on protected SAPs."""
    return dataclasses.replace(config if config is not None else AdpConfig(), allow_null_suite=True)


def _install(adp: AdpService, agent: MeterSecurity | ConcentratorSecurity) -> None:
    adp.config = dataclasses.replace(adp.config, send_suite_id=OSGP_AES_128_PSK_SUITE_ID)
    adp.suites = agent
    adp.attach(agent)


def secure_meter(
    endpoint: LonMeterEndpoint,
    node_id: bytes,
    address: tuple[int, int],
    ltk: LongTermKey,
    *,
    counter_store: CounterStore | None = None,
    on_event: Callable[[SecurityEvent], None] | None = None,
) -> MeterSecurity:
    """The meter end of the suite on ``endpoint`` (provisioned with ``ltk``)."""
    agent = MeterSecurity(OsgpConfig(node_id, address), [ltk], counter_store=counter_store, on_event=on_event)
    _install(endpoint.adp, agent)
    return agent


def secure_concentrator(
    endpoint: LonConcentratorEndpoint,
    node_id: bytes,
    address: tuple[int, int],
    keystore: KeyStore,
    *,
    counter_store: CounterStore | None = None,
    on_event: Callable[[SecurityEvent], None] | None = None,
) -> ConcentratorSecurity:
    """The concentrator end of the suite on ``endpoint``, with the meters' keys in ``keystore``."""
    agent = ConcentratorSecurity(
        OsgpConfig(node_id, address), keystore, counter_store=counter_store, on_event=on_event
    )
    _install(endpoint.adp, agent)
    return agent


__all__ = ["null_suite_config", "secure_concentrator", "secure_meter"]
