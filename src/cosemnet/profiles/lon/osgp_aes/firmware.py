"""Firmware download over the OSGP-AES-128-PSK suite (Annex D, "Firmware download") [design, decision 0049].

Two sans-IO ends, each an :class:`~cosemnet.profiles.lon.adp_service.AdpAuxiliary` (message code
:data:`~.firmware_messages.FIRMWARE_MESSAGE_CODE`, on the ADP's clock), both using the keys of the node's
security agent (:mod:`.agent`):

* :class:`FirmwareCampaign` (NNAP): announces an image to a group of meters (ImageStart, unicast under
  each session key), broadcasts every block once under the domain key, then per meter asks which
  blocks it lacks (StatusQuery / ImageStatus) and re-sends only those, unicast under the session key,
  until the meter holds the whole image; then ImageVerify (the image MAC under the meter's own image key)
  and ImageActivate (now or at a given time). :meth:`FirmwareCampaign.progress` tells how far it got.
* :class:`FirmwareReceiver` (LNAP): keeps the blocks (bounded by ``max_image_size``), verifies the whole
  image against the MAC, hands it to the meter's Image transfer object (class 18: initiate, blocks,
  verify) and activates it (class 18 image_activate) when told, at the time told.

Every message is sealed with OSGP_AE; a tampered, replayed or wrongly keyed message is rejected and
counted (:class:`FirmwareStats`). Only ImageBlock may travel under the domain key: a meter (which holds
the domain key) can broadcast blocks, but cannot make another meter verify or activate them, since the
image MAC is under a key only that meter and the NNAP hold (decision 0049).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.image_transfer import ImageTransfer
from cosemnet.cosem.results import CosemAccessError
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.profiles.lon.addresses import Address, BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.adp_service import AdpLowerLayer, PeerKey, address_key
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.osgp_aes.agent import ConcentratorSecurity, MeterSecurity
from cosemnet.profiles.lon.osgp_aes.context import (
    BROADCAST_DESTINATION,
    DOMAIN_FLAG,
    TAG_LENGTH,
    CryptoContext,
    KeyState,
    Reject,
    ReplayWindow,
    nonce,
)
from cosemnet.profiles.lon.osgp_aes.firmware_messages import (
    ENVELOPE_HEADER_LENGTH,
    FIRMWARE_MESSAGE_CODE,
    IMAGE_MAC_LENGTH,
    NONCE_FIRMWARE,
    STATUS_PAGE_BITS,
    FirmwareEnvelope,
    FirmwareMessage,
    FirmwareMessageType,
    ImageActivate,
    ImageBlock,
    ImageStart,
    ImageState,
    ImageStatus,
    ImageVerify,
    StatusQuery,
    decode_body,
)
from cosemnet.profiles.lon.proxy import MAX_PROXY_DATA
from cosemnet.profiles.lon.transaction import Service
from cosemnet.security.errors import AuthenticationError
from cosemnet.security.osgp import osgp_kdf, osgp_mac, osgp_mac_verify

log = logging.getLogger(__name__)

IMAGE_LABEL: Final = b"OSGP-AES IMAGE"
MAX_WINDOWS: Final = 64


def image_key(mac_key: bytes, lnap_id: bytes) -> bytes:
    """K_IMG of a meter: ``OSGP_KDF(K_MAC, "OSGP-AES IMAGE" 00 lnap_id)`` (decision 0049)."""
    return osgp_kdf(mac_key, IMAGE_LABEL + b"\x00" + lnap_id)


def image_mac(key: bytes, start: ImageStart, image: bytes) -> bytes:
    """The 16-byte image MAC: OSGP_MAC(K_IMG, ImageStart body || image) (decision 0049)."""
    return osgp_mac(key, start.body() + image, IMAGE_MAC_LENGTH)


@dataclass(slots=True)
class FirmwareStats:
    """Counts of one node's firmware messages (accepted and rejected, per reason)."""

    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)

    def reject(self, reason: str) -> None:
        self.rejected[reason] += 1


