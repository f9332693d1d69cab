"""LNAP commissioning (Annex D.7.5): a factory-new meter that holds only its provisioned PSK becomes an
operational member of the NNAP's domain [design, decision 0090].

:class:`LnapCommissioning` drives the :class:`~.agent.ConcentratorSecurity` of the NNAP through one
exchange per step; it is sans-IO (the caller passes ``now`` and calls :meth:`LnapCommissioning.poll`
after the network moved, e.g. after each :func:`~cosemnet.profiles.lon.dlms.run_exchange`):

===================  ============================================================  =================
step                 messages (decision 0043)                                      done when
===================  ============================================================  =================
CHANNEL              ChallengeRequest / ChallengeResponse / CommissionRequest /     channel
                     CommissionResponse, under the factory PSK (ltk_id 1)           established
DOMAIN_KEY           UpdateDomainKeysRequest / Response (sent by the agent right    meter confirmed
                     after the set-up when the NNAP has a current domain key)        the key
OPERATIONAL_KEY      LongTermKeyUpdateRequest / Response: the operator's LTK        NNAP promoted it
                     replaces the PSK
RENEWAL              a new set-up under the operational LTK; the meter then         channel under
                     retires every older LTK (the PSK no longer opens a channel)    the new LTK
===================  ============================================================  =================

``replace_factory_key=False`` stops after DOMAIN_KEY (the PSK stays the meter's LTK). Any step that does
not finish within ``timeout`` of the start, or a channel that fails, ends in FAILED with the reason.
"""

from __future__ import annotations

import logging
from enum import Enum

from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.adp_service import address_key
from cosemnet.profiles.lon.osgp_aes.agent import ChannelState, ConcentratorSecurity

log = logging.getLogger(__name__)


class CommissioningStep(Enum):
    IDLE = "idle"
    CHANNEL = "channel"
    DOMAIN_KEY = "domain_key"
    OPERATIONAL_KEY = "operational_key"
    RENEWAL = "renewal"
    DONE = "done"
    FAILED = "failed"


class LnapCommissioning:
    """Commissioning of one factory-new meter (see the module docstring)."""

    def __init__(
        self,
        agent: ConcentratorSecurity,
        address: SubnetNodeAddress,
        node_id: bytes,
        *,
        replace_factory_key: bool = True,
        timeout: float = 600.0,
    ) -> None:
        self.agent = agent
        self.address = address
        self.node_id = bytes(node_id)
        self.replace_factory_key = replace_factory_key
        self.timeout = timeout
        self.step = CommissioningStep.IDLE
        self.reason = ""
        self.started = 0.0
        self.operational_ltk_id: int | None = None

    def __repr__(self) -> str:
        return f"LnapCommissioning({self.address}, {self.step.value})"

    @property
    def finished(self) -> bool:
        return self.step in (CommissioningStep.DONE, CommissioningStep.FAILED)

    def start(self, now: float) -> None:
        """Open the secure channel under the provisioned PSK (the key store must hold it)."""
        if self.agent.keystore.entry(self.node_id) is None:
            self._fail("the key store holds no PSK for this meter")
            return
        self.started, self.step = now, CommissioningStep.CHANNEL
        self.agent.commission(self.address, self.node_id, now)

    def _fail(self, reason: str) -> None:
        self.step, self.reason = CommissioningStep.FAILED, reason
        log.info("commissioning of %s failed: %s", self.address, reason)

    def poll(self, now: float) -> CommissioningStep:
        """Advance as far as the agent's state allows; the current step."""
        if self.finished or self.step is CommissioningStep.IDLE:
            return self.step
        channel = self.agent.channels.get(address_key(self.address))
        if channel is None or channel.state is ChannelState.FAILED:
            self._fail("no secure channel")
            return self.step
        previous = None
        while previous is not self.step and not self.finished:
            previous = self.step
            self._advance(now)
        if not self.finished and now - self.started > self.timeout:
            self._fail(f"step {self.step.value} timed out")
        return self.step

    def _advance(self, now: float) -> None:
        agent, key = self.agent, address_key(self.address)
        channel = agent.channels[key]
        entry = agent.keystore.entry(self.node_id)
        assert entry is not None
        if self.step is CommissioningStep.CHANNEL and agent.established(self.address):
            self.step = CommissioningStep.DOMAIN_KEY
        elif self.step is CommissioningStep.DOMAIN_KEY:
            current = agent.domain.current
            if current is None or channel.domain_key_id == agent.keystore.domain_key_id:
                self._after_domain_key(now)
        elif self.step is CommissioningStep.OPERATIONAL_KEY:
            if entry.pending is None and entry.current.key_id == self.operational_ltk_id:
                self.step = CommissioningStep.RENEWAL
                agent.renew(self.address, now)
        elif self.step is CommissioningStep.RENEWAL:
            ltk = channel.ltk
            renewed = agent.established(self.address) and not channel.renewing
            if renewed and ltk is not None and ltk.key_id == self.operational_ltk_id:
                self.step = CommissioningStep.DONE
                log.info("meter %s commissioned with its operational key", self.address)

    def _after_domain_key(self, now: float) -> None:
        if not self.replace_factory_key:
            self.step = CommissioningStep.DONE
            return
        if not self.agent.update_long_term_key(self.address, now):
            self._fail("the operational key could not be sent")
            return
        entry = self.agent.keystore.entry(self.node_id)
        assert entry is not None and entry.pending is not None
        self.operational_ltk_id = entry.pending.key_id
        self.step = CommissioningStep.OPERATIONAL_KEY


__all__ = ["CommissioningStep", "LnapCommissioning"]
