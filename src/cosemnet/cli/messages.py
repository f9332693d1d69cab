"""What ``cosemnet decode`` does with one input message: decode it, find ciphered APDUs, decrypt them.

Kept apart from the click command so that the demo and the tests use the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cosemnet.cli.tree import Decryption
from cosemnet.codec.acse import AARE, AARQ
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.ciphered import (
    GeneralCiphering,
    GeneralDedCiphering,
    GeneralGloCiphering,
    ServiceSpecificCiphered,
)
from cosemnet.codec.jsonform import NESTED_APDU_FIELDS, decode_nested_apdu
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.errors import CosemnetError, DecodeError
from cosemnet.security.ciphering import SecurityContext, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.errors import AuthenticationError, KeyMissingError, SecurityError
from cosemnet.security.keys import KeySet
from cosemnet.security.suite import SecuritySuite

CIPHERED_TYPES = (ServiceSpecificCiphered, GeneralGloCiphering, GeneralDedCiphering, GeneralCiphering)
WRAPPER_VERSION_BYTES = b"\x00\x01"
_MAX_NESTING = 4
_NO_SYSTEM_TITLE = bytes(8)


@dataclass(slots=True)
class Keys:
    """Keys given on the command line. Never printed (``repr`` shows which are set)."""

    ek: bytes | None = field(default=None, repr=False)
    ak: bytes | None = field(default=None, repr=False)
    kek: bytes | None = field(default=None, repr=False)
    broadcast_key: bytes | None = field(default=None, repr=False)
    dedicated_key: bytes | None = field(default=None, repr=False)
    system_title: bytes | None = None
    """The sender's system title for service-specific ciphered APDUs (they carry none)."""

    def any(self) -> bool:
        return any(
            k is not None for k in (self.ek, self.ak, self.kek, self.broadcast_key, self.dedicated_key)
        )


@dataclass(slots=True)
class Failure:
    """Why a message could not be shown completely: a decode or a security failure."""

    reason: str
    offset: int
    expected: str
    kind: str
    """``input`` (not hex), ``decode`` or ``security``."""

    def text(self) -> str:
        text = f"{self.reason} at offset {self.offset}"
        return text + (f" (expected {self.expected})" if self.expected else "")


@dataclass(slots=True)
class DecodedMessage:
    raw: bytes
    message: object
    """A :class:`WrapperFrame` or an APDU object."""
    decryptions: dict[bytes, Decryption] = field(default_factory=dict)
    """Ciphered APDU bytes -> what decrypting them gave."""
    failures: list[Failure] = field(default_factory=list)

    def decryption_for(self, obj: object) -> Decryption | None:
        if not self.decryptions or not isinstance(obj, CIPHERED_TYPES):
            return None
        return self.decryptions.get(obj.encode())


def is_wrapper_frame(data: bytes) -> bool:
    """True when ``data`` looks like a 62056-4-7 wrapper frame (no APDU starts with 0x00)."""
    return len(data) >= 2 and data[:2] == WRAPPER_VERSION_BYTES


def decode_message(data: bytes) -> object:
    """A :class:`WrapperFrame` (when ``data`` starts with version 0x0001) or an APDU object.

    Raises :class:`DecodeError` with the offset in ``data`` when the frame or its APDU is invalid.
    """
    if is_wrapper_frame(data):
        frame = WrapperFrame.decode(data)
        start = len(data) - len(frame.apdu)
        try:
            decode_apdu(frame.apdu)
        except DecodeError as exc:
            raise DecodeError(exc.reason, exc.offset + start, exc.expected) from None
        return frame
    return decode_apdu(data)


def inspect(data: bytes, keys: Keys | None = None) -> DecodedMessage:
    """Decode ``data`` and, with keys, decrypt every ciphered APDU in it (DecodeError if undecodable)."""
    message = decode_message(data)
    result = DecodedMessage(data, message)
    if keys is not None and keys.any():
        _decrypt_all(result, message, None, keys, 0)
    return result


def _decrypt_all(
    result: DecodedMessage, apdu: object, title_hint: bytes | None, keys: Keys, depth: int
) -> None:
    if depth > _MAX_NESTING:
        return
    if isinstance(apdu, AARQ):
        title_hint = apdu.calling_ap_title
    elif isinstance(apdu, AARE):
        title_hint = apdu.responding_ap_title
    if isinstance(apdu, CIPHERED_TYPES):
        encoded = apdu.encode()
        if encoded not in result.decryptions:
            decryption = _decrypt(encoded, apdu, title_hint, keys)
            result.decryptions[encoded] = decryption
            if decryption.error is not None:
                offset = max(result.raw.find(encoded), 0)
                result.failures.append(Failure(decryption.error, offset, "", "security"))
            elif decryption.apdu is not None:
                _decrypt_all(result, decryption.apdu, title_hint, keys, depth + 1)
        return
    for name in NESTED_APDU_FIELDS:
        value = getattr(apdu, name, None)
        if isinstance(value, bytes) and value:
            nested = decode_nested_apdu(value)
            if nested is not None:
                _decrypt_all(result, nested, title_hint, keys, depth + 1)


def _decrypt(encoded: bytes, envelope: object, title_hint: bytes | None, keys: Keys) -> Decryption:
    content: bytes = getattr(envelope, "ciphered_content", b"")
    if not content:
        return Decryption(error="ciphered content is empty")
    sc = content[0]
    try:
        suite = SecuritySuite(sc & 0x0F)
    except ValueError:
        return Decryption(error=f"security suite {sc & 0x0F} is not supported")
    peer: bytes | None = None
    if isinstance(envelope, ServiceSpecificCiphered):
        peer = keys.system_title or title_hint
        if peer is None:
            return Decryption(
                error="a service-specific ciphered APDU carries no system title: pass --system-title "
                "(the sender's)"
            )
    key_set = KeySet(
        ek=keys.ek,
        ak=keys.ak,
        broadcast_key=keys.broadcast_key,
        dedicated_key=keys.dedicated_key,
        kek=keys.kek,
    )
    try:
        context = SecurityContext(
            suite=suite,
            policy=SecurityPolicy.NOTHING,
            system_title=_NO_SYSTEM_TITLE,
            peer_system_title=peer,
            keys=key_set,
        )
        plaintext = unprotect_apdu(encoded, context)[0]
    except AuthenticationError as exc:
        return Decryption(error=f"authentication failed: {exc}")
    except KeyMissingError as exc:
        return Decryption(error=f"{exc} (see --ek, --ak, --broadcast-key, --dedicated-key, --kek)")
    except SecurityError as exc:
        return Decryption(error=f"cannot decrypt: {exc}")
    except DecodeError as exc:
        return Decryption(
            error=f"the decrypted APDU is not what the envelope announces (wrong key?): {exc.reason}"
        )
    except CosemnetError as exc:
        return Decryption(error=f"cannot decrypt: {exc}")
    try:
        apdu = decode_apdu(plaintext)
    except DecodeError as exc:
        return Decryption(
            plaintext=plaintext,
            error=f"the decrypted plaintext is not an APDU (wrong key?): {exc}",
        )
    return Decryption(plaintext=plaintext, apdu=apdu)


__all__ = [
    "CIPHERED_TYPES",
    "DecodedMessage",
    "Failure",
    "Keys",
    "decode_message",
    "inspect",
    "is_wrapper_frame",
]