class _Endpoint:
    """Sealing and opening of firmware messages with the keys of a security agent."""

    def __init__(self, agent: MeterSecurity | ConcentratorSecurity) -> None:
        self.agent = agent
        self.lower: AdpLowerLayer | None = None
        self.stats = FirmwareStats()
        self.now = 0.0
        self._windows: dict[tuple[bytes, int], ReplayWindow] = {}

    @property
    def message_code(self) -> int:
        return FIRMWARE_MESSAGE_CODE

    def attach(self, lower: AdpLowerLayer) -> None:
        self.lower = lower

    def _send(
        self,
        destination: Address,
        state: KeyState,
        message: FirmwareMessage,
        server: bytes,
        service: Service = Service.ACKD,
    ) -> Hashable | None:
        """Seal ``message`` under ``state`` (``server``: the meter's subnet/node, or broadcast). The
        associated data binds only the meter's end-to-end address, as the ADP's does (decision 0096):
        behind repeaters each end sees the Annex E agent as the other's address."""
        if self.lower is None or state.counter is None:
            return None
        config = self.agent.config
        counter = state.counter.next()
        envelope = FirmwareEnvelope(int(message.TYPE), state.key_id, counter, b"")
        ad = envelope.header + server
        sealed = state.aead.encrypt(
            nonce(NONCE_FIRMWARE, config.node_id, state.key_id, counter), message.body(), ad
        )
        self.stats.sent[type(message).__name__] += 1
        data = FirmwareEnvelope(envelope.kind, envelope.key_id, counter, sealed).encode()
        return self.lower.send(destination, ApplicationMessage(FIRMWARE_MESSAGE_CODE, data), service)

    def _open(self, source: Address, data: bytes) -> tuple[CryptoContext, FirmwareMessage, bool] | None:
        """The context of the sender, the message and whether it came under the domain key; None if
        rejected (counted)."""
        try:
            envelope = FirmwareEnvelope.parse(data, TAG_LENGTH)
        except DecodeError:
            self.stats.reject(Reject.MALFORMED.value)
            return None
        ctx = self.agent.contexts.get(address_key(source))
        if ctx is None:
            self.stats.reject(Reject.NO_CHANNEL.value)
            return None
        domain = bool(envelope.key_id & DOMAIN_FLAG)
        if domain and envelope.kind != FirmwareMessageType.IMAGE_BLOCK:
            self.stats.reject(Reject.MALFORMED.value)  # only blocks may come under a shared key
            return None
        state = (
            self.agent.domain.keys.get(envelope.key_id & 0x7F)
            if domain
            else ctx.sessions.get(envelope.key_id)
        )
        if state is None or not state.valid(self.now):
            self.stats.reject(Reject.UNKNOWN_KEY.value if state is None else Reject.EXPIRED_KEY.value)
            return None
        ad = envelope.header + (BROADCAST_DESTINATION if domain else ctx.server_bytes)
        try:
            body = state.aead.decrypt(
                nonce(NONCE_FIRMWARE, ctx.peer_id, envelope.key_id, envelope.counter), envelope.sealed, ad
            )
        except AuthenticationError:
            self.stats.reject(Reject.AUTHENTICATION.value)
            return None
        if not self._fresh(ctx.peer_id, envelope.key_id, envelope.counter):
            return None
        try:
            message = decode_body(envelope.kind, body)
        except DecodeError:
            self.stats.reject(Reject.MALFORMED.value)
            return None
        self.stats.accepted += 1
        return ctx, message, domain

    def _fresh(self, peer_id: bytes, key_id: int, counter: int) -> bool:
        window = self._windows.get((peer_id, key_id))
        if window is None:
            window = self._windows[(peer_id, key_id)] = ReplayWindow()
            if len(self._windows) > MAX_WINDOWS:
                del self._windows[next(iter(self._windows))]
        verdict = window.classify(counter)
        if verdict is not None:
            self.stats.reject(verdict.value)
            return False
        window.commit(counter)
        return True


# ==================================================================================================
# Meter (LNAP)


REPEATED_BLOCK_SIZE: Final = MAX_PROXY_DATA - ENVELOPE_HEADER_LENGTH - TAG_LENGTH - 4
"""Largest block whose ImageBlock fits an Annex E proxy target message (102 bytes, decision 0070): 84
bytes; larger blocks reach meters behind repeaters only by broadcast, and cannot be repaired there."""


@dataclass(slots=True)
class _Download:
    start: ImageStart
    source: PeerKey
    blocks: dict[int, bytes] = field(default_factory=dict, repr=False)
    state: ImageState = ImageState.RECEIVING
    activate_at: float | None = None


