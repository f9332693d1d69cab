"""What ``cosemnet decode`` does with one input message: decode it, find ciphered APDUs, decrypt them.

Kept apart from the click command so that the demo and the tests use the same steps.
"""

from __future__ import annotations

from collections.abc import Callable
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
from cosemnet.codec.jsonform import (
    NESTED_APDU_FIELDS,
    JsonFormError,
    JsonObject,
    decode_nested_apdu,
    message_to_json,
    object_from_json,
    object_to_json,
)
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.errors import CosemnetError, DecodeError
from cosemnet.profiles.lon.adp import ADP_MESSAGE_CODE, NULL_SUITE_ID, AdpData, AdpPdu, Segmentation
from cosemnet.profiles.lon.adp import decode_adp_pdu as _decode_adp_pdu
from cosemnet.profiles.lon.cnip import HEADER_LENGTH as CNIP_HEADER_LENGTH
from cosemnet.profiles.lon.cnip import SECURITY_FLAG, CnipPacket, CnipPacketType
from cosemnet.profiles.lon.crc import check_crc
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.transport import Spdu, Tpdu
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
    """``input`` (not hex), ``size`` (longer than ``decode --max-bytes``), ``decode`` or ``security``."""

    def text(self) -> str:
        text = f"{self.reason} at offset {self.offset}"
        return text + (f" (expected {self.expected})" if self.expected else "")


@dataclass(slots=True)
class DecodedMessage:
    raw: bytes
    message: object
    """A :class:`WrapperFrame`, an APDU object or a :class:`LonMessage`."""
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


def inspect(data: bytes, keys: Keys | None = None, profile: str = "dlms") -> DecodedMessage:
    """Decode ``data`` and, with keys, decrypt every ciphered APDU in it (DecodeError if undecodable).

    ``profile`` is one of :data:`PROFILES`: ``dlms`` (an APDU or a wrapper frame), ``lon`` (an
    ISO/IEC 14908-1 frame with its CRC), ``cnip`` (an ISO/IEC 14908-4 CN/IP packet) or ``auto``
    (:func:`detect_profile`).
    """
    if profile == "auto":
        profile = detect_profile(data)
    message: object
    if profile == "lon":
        message = decode_lon_frame(data)
    elif profile == "cnip":
        message = decode_cnip_packet(data)
    elif profile == "dlms":
        message = decode_message(data)
    else:
        raise ValueError(f"unknown profile {profile!r}")
    result = DecodedMessage(data, message)
    if keys is not None and keys.any():
        inner = message.dlms if isinstance(message, LonMessage) else message
        if inner is not None:
            _decrypt_all(result, inner, None, keys, 0)
    return result


# --------------------------------------------------------------------------------------------------
# IEC 62056-8-8: ISO/IEC 14908-1 frames, CN/IP packets, ADP PDUs

PROFILES = ("auto", "dlms", "lon", "cnip")
"""Values of ``cosemnet decode --profile``."""

LON_FRAME_MIN_LENGTH = 8
"""The shortest 14908-1 frame: PPDU byte, NPDU header, 3 address bytes (broadcast), a 1-byte PDU
(an ACK) and the 2-byte CRC."""


def looks_like_cnip(data: bytes) -> bool:
    """A CN/IP packet by its header: version 1 and a length field equal to the input length (or to the
    input length minus the 16-byte digest when the security flag is set)."""
    if len(data) < CNIP_HEADER_LENGTH or data[2] != 1:
        return False
    length = int.from_bytes(data[:2], "big")
    if length == len(data):
        return True
    return bool(data[5] & SECURITY_FLAG) and length + 16 == len(data)


def looks_like_lon_frame(data: bytes) -> bool:
    """A 14908-1 power-line frame by its CRC-16 (the last two bytes check)."""
    return len(data) >= LON_FRAME_MIN_LENGTH and check_crc(data)


def detect_profile(data: bytes) -> str:
    """``cnip``, ``lon`` or ``dlms`` for ``--profile auto`` [design: checked in this order; a DLMS APDU
    whose last two bytes happen to be its CRC (1 in 65,536) needs ``--profile dlms``]."""
    if looks_like_cnip(data):
        return "cnip"
    if looks_like_lon_frame(data):
        return "lon"
    return "dlms"


@dataclass(slots=True)
class LonMessage:
    """The layers of one 62056-8-8 message as far as they decode.

    ``frame`` is None for a CN/IP packet that is not a 14908-1 data packet. ``adp`` is the ADP PDU of an
    application message with the ADP code (:data:`ADP_MESSAGE_CODE`); ``dlms`` the DLMS APDU of an
    unsegmented DATA PDU (unprotected, or protected by the null suite). ``adp_note`` / ``dlms_note`` say
    why a layer that might have been there did not decode (shown, not an error: the message code is
    shared with other applications and a segment holds part of an APDU).
    """

    frame: LonFrame | None
    crc: bool
    """The frame carries its CRC-16 (power line; inside CN/IP only when the sender adds it)."""
    cnip: CnipPacket | None = None
    adp: AdpPdu | None = None
    adp_note: str | None = None
    dlms: object | None = None
    dlms_note: str | None = None

    @property
    def application_message(self) -> ApplicationMessage | None:
        """The 14908-1 application message the frame carries, if any."""
        if self.frame is None:
            return None
        pdu = self.frame.npdu.pdu
        if isinstance(pdu, Tpdu | Spdu):
            apdu = pdu.apdu
            return apdu if isinstance(apdu, ApplicationMessage) else None
        return pdu if isinstance(pdu, ApplicationMessage) else None


def decode_lon_frame(data: bytes, *, crc: bool = True) -> LonMessage:
    """A 14908-1 frame (with its CRC by default) and what its application message carries."""
    message = LonMessage(LonFrame.decode(data, crc=crc), crc)
    _decode_upper_layers(message)
    return message


