"""An attacker on the simulated power line (``cosemnet sim lon --inject tamper=P,replay=P``).

A :class:`Injector` is a station on the channel that hears every frame. For every protected ADP frame
(OSGP-AES-128-PSK, suite 1) it sees, with probability ``tamper`` it sends a copy with one bit of the
ciphertext or tag flipped, and with probability ``replay`` it sends again a protected frame it captured
earlier. Injected frames keep the genuine source and destination addresses and travel as
unacknowledged 14908-1 messages, so no transaction record of the receiver swallows them. [design] The
attacker is ideal: its frames reach every node without contention or collision (it is handed to each
station as if heard), so every injected frame reaches the addressed node's security suite, which must
reject it (tampered: ``authentication``; replayed: ``replay`` or ``sequence``).
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from typing import Final

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.adp import ADP_MESSAGE_CODE, OSGP_AES_128_PSK_SUITE_ID, AdpData, decode_adp_pdu
from cosemnet.profiles.lon.channel import PowerLineChannel
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.osgp_aes.context import SECURITY_HEADER_LENGTH
from cosemnet.profiles.lon.stack import LonStack, NetworkHook
from cosemnet.profiles.lon.transport import Spdu, Tpdu

MAX_CAPTURED: Final = 64
INJECT_KINDS: Final = ("tamper", "replay")


def parse_inject(text: str) -> dict[str, float]:
    """``"tamper=0.1,replay=0.05"`` -> probabilities per kind; ValueError on anything else."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, sep, value = part.partition("=")
        if not sep or kind not in INJECT_KINDS:
            raise ValueError(f"expected tamper=P and/or replay=P, got {part!r}")
        probability = float(value)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"{kind}: a probability is 0..1")
        out[kind] = probability
    return out


REPEATER_LOSS: Final = "repeater-loss"


def parse_feeder_inject(text: str) -> tuple[dict[str, float], int]:
    """``"repeater-loss=K,tamper=P,replay=P"`` -> (probabilities, K); ValueError on anything else."""
    rest: list[str] = []
    loss = 0
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, value = part.partition("=")
        if kind != REPEATER_LOSS:
            rest.append(part)
            continue
        if not value.isdigit():
            raise ValueError(f"{REPEATER_LOSS}=K needs a whole number of repeaters, got {value!r}")
        loss = int(value)
    return parse_inject(",".join(rest)), loss


def _protected_message(frame: LonFrame) -> ApplicationMessage | None:
    pdu = frame.npdu.pdu
    apdu = pdu.apdu if isinstance(pdu, Tpdu | Spdu) else pdu
    if not isinstance(apdu, ApplicationMessage) or apdu.code != ADP_MESSAGE_CODE:
        return None
    try:
        adp = decode_adp_pdu(apdu.data)
    except DecodeError:
        return None
    if adp.security_suite_id != OSGP_AES_128_PSK_SUITE_ID or not isinstance(adp, AdpData):
        return None
    return apdu


def forge(frame: LonFrame, data: bytes) -> LonFrame:
    """``frame`` with its addresses, carrying ``data`` as an unacknowledged ADP application message."""
    message = ApplicationMessage(ADP_MESSAGE_CODE, data)
    return dataclasses.replace(frame, npdu=dataclasses.replace(frame.npdu, pdu=message))


def protected_message(frame: LonFrame) -> ApplicationMessage | None:
    """The application message of a frame carrying an OSGP-protected ADP DATA PDU, else None."""
    return _protected_message(frame)


class Injector(NetworkHook):
    """The attacker station's hook (see the module docstring)."""

    def __init__(
        self,
        channel: PowerLineChannel,
        victims: list[LonStack],
        probabilities: dict[str, float],
        seed: int = 0,
    ) -> None:
        self.channel = channel
        self.victims = victims
        self.probabilities = probabilities
        self.rng = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.captured: list[LonFrame] = []

    def _send(self, stack: LonStack, frame: LonFrame, data: bytes, kind: str) -> None:
        forged = forge(frame, data)
        self.injected[kind] += 1
        for receiver in self.victims:
            receiver.receive_lon_frame(forged, self.channel.now)

    def inbound(self, stack: LonStack, frame: LonFrame, now: float) -> bool:
        """Tamper with or replay a protected frame heard on the channel (by probability); the attacker
        consumes what it hears."""
        message = _protected_message(frame)
        if message is None:
            return True  # the attacker consumes everything it hears
        if self.rng.random() < self.probabilities.get("tamper", 0.0):
            data = bytearray(message.data)
            header = len(data) - len(decode_adp_pdu(bytes(data)).payload) + SECURITY_HEADER_LENGTH
            index = self.rng.randrange(header, len(data))
            data[index] ^= 1 << self.rng.randrange(8)
            self._send(stack, frame, bytes(data), "tamper")
        if self.captured and self.rng.random() < self.probabilities.get("replay", 0.0):
            old = self.rng.choice(self.captured)
            old_message = _protected_message(old)
            assert old_message is not None
            self._send(stack, old, old_message.data, "replay")
        self.captured = [*self.captured[-(MAX_CAPTURED - 1) :], frame]
        return True


def attach_injector(
    channel: PowerLineChannel, victims: list[LonStack], probabilities: dict[str, float], seed: int = 0
) -> Injector:
    """An attacker station on ``channel``: it hears every node and reaches ``victims``."""
    injector = Injector(channel, victims, probabilities, seed)
    node = LonNode(b"\x4c\x4f\x4e\xee\x00\x01")
    channel.attach(LonStack(node, hook=injector))
    return injector


__all__ = [
    "INJECT_KINDS",
    "REPEATER_LOSS",
    "Injector",
    "attach_injector",
    "forge",
    "parse_feeder_inject",
    "parse_inject",
    "protected_message",
]