@dataclass(slots=True)
class ReceiverRecord:
    """What a meter received of the current campaign, and how (for tests and diagnostics)."""

    broadcast_blocks: set[int] = field(default_factory=set)
    unicast_blocks: list[int] = field(default_factory=list)
    duplicate_unicast: int = 0
    """Blocks re-sent by unicast that this meter already had (a campaign should send none)."""
    verify_failures: int = 0


class FirmwareReceiver(_Endpoint):
    """The meter end (see the module docstring).

    ``image_transfer``: the meter's Image transfer object, fed with the verified image; ``context``:
    the AccessContext its image_activate runs with (the meter's time and side effects).
    """

    def __init__(
        self,
        agent: MeterSecurity,
        image_transfer: ImageTransfer | None = None,
        context: Callable[[], AccessContext] | None = None,
        *,
        max_image_size: int = 1 << 20,
    ) -> None:
        super().__init__(agent)
        if image_transfer is not None and context is None:
            raise ValueError("an Image transfer object needs the context to activate it in")
        self.meter_agent = agent
        self.image_transfer = image_transfer
        self.context = context
        self.max_image_size = max_image_size
        self.download: _Download | None = None
        self.record = ReceiverRecord()
        self.active_identifier: bytes | None = None
        self.activated_at: float | None = None
        self.image: bytes | None = None
        """The last verified image (when no Image transfer object takes it)."""

    def __repr__(self) -> str:
        return f"FirmwareReceiver({self.agent.config.node_id.hex()})"

    def deadline(self) -> float | None:
        d = self.download
        return None if d is None or d.activate_at is None else d.activate_at

    def pending(self) -> int:
        return 0

    def tick(self, now: float) -> None:
        self.now = now
        d = self.download
        if d is not None and d.activate_at is not None and now >= d.activate_at:
            d.activate_at = None
            self._activate(d)

    def message_received(self, source: Address, apdu: ApplicationMessage, now: float) -> None:
        self.tick(now)
        opened = self._open(source, apdu.data)
        if opened is None:
            return
        ctx, message, domain = opened
        if isinstance(message, ImageBlock):
            self._on_block(address_key(source), message, domain)
            return
        if isinstance(message, ImageStart):
            self._on_start(address_key(source), message)
        elif isinstance(message, ImageVerify):
            self._on_verify(ctx, message)
        elif isinstance(message, ImageActivate):
            self._on_activate(message)
        elif not isinstance(message, StatusQuery):
            self.stats.reject("unexpected")
            return
        query = message if isinstance(message, StatusQuery) else StatusQuery(message.campaign)
        self._answer(source, ctx, query)

    def _current(self, campaign: int) -> _Download | None:
        d = self.download
        return d if d is not None and d.start.campaign == campaign else None

    def _on_start(self, source: PeerKey, start: ImageStart) -> None:
        if self.download is not None and self.download.start == start:
            return  # a repeated announcement: keep the blocks (resume)
        self.download = _Download(start, source)
        self.record = ReceiverRecord()
        enabled = self.image_transfer is None or self.image_transfer.image_transfer_enabled
        if start.image_size > self.max_image_size or not enabled:
            self.download.state = ImageState.REFUSED

    def _on_block(self, source: PeerKey, block: ImageBlock, domain: bool) -> None:
        d = self._current(block.campaign)
        if d is None or d.source != source or d.state not in (ImageState.RECEIVING, ImageState.VERIFY_FAILED):
            self.stats.reject("unexpected")
            return
        start = d.start
        expected = min(start.block_size, start.image_size - block.block * start.block_size)
        if block.block >= start.block_count or len(block.data) != expected:
            self.stats.reject(Reject.MALFORMED.value)
            return
        if domain:
            self.record.broadcast_blocks.add(block.block)
        else:
            self.record.unicast_blocks.append(block.block)
            if block.block in d.blocks:
                self.record.duplicate_unicast += 1
        d.blocks[block.block] = block.data
        d.state = ImageState.RECEIVING

    def _on_verify(self, ctx: CryptoContext, verify: ImageVerify) -> None:
        d = self._current(verify.campaign)
        if d is None or d.state is not ImageState.RECEIVING or len(d.blocks) < d.start.block_count:
            return  # answered with the state as it is (missing blocks show in the bitmap)
        image = b"".join(d.blocks[n] for n in range(d.start.block_count))
        key = image_key(ctx.mac_key, self.agent.config.node_id)
        try:
            osgp_mac_verify(key, d.start.body() + image, verify.image_mac)
        except AuthenticationError:
            # some block was not the NNAP's (forged by a holder of the domain key, or damaged): all again
            log.warning("firmware image of campaign %d failed verification", verify.campaign)
            self.record.verify_failures += 1
            d.blocks.clear()
            d.state = ImageState.VERIFY_FAILED
            return
        d.blocks.clear()
        d.state = self._hand_over(d.start, image)

    def _hand_over(self, start: ImageStart, image: bytes) -> ImageState:
        """Give the verified image to the Image transfer object (class 18 initiate, blocks, verify)."""
        self.image = image
        it = self.image_transfer
        if it is None:
            return ImageState.VERIFIED
        try:
            it.initiate(start.identifier, len(image))
            size = it.image_block_size
            for number in range(it.block_count):
                it.transfer_block(number, image[number * size : (number + 1) * size])
            it.verify()
        except CosemAccessError as exc:
            log.warning("image transfer refused the verified image: %s", exc)
            return ImageState.REFUSED
        return ImageState.VERIFIED

    def _on_activate(self, activate: ImageActivate) -> None:
        d = self._current(activate.campaign)
        if d is None or d.state is not ImageState.VERIFIED:
            return
        d.state = ImageState.ACTIVATION_SCHEDULED
        d.activate_at = self.now + activate.delay
        if activate.delay == 0:
            d.activate_at = None
            self._activate(d)

    def _activate(self, d: _Download) -> None:
        it = self.image_transfer
        try:
            if it is not None and self.context is not None:
                it.activate(self.context())
        except CosemAccessError as exc:
            log.warning("image activation failed: %s", exc)
            d.state = ImageState.REFUSED
            return
        d.state = ImageState.ACTIVATED
        self.active_identifier, self.activated_at = d.start.identifier, self.now
        log.info("firmware image activated (campaign %d)", d.start.campaign)

    def _answer(self, source: Address, ctx: CryptoContext, query: StatusQuery) -> None:
        campaign, first = query.campaign, query.first
        d = self._current(campaign)
        state = ctx.send_session()
        if state is None:
            return
        if d is None:
            status = ImageStatus(campaign, ImageState.UNKNOWN, 0, ref=query.ref)
        else:
            count = d.start.block_count
            first = min(first, count)
            bits = min(STATUS_PAGE_BITS, count - first)
            bitmap = bytearray((bits + 7) // 8)
            if d.state in (ImageState.RECEIVING, ImageState.VERIFY_FAILED):
                for i in range(bits):
                    if first + i in d.blocks:
                        bitmap[i >> 3] |= 0x80 >> (i & 7)
            else:
                bitmap = bytearray(b"\xff" * len(bitmap))
                if bits % 8:
                    bitmap[-1] &= 0xFF << (8 - bits % 8) & 0xFF
            status = ImageStatus(campaign, d.state, count, first, bits, bytes(bitmap), query.ref)
        self._send(source, state, status, ctx.server_bytes)


# ==================================================================================================
# Concentrator (NNAP)


class MeterPhase(Enum):
    STARTING = "starting"
    READY = "ready"
    """Announced; waiting for the broadcast to end."""
    QUERYING = "querying"
    VERIFYING = "verifying"
    ACTIVATING = "activating"
    CONFIRMING = "confirming"
    """Activation scheduled; its outcome is asked for after the activation time."""
    DONE = "done"
    FAILED = "failed"


class CampaignPhase(Enum):
    ANNOUNCE = "announce"
    BROADCAST = "broadcast"
    REPAIR = "repair"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    """Settings of a firmware campaign (defaults: decision 0049)."""

    block_size: int = 192
    """At most :data:`REPEATED_BLOCK_SIZE` when a meter sits behind Annex E repeaters (decision 0049)."""
    broadcast: bool = True
    """False: no broadcast, every block goes to every meter by unicast (what a campaign saves against)."""
    broadcast_service: Service = Service.UNACKD_RPT
    broadcast_window: int = 2
    """Block broadcasts handed to the 14908-1 stack at a time (the rest wait: other traffic interleaves)."""
    broadcast_timeout: float = 120.0
    """A broadcast whose completion is not reported by then counts as sent."""
    response_timeout: float = 30.0
    per_block_timeout: float = 4.0
    """Added to the response timeout for each block re-sent ahead of a StatusQuery."""
    retries: int = 3
    repair_batch: int = 32
    """Blocks re-sent to one meter per round (the rest in the next round)."""
    max_repair_rounds: int = 32
    max_verify_attempts: int = 2
    activate: bool = True
    activate_at: float | None = None
    """When the meters switch (the campaign's clock); None: each as soon as it verified the image."""


@dataclass(slots=True)
class CampaignMeter:
    """The campaign's view of one meter."""

    address: SubnetNodeAddress
    phase: MeterPhase = MeterPhase.STARTING
    deadline: float | None = None
    retries: int = 0
    last: FirmwareMessage | None = None
    """The request awaiting an ImageStatus (sent again on timeout)."""
    received: set[int] = field(default_factory=set)
    repaired: list[int] = field(default_factory=list)
    """Every block re-sent to this meter by unicast, in order."""
    rounds: int = 0
    ref: int = 0
    verify_attempts: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    phase: CampaignPhase
    blocks: int
    blocks_broadcast: int
    meters: int
    by_phase: dict[str, int]
    repair_blocks: int

    @property
    def done(self) -> int:
        return self.by_phase.get(MeterPhase.DONE.value, 0)

    @property
    def failed(self) -> int:
        return self.by_phase.get(MeterPhase.FAILED.value, 0)

    @property
    def finished(self) -> bool:
        return self.phase is CampaignPhase.FINISHED


class FirmwareCampaign(_Endpoint):
    """The NNAP end of one firmware download to a group of meters (see the module docstring)."""

    def __init__(
        self,
        agent: ConcentratorSecurity,
        campaign: int,
        identifier: bytes,
        image: bytes,
        meters: Iterable[SubnetNodeAddress],
        config: CampaignConfig | None = None,
    ) -> None:
        super().__init__(agent)
        self.nnap = agent
        self.config = config if config is not None else CampaignConfig()
        self.image = image
        self.start = ImageStart(campaign, len(image), self.config.block_size, identifier)
        self.start.body()  # EncodeError now for an image or identifier the messages cannot carry
        self.meters: dict[PeerKey, CampaignMeter] = {address_key(a): CampaignMeter(a) for a in meters}
        self.phase = CampaignPhase.ANNOUNCE
        self.next_block = 0
        self.broadcast_sent = 0
        self._outstanding: dict[Hashable, float] = {}
        self._started = False

    def __repr__(self) -> str:
        return f"FirmwareCampaign({self.start.campaign}, {len(self.meters)} meters, {self.phase.value})"

    @property
    def block_count(self) -> int:
        return self.start.block_count

    def block(self, number: int) -> bytes:
        size = self.config.block_size
        return self.image[number * size : (number + 1) * size]

    def progress(self) -> CampaignProgress:
        by_phase = Counter(m.phase.value for m in self.meters.values())
        return CampaignProgress(
            self.phase,
            self.block_count,
            self.broadcast_sent,
            len(self.meters),
            dict(by_phase),
            sum(len(m.repaired) for m in self.meters.values()),
        )

    # --- AdpAuxiliary ---------------------------------------------------------------------------

    def deadline(self) -> float | None:
        if not self._started and self.lower is not None:
            return self.now
        times = [m.deadline for m in self.meters.values() if m.deadline is not None]
        times += list(self._outstanding.values())
        return min(times) if times else None

    def pending(self) -> int:
        return 0 if self.phase is CampaignPhase.FINISHED else 1

    def send_completed(self, handle: Hashable, success: bool, now: float) -> None:
        """The 14908-1 stack finished a send (the ADP passes on completions that are not its own)."""
        if self._outstanding.pop(handle, None) is not None:
            self.now = now
            self._broadcast_more()

    def tick(self, now: float) -> None:
        self.now = now
        if not self._started and self.lower is not None:
            self._started = True
            for meter in self.meters.values():
                self._request(meter, self.start)
        for handle in [h for h, due in self._outstanding.items() if due <= now]:
            del self._outstanding[handle]
        for meter in self.meters.values():
            if meter.deadline is not None and meter.deadline <= now:
                self._timeout(meter)
        self._advance()

    def message_received(self, source: Address, apdu: ApplicationMessage, now: float) -> None:
        self.tick(now)
        meter = self.meters.get(address_key(source))
        opened = self._open(source, apdu.data) if meter is not None else None
        if meter is None or opened is None:
            if meter is None:
                self.stats.reject("unknown_meter")
            return
        _ctx, message, _domain = opened
        if not isinstance(message, ImageStatus) or message.campaign != self.start.campaign:
            self.stats.reject("unexpected")
            return
        self._on_status(meter, message)
        self._advance()

    # --- phases ---------------------------------------------------------------------------------

    def _advance(self) -> None:
        meters = self.meters.values()
        if self.phase is CampaignPhase.ANNOUNCE and all(m.phase is not MeterPhase.STARTING for m in meters):
            self.phase = CampaignPhase.BROADCAST
            self._broadcast_more()
        if (
            self.phase is CampaignPhase.BROADCAST
            and self.next_block >= self.block_count
            and not self._outstanding
        ):
            self.phase = CampaignPhase.REPAIR
            for meter in meters:
                if meter.phase is MeterPhase.READY:
                    self._query(meter)
        if self.phase is CampaignPhase.REPAIR and all(
            m.phase in (MeterPhase.DONE, MeterPhase.FAILED) for m in meters
        ):
            self.phase = CampaignPhase.FINISHED
            log.info("firmware campaign %d finished: %s", self.start.campaign, self.progress().by_phase)

    def _broadcast_more(self) -> None:
        if self.phase is not CampaignPhase.BROADCAST:
            return
        state = self.nnap.domain.send_key()
        while self.next_block < self.block_count and len(self._outstanding) < self.config.broadcast_window:
            if state is None or not self.config.broadcast:
                self.next_block = self.block_count  # no domain key: every block goes by unicast repair
                break
            number = self.next_block
            self.next_block += 1
            block = ImageBlock(self.start.campaign, number, self.block(number))
            handle = self._send(
                BroadcastAddress(0), state, block, BROADCAST_DESTINATION, self.config.broadcast_service
            )
            self.broadcast_sent += 1
            if handle is not None:
                self._outstanding[handle] = self.now + self.config.broadcast_timeout
        self._advance()

    def _session(self, meter: CampaignMeter) -> tuple[CryptoContext, KeyState] | None:
        ctx = self.nnap.contexts.get(address_key(meter.address))
        state = None if ctx is None else ctx.send_session()
        return None if ctx is None or state is None else (ctx, state)

    def _request(self, meter: CampaignMeter, message: FirmwareMessage, blocks: int = 0) -> None:
        """Send ``message`` (after ``blocks`` re-sent blocks) and wait for the meter's ImageStatus."""
        session = self._session(meter)
        if session is None:
            self._fail(meter, "no secure channel")
            return
        ctx, state = session
        try:
            self._send(meter.address, state, message, ctx.server_bytes)
        except EncodeError as exc:
            self._fail(meter, str(exc))
            return
        meter.last = message
        meter.deadline = self.now + self.config.response_timeout + blocks * self.config.per_block_timeout

    def _fail(self, meter: CampaignMeter, reason: str) -> None:
        meter.phase, meter.deadline, meter.reason = MeterPhase.FAILED, None, reason
        log.info("firmware campaign %d: meter %s failed: %s", self.start.campaign, meter.address, reason)

    def _timeout(self, meter: CampaignMeter) -> None:
        meter.deadline = None
        if meter.phase is MeterPhase.CONFIRMING and meter.last is None:
            self._request(meter, StatusQuery(self.start.campaign, 0, self._next_ref(meter)))
            return
        meter.retries += 1
        if meter.retries > self.config.retries or meter.last is None:
            self._fail(meter, "no answer")
            return
        self._request(meter, meter.last)

    def _query(self, meter: CampaignMeter, first: int = 0) -> None:
        meter.phase = MeterPhase.QUERYING
        if first == 0:
            meter.received = set()
        self._request(meter, StatusQuery(self.start.campaign, first, self._next_ref(meter)))

    @staticmethod
    def _next_ref(meter: CampaignMeter) -> int:
        meter.ref = meter.ref % 255 + 1
        return meter.ref

    def _on_status(self, meter: CampaignMeter, status: ImageStatus) -> None:
        last = meter.last
        if last is None or status.ref != (last.ref if isinstance(last, StatusQuery) else 0):
            self.stats.reject("stale")  # a late answer to an earlier request (or to none)
            return
        meter.retries, meter.deadline, meter.last = 0, None, None
        if status.state is ImageState.REFUSED or status.state is ImageState.UNKNOWN:
            self._fail(meter, f"meter reports {status.state.name}")
        elif meter.phase is MeterPhase.STARTING:
            meter.phase = MeterPhase.READY
            if self.phase is CampaignPhase.REPAIR:
                self._query(meter)
        elif status.state is ImageState.ACTIVATED:
            meter.phase = MeterPhase.DONE
        elif status.state is ImageState.ACTIVATION_SCHEDULED:
            meter.phase = MeterPhase.CONFIRMING
            due = self.config.activate_at if self.config.activate_at is not None else self.now
            meter.deadline = max(due, self.now) + self.config.response_timeout
        elif status.state is ImageState.VERIFIED:
            self._on_verified(meter)
        elif status.state is ImageState.VERIFY_FAILED and meter.phase is MeterPhase.VERIFYING:
            meter.verify_attempts += 1
            if meter.verify_attempts >= self.config.max_verify_attempts:
                self._fail(meter, "image verification failed")
            else:
                self._query(meter)
        elif (
            meter.phase is MeterPhase.QUERYING
            and isinstance(last, StatusQuery)
            and status.first == last.first
        ):
            self._on_page(meter, status)
        else:
            self._query(meter)  # RECEIVING where something else was expected: ask what is missing

    def _on_page(self, meter: CampaignMeter, status: ImageStatus) -> None:
        meter.received |= status.received()
        after = status.first + status.bits
        if status.bits and after < self.block_count:
            self._query(meter, after)
            return
        missing = [n for n in range(self.block_count) if n not in meter.received]
        if not missing:
            meter.phase = MeterPhase.VERIFYING
            key = image_key(
                self._session_mac_key(meter), self.nnap.channels[address_key(meter.address)].node_id
            )
            self._request(meter, ImageVerify(self.start.campaign, image_mac(key, self.start, self.image)))
            return
        meter.rounds += 1
        if meter.rounds > self.config.max_repair_rounds:
            self._fail(meter, "too many repair rounds")
            return
        self._repair(meter, missing[: self.config.repair_batch])

    def _session_mac_key(self, meter: CampaignMeter) -> bytes:
        return self.nnap.contexts[address_key(meter.address)].mac_key

    def _repair(self, meter: CampaignMeter, blocks: list[int]) -> None:
        """Re-send ``blocks`` to ``meter`` alone, under its session key, then ask again."""
        session = self._session(meter)
        if session is None:
            self._fail(meter, "no secure channel")
            return
        ctx, state = session
        for number in blocks:
            try:
                self._send(
                    meter.address,
                    state,
                    ImageBlock(self.start.campaign, number, self.block(number)),
                    ctx.server_bytes,
                )
            except EncodeError as exc:  # e.g. a block too large for an Annex E proxy message
                self._fail(meter, str(exc))
                return
            meter.repaired.append(number)
        meter.received = set()
        self._request(meter, StatusQuery(self.start.campaign, 0, self._next_ref(meter)), len(blocks))

    def _on_verified(self, meter: CampaignMeter) -> None:
        if not self.config.activate:
            meter.phase = MeterPhase.DONE
            return
        meter.phase = MeterPhase.ACTIVATING
        at = self.config.activate_at
        delay = 0 if at is None else max(0, round(at - self.now))
        self._request(meter, ImageActivate(self.start.campaign, delay))


__all__ = [
    "REPEATED_BLOCK_SIZE",
    "CampaignConfig",
    "CampaignMeter",
    "CampaignPhase",
    "CampaignProgress",
    "FirmwareCampaign",
    "FirmwareReceiver",
    "FirmwareStats",
    "MeterPhase",
    "ReceiverRecord",
    "image_key",
    "image_mac",
]