def decode_cnip_packet(data: bytes) -> LonMessage:
    """A CN/IP packet; a data packet's payload is decoded as a 14908-1 frame.

    [design] The frame is read with a CRC when its last two bytes are the CRC of the rest (lon-stack-ex
    adds one, decision 0010) and the frame decodes that way; otherwise without (Wireshark's form). A
    frame without CRC whose last two bytes happen to match (1 in 65,536) is shown with a CRC; its JSON
    form still encodes back to the same bytes.
    """
    packet = CnipPacket.decode(data)
    if packet.packet_type != CnipPacketType.DATA or packet.protocol != 0:
        return LonMessage(None, False, packet)
    frame: LonFrame | None = None
    crc = False
    if len(packet.payload) >= LON_FRAME_MIN_LENGTH and check_crc(packet.payload):
        try:
            frame, crc = packet.lon_frame(crc=True), True
        except DecodeError:
            frame = None
    if frame is None:
        frame, crc = packet.lon_frame(crc=False), False
    message = LonMessage(frame, crc, packet)
    _decode_upper_layers(message)
    return message


def _decode_upper_layers(message: LonMessage) -> None:
    app = message.application_message
    if app is None or app.code != ADP_MESSAGE_CODE:
        return
    try:
        message.adp = _decode_adp_pdu(app.data)
    except DecodeError as exc:
        message.adp_note = f"not an ADP PDU: {exc}"
        return
    adp = message.adp
    if not isinstance(adp, AdpData):
        return
    if adp.segmentation != Segmentation.UNSEGMENTED:
        message.dlms_note = "one segment of a longer APDU"
        return
    if adp.security_suite_id not in (None, NULL_SUITE_ID):
        message.dlms_note = f"protected by security suite {adp.security_suite_id}"
        return
    if not adp.payload:
        return
    message.dlms = decode_nested_apdu(adp.payload)
    if message.dlms is None:
        try:
            decode_message(adp.payload)
        except DecodeError as exc:
            message.dlms_note = f"not a DLMS APDU: {exc}"
        else:
            message.dlms_note = "not one DLMS APDU"


def lon_message_to_json(
    message: LonMessage,
    *,
    annotate: Callable[[object], JsonObject | None] | None = None,
    stream: bool = False,
) -> JsonObject:
    """The JSON form of a 62056-8-8 message [design]::

        {"profile": "lon" | "cnip",
         "cnip": {CN/IP packet, "payload" left out when "frame" holds it},
         "frame": {"apdu": "LonFrame", ...}, "crc": true | false,
         "adp": {"apdu": "AdpData", ...}, "dlms": {DLMS APDU}}

    ``cnip`` only for CN/IP; ``adp`` and ``dlms`` only where those layers decode. ``adp`` and ``dlms``
    are views of the bytes inside ``frame`` (like ``"decrypted"``): :func:`encode_lon_message_json`
    ignores them and encodes ``cnip`` / ``frame``. ``stream``: as for :func:`message_to_json`.
    """
    out: JsonObject = {"profile": "cnip" if message.cnip is not None else "lon"}
    if message.cnip is not None:
        cnip = object_to_json(message.cnip)
        if message.frame is not None:
            del cnip["payload"]
        out["cnip"] = cnip
    if message.frame is not None:
        out["frame"] = object_to_json(message.frame)
        out["crc"] = message.crc
    if message.adp is not None:
        out["adp"] = object_to_json(message.adp)
    if message.dlms is not None:
        out["dlms"] = message_to_json(message.dlms, annotate=annotate, stream=stream)
    return out


LON_JSON_KEYS = frozenset({"profile", "cnip", "frame", "crc", "adp", "dlms"})


def encode_lon_message_json(obj: object) -> bytes:
    """The bytes of a :func:`lon_message_to_json` object (``adp`` / ``dlms`` are ignored)."""
    if not isinstance(obj, dict) or obj.get("profile") not in ("lon", "cnip"):
        raise JsonFormError('a 62056-8-8 message is an object with "profile": "lon" or "cnip"')
    unknown = set(obj) - LON_JSON_KEYS
    if unknown:
        raise JsonFormError(f"unknown key(s) {', '.join(sorted(unknown))}")
    frame_bytes: bytes | None = None
    try:
        if "frame" in obj:
            crc = obj.get("crc", obj["profile"] == "lon")
            if not isinstance(crc, bool):
                raise JsonFormError("expected true or false", "crc")
            frame = object_from_json(LonFrame, obj["frame"], "frame")
            frame_bytes = frame.encode(crc=crc)
        if obj["profile"] == "lon":
            if frame_bytes is None:
                raise JsonFormError('a 14908-1 message needs "frame"')
            return frame_bytes
        cnip = obj.get("cnip")
        if not isinstance(cnip, dict):
            raise JsonFormError('a CN/IP message needs "cnip": {...}')
        if frame_bytes is not None:
            cnip = {**cnip, "payload": frame_bytes.hex()}
        packet = object_from_json(CnipPacket, cnip, "cnip")
        encoded: bytes = packet.encode()
        return encoded
    except JsonFormError:
        raise
    except CosemnetError as exc:
        raise JsonFormError(f"cannot encode: {exc}") from None


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
    "PROFILES",
    "DecodedMessage",
    "Failure",
    "Keys",
    "LonMessage",
    "decode_cnip_packet",
    "decode_lon_frame",
    "decode_message",
    "detect_profile",
    "encode_lon_message_json",
    "inspect",
    "is_wrapper_frame",
    "lon_message_to_json",
    "looks_like_cnip",
    "looks_like_lon_frame",
]
