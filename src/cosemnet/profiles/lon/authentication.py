"""ISO/IEC 14908-1 authentication (clause 7.4.3): the challenge/reply function keyed by the domain key.

**Insecure by today's standards.** The reply function is a 64-bit keyed byte-mixing function, not a MAC:
it is linear enough that a few observed challenge/reply pairs reveal the key (the same construction as
the OSGP "OMA digest" broken in IACR eprint 2015/428, see :mod:`.oma_digest`). It authenticates
14908-1 transactions only because the protocol asks for it; the DLMS security suites protect the data.

Facts (izot/lon-stack-dx ``lcs/lcs_tsa.c`` ``Encrypt``, ``InitiateChallenge``, ``SendReplyToChallenge``,
``ProcessReply``, ``ChallengeOmaDestAddr``/``ReplyOmaDestAddr``, ``include/lcs/lcs_eia709_1.h``
``OmaAddress``; MIT licensed, facts only, no code taken):

* the receiver of a message whose TPDU/SPDU auth bit (0x80) is set sends a *challenge*: an AuthPDU with
  8 random bytes; the sender answers with a *reply*: an AuthPDU carrying 8 bytes computed from the
  challenge, the APDU of the message and the authentication key; the receiver computes the same value
  and delivers the message only when they are equal;
* the 8-byte state starts as the challenge; the APDU (from its code byte) is consumed **from its last
  byte backwards**, zero bytes once it is exhausted; the key is walked in passes of ``iterations`` key
  bytes, each key byte driving 8 steps ``j = 7 .. 0``; a whole pass is always completed, and passes
  repeat while APDU bytes remain;
* step ``j`` with data byte ``m``: ``n = ~(state[j] + j)``; when bit ``7 - j`` of the key byte is set
  ``state[j] = state[(j + 1) % 8] + m + rotl1(n)``, else ``state[j] = state[(j + 1) % 8] + m - rotr1(n)``
  (all mod 256);
* standard authentication (AuthPDU types 0 CHALLENGE / 2 REPLY, the destination address *omitted*):
  the 6-byte key of the domain, 6 key bytes per pass (48 data bytes);
* OMA, "open media authentication" (types 1 / 3, the destination address *included*): the 12-byte key
  (domain 0 key followed by domain 1 key), 18 key bytes per pass (bytes 0-11 then 0-5: 144 data bytes),
  over a 9-byte *OMA address* followed by the APDU. The OMA address starts all 0xFF; for a unique-ID
  message it is the 6-byte unique ID, otherwise the 6-byte domain ID (padded), the domain ID length and
  then ``subnet, node`` (node with its top bit clear) for subnet/node, ``group`` for a group message,
  nothing more for a broadcast.

[design, see docs/decisions/0050] the padding of a short domain ID inside the OMA address is zero bytes
(lon-stack-dx uses whatever its domain table holds past the ID and warns that network management must
pad consistently).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from typing import Final

from cosemnet.errors import EncodeError
from cosemnet.profiles.lon._codec import check_bytes, check_int
from cosemnet.profiles.lon.addresses import AddressFormat

CHALLENGE_LENGTH: Final = 8
REPLY_LENGTH: Final = 8
KEY_LENGTH: Final = 6
"""Standard authentication key: 48 bits, one per domain."""
OMA_KEY_LENGTH: Final = 12
"""OMA key: the keys of domain entries 0 and 1, in that order."""
OMA_ADDRESS_LENGTH: Final = 9
STANDARD_ITERATIONS: Final = KEY_LENGTH
OMA_ITERATIONS: Final = OMA_KEY_LENGTH + OMA_KEY_LENGTH // 2

_ROTL1: Final = bytes(((n << 1) | (n >> 7)) & 0xFF for n in range(256))
_ROTR1: Final = bytes(((n >> 1) | (n << 7)) & 0xFF for n in range(256))


def keyed_mix(state: bytes, key: bytes, iterations: int, data: Iterable[int], length: int) -> bytes:
    """The 14908-1 / OMA keyed mixing function.

    ``state`` (8 bytes) is the starting value, ``data`` yields the ``length`` bytes in the order they are
    consumed; full passes of ``iterations`` key bytes x 8 steps run until every data byte is consumed
    (zero bytes fill the last pass). Returns the 8-byte result.
    """
    s = bytearray(check_bytes("state", state, 8))
    passes = -(-length // (8 * iterations))
    source = iter(data)
    for _ in range(passes):
        for i in range(iterations):
            key_byte = key[i % len(key)]
            for j in range(7, -1, -1):
                m = next(source, 0)
                n = ~(s[j] + j) & 0xFF
                nxt = s[(j + 1) & 7]
                if key_byte >> (7 - j) & 1:
                    s[j] = (nxt + m + _ROTL1[n]) & 0xFF
                else:
                    s[j] = (nxt + m - _ROTR1[n]) & 0xFF
    return bytes(s)


def new_challenge() -> bytes:
    """8 random bytes from the operating system (``secrets``)."""
    return secrets.token_bytes(CHALLENGE_LENGTH)


def standard_reply(key: bytes, challenge: bytes, apdu: bytes) -> bytes:
    """Reply to ``challenge`` for a message carrying ``apdu`` (encoded, from its code byte), 6-byte key."""
    k = check_bytes("authentication key", key, KEY_LENGTH)
    c = check_bytes("challenge", challenge, CHALLENGE_LENGTH)
    return keyed_mix(c, k, STANDARD_ITERATIONS, reversed(apdu), len(apdu))


def oma_reply(key: bytes, challenge: bytes, apdu: bytes, oma_address: bytes) -> bytes:
    """OMA reply: 12-byte key, over the 9-byte OMA address followed by ``apdu``."""
    k = check_bytes("OMA authentication key", key, OMA_KEY_LENGTH)
    c = check_bytes("challenge", challenge, CHALLENGE_LENGTH)
    data = check_bytes("OMA address", oma_address, OMA_ADDRESS_LENGTH) + apdu
    return keyed_mix(c, k, OMA_ITERATIONS, reversed(data), len(data))


def replies_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two replies."""
    return hmac.compare_digest(a, b)


def oma_address(
    address_format: AddressFormat,
    *,
    domain_id: bytes = b"",
    subnet: int = 0,
    node: int = 0,
    group: int = 0,
    unique_id: bytes = b"",
) -> bytes:
    """The 9-byte OMA address of a message sent with ``address_format`` (see the module docstring)."""
    out = bytearray(b"\xff" * OMA_ADDRESS_LENGTH)
    fmt = AddressFormat(address_format)
    if fmt == AddressFormat.UNIQUE_ID:
        out[0:6] = check_bytes("unique_id", unique_id, 6)
        return bytes(out)
    domain = check_bytes("domain_id", domain_id)
    if len(domain) > 6:
        raise EncodeError("a domain ID is at most 6 bytes")
    out[0:6] = domain.ljust(6, b"\x00")  # [design] zero padding, docs/decisions/0050
    out[6] = len(domain)
    if fmt == AddressFormat.SUBNET_NODE:
        out[7] = check_int("subnet", subnet, 0, 255)
        out[8] = check_int("node", node, 0, 127)
    elif fmt == AddressFormat.GROUP:
        out[7] = check_int("group", group, 0, 255)
    return bytes(out)


__all__ = [
    "CHALLENGE_LENGTH",
    "KEY_LENGTH",
    "OMA_ADDRESS_LENGTH",
    "OMA_KEY_LENGTH",
    "REPLY_LENGTH",
    "keyed_mix",
    "new_challenge",
    "oma_address",
    "oma_reply",
    "replies_equal",
    "standard_reply",
]
