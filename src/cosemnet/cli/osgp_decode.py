"""``cosemnet decode --osgp-key``: open the OSGP-AES-128-PSK envelope of a protected ADP PDU.

The nonce holds the sender's 6-byte unique node ID, which a subnet/node-addressed frame does not carry:
``--osgp-sender`` gives it (decision 0044). The associated data is rebuilt from the ADP header and the
meter's 14908-1 address in the frame (decision 0096), so a frame re-addressed to another meter fails like
a tampered one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cosemnet.cli.messages import LonMessage
from cosemnet.codec.jsonform import decode_nested_apdu
from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.addresses import BroadcastAddress, SubnetNodeAddress
from cosemnet.profiles.lon.adp import OSGP_AES_128_PSK_SUITE_ID, AdpData, AdpDirection
from cosemnet.profiles.lon.osgp_aes.context import BROADCAST_DESTINATION, Envelope
from cosemnet.security.errors import SecurityError


@dataclass(slots=True)
class OpenedEnvelope:
    """What the envelope says, whether it verified, and the plaintext APDU (decoded when it is DLMS)."""

    envelope: Envelope
    verified: bool
    reason: str = ""
    plaintext: bytes = field(default=b"", repr=False)
    apdu: object | None = None

    def to_json(self) -> dict[str, Any]:
        env = self.envelope
        return {
            "suite": "OSGP-AES-128-PSK",
            "key": "domain" if env.domain else "session",
            "key_id": env.key_id & 0x7F,
            "frame_counter": env.counter,
            "ciphertext_bytes": len(env.ciphertext),
            "tag": env.tag.hex(),
            "verified": self.verified,
            **({"reason": self.reason} if self.reason else {"plaintext": self.plaintext.hex()}),
        }

    def text(self) -> str:
        env = self.envelope
        kind = "domain key" if env.domain else "session key"
        head = (
            f"OSGP-AES-128-PSK envelope: {kind} {env.key_id & 0x7F}, frame counter {env.counter}, "
            f"{len(env.ciphertext)} bytes of ciphertext, tag {env.tag.hex().upper()}"
        )
        if not self.verified:
            return f"{head} — [bold red]not verified[/] ({self.reason})"
        return f"{head} — [green]verified[/], plaintext {self.plaintext.hex().upper()}"


def open_lon_message(message: LonMessage, key: bytes, sender: bytes) -> OpenedEnvelope | None:
    """Open the envelope of ``message`` (None: not an unsegmented suite-1 ADP DATA PDU in a frame)."""
    adp, frame = message.adp, message.frame
    if not isinstance(adp, AdpData) or adp.security_suite_id != OSGP_AES_128_PSK_SUITE_ID or frame is None:
        return None
    npdu = frame.npdu
    envelope = Envelope.parse(adp.payload)
    destination = npdu.destination
    if isinstance(destination, BroadcastAddress) or envelope.domain:
        server = BROADCAST_DESTINATION
    elif adp.direction == AdpDirection.SERVER_TO_CLIENT:  # the meter's own frame (decision 0096)
        server = bytes((npdu.source_subnet, npdu.source_node))
    elif isinstance(destination, SubnetNodeAddress):
        server = bytes((destination.destination_subnet, destination.destination_node))
    else:
        return OpenedEnvelope(envelope, False, "only subnet/node and broadcast addressing are supported")
    try:
        plain = envelope.open(key, sender, adp.encode_header(), server)
    except (SecurityError, DecodeError, ValueError) as exc:
        return OpenedEnvelope(envelope, False, str(exc))
    return OpenedEnvelope(envelope, True, "", plain, decode_nested_apdu(plain))


__all__ = ["OpenedEnvelope", "open_lon_message"]
