"""Adapters that drive the two Python peers (dlms-cosem, gurux-dlms) through the benchmark cases.

Each adapter exposes the same four operations as cosemnet's adapter in ``codec.py``:

* ``get_request_encode``  -- request object -> APDU bytes
* ``get_request_decode``  -- APDU bytes -> the library's request representation
* ``profile_encode``      -- the library's natural Python rows (built once, outside the timed loop) -> APDU
* ``profile_decode``      -- APDU bytes -> Python values

and a ``normalise_*`` function per decode that maps the library's result to the common reference shape
(plain ``int`` / ``bytes`` / ``list``), used only for the one-off equivalence check before timing.

Only the peers' public or documented entry points are used, as their own clients use them; where a peer
cannot do an operation on its own, the closest equivalent is used and explained in ``README.md``.
Nothing here is copied from the peers: these are calls into them.
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Row = tuple[bytes, int, int, int]


def stamp_cell(value: Any) -> bytes | None:
    """A row's date-time cell in the common shape: bytes, or None for null-data (compressed clock)."""
    return None if value is None else bytes(value)


@dataclass(slots=True)
class Operation:
    """One timed operation: ``run()`` is the timed call; ``what`` says what it really does."""

    run: Callable[[], Any]
    what: str


# --------------------------------------------------------------------------------------------------
# dlms-cosem 25.1


def dlms_cosem_operations(request: bytes, response: bytes, rows: Sequence[Row]) -> dict[str, Operation]:
    from dlms_cosem import cosem, dlms_data, utils
    from dlms_cosem import enumerations as enums
    from dlms_cosem.cosem.obis import Obis
    from dlms_cosem.protocol import xdlms

    invoke = xdlms.InvokeIdAndPriority(invoke_id=1, confirmed=True, high_priority=True)
    attribute = cosem.CosemAttribute(
        interface=enums.CosemInterface.CLOCK, instance=Obis(0, 0, 1, 0, 0, 255), attribute=2
    )
    get_request = xdlms.GetRequestNormal(cosem_attribute=attribute, invoke_id_and_priority=invoke)

    def request_decode() -> Any:
        return xdlms.GetRequestNormal.from_bytes(request)

    # Its natural representation of Data values: the DlmsData object tree (the only input its encoder takes).
    tree = dlms_data.DataArray(
        [
            dlms_data.DataStructure(
                [dlms_data.OctetStringData(row[0])] + [dlms_data.DoubleLongUnsignedData(v) for v in row[1:]]
            )
            for row in rows
        ]
    )
    # GetResponseNormal.to_bytes() raises TypeError in 25.1.0 (it appends a bytes object to a bytearray),
    # so the 4 header bytes it would write are prepended here; the Data encoding is the library's.
    header: bytes = bytes((xdlms.GetResponseNormal.TAG, 1)) + invoke.to_bytes() + b"\x00"

    def profile_encode() -> bytes:
        encoded: bytes = tree.to_bytes()
        return header + encoded

    def profile_decode() -> Any:
        # What its DlmsClient.get() + parse path does (minus the tag dispatch, which cosemnet's timed
        # call skips too): the APDU class, then the A-XDR Data parser into Python values.
        apdu = xdlms.GetResponseNormal.from_bytes(response)
        return utils.parse_as_dlms_data(apdu.data)

    return {
        "get_request_encode": Operation(get_request.to_bytes, "GetRequestNormal.to_bytes()"),
        "get_request_decode": Operation(request_decode, "GetRequestNormal.from_bytes()"),
        "profile_encode": Operation(
            profile_encode, "DataArray(DataStructure(...)).to_bytes() + 4-byte APDU header (see README)"
        ),
        "profile_decode": Operation(
            profile_decode, "GetResponseNormal.from_bytes() + utils.parse_as_dlms_data()"
        ),
    }


def dlms_cosem_normalise_request(apdu: Any) -> tuple[int, bytes, int, int]:
    a = apdu.cosem_attribute
    obis = bytes((a.instance.a, a.instance.b, a.instance.c, a.instance.d, a.instance.e, a.instance.f))
    return int(a.interface), obis, int(a.attribute), apdu.invoke_id_and_priority.invoke_id


def dlms_cosem_normalise_rows(value: Any) -> list[list[Any]]:
    return [[stamp_cell(row[0]), *(int(v) for v in row[1:])] for row in value]


def dlms_cosem_version() -> str:
    from importlib.metadata import version

    return version("dlms-cosem")


# --------------------------------------------------------------------------------------------------
# gurux-dlms 1.0.203


def gurux_operations(request: bytes, response: bytes, rows: Sequence[Row]) -> dict[str, Operation]:
    from gurux_dlms import GXDLMS, GXByteBuffer, GXDLMSClient, GXDLMSSettings, GXDLMSTranslator
    from gurux_dlms.enums import Command, DataType, InterfaceType, TranslatorOutputType
    from gurux_dlms.GXDLMSLNParameters import GXDLMSLNParameters
    from gurux_dlms.internal._GXCommon import _GXCommon
    from gurux_dlms.internal._GXDataInfo import _GXDataInfo
    from gurux_dlms.objects import GXDLMSCaptureObject, GXDLMSClock, GXDLMSProfileGeneric, GXDLMSRegister
    from gurux_dlms.ValueEventArgs import ValueEventArgs

    # Client side, plain PDUs (no HDLC / wrapper framing): read() builds the GET request.
    client = GXDLMSClient(True, 16, 1, interfaceType=InterfaceType.PDU)
    clock = GXDLMSClock("0.0.1.0.0.255")

    def request_encode() -> Any:
        return client.read(clock, 2)[0]

    # gurux has no stand-alone request parser except its translator (the server's handler only parses
    # a request while answering it against its object list): pduToXml is its bytes -> structure decode.
    translator = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML)

    def request_decode() -> str:
        return str(translator.pduToXml(request))

    # Server side: what GXDLMSServer does for GET profile_generic.buffer (GXDLMSLNCommandHandler):
    # GXDLMSProfileGeneric.getValue() encodes the buffer rows by the capture objects' data types, then
    # GXDLMS.appendData() and GXDLMS.getLNPdu() build the GET-response-normal.
    settings = GXDLMSSettings(True, None)
    settings.interfaceType = InterfaceType.PDU
    profile = GXDLMSProfileGeneric("1.0.99.1.0.255")
    capture_clock = GXDLMSClock("0.0.1.0.0.255")
    capture_clock.setDataType(2, DataType.OCTET_STRING)
    profile.captureObjects.append((capture_clock, GXDLMSCaptureObject(2, 0)))
    for e in range(3):
        register = GXDLMSRegister(f"1.0.{e + 1}.8.0.255")
        register.setDataType(2, DataType.UINT32)
        profile.captureObjects.append((register, GXDLMSCaptureObject(2, 0)))
    # Its natural representation of a profile buffer: a list of rows, each a list of column values.
    profile.buffer = [list(row) for row in rows]
    invoke_id = request[2]

    def profile_encode() -> bytes:
        event = ValueEventArgs(settings, profile, 2, 0, None)
        value = profile.getValue(settings, event)
        data = GXByteBuffer()
        GXDLMS.appendData(settings, profile, 2, data, value)
        reply = GXByteBuffer()
        GXDLMS.getLNPdu(
            GXDLMSLNParameters(settings, invoke_id, Command.GET_RESPONSE, 1, None, data, 0), reply
        )
        return bytes(reply.array())

    # Its Data parser, _GXCommon.getData(), which GXDLMSClient.getData() ends in (through GXReplyData and
    # a copy of the buffer: that full client path measured about 1.5x slower on this machine, so timing
    # the parser alone favours gurux). The 4-byte APDU header is checked here by hand.
    decode_settings = GXDLMSSettings(False, None)

    def profile_decode() -> Any:
        if response[0] != 0xC4 or response[1] != 1 or response[3] != 0:
            raise ValueError("not a GET-response-normal with data")
        data = GXByteBuffer(response)
        data.position = 4
        return _GXCommon.getData(decode_settings, data, _GXDataInfo())

    return {
        "get_request_encode": Operation(request_encode, "GXDLMSClient(PDU).read(clock, 2)"),
        "get_request_decode": Operation(request_decode, "GXDLMSTranslator.pduToXml() (SIMPLE_XML)"),
        "profile_encode": Operation(
            profile_encode, "server path: GXDLMSProfileGeneric.getValue() + appendData() + getLNPdu()"
        ),
        "profile_decode": Operation(
            profile_decode, "_GXCommon.getData() on the APDU after its 4-byte header (see README)"
        ),
    }


_XML_VALUE = re.compile(r'<(\w+) Value="([0-9A-Fa-f]+)" />')


def gurux_normalise_request(xml: Any) -> tuple[int, bytes, int, int]:
    fields = dict(_XML_VALUE.findall(str(xml)))
    return (
        int(fields["ClassId"], 16),
        bytes.fromhex(fields["InstanceId"]),
        int(fields["AttributeId"], 16),
        int(fields["InvokeIdAndPriority"], 16) & 0x0F,
    )


def gurux_normalise_rows(value: Any) -> list[list[Any]]:
    return [[stamp_cell(row[0]), *(int(v) for v in row[1:])] for row in value]


def gurux_version() -> str:
    from importlib.metadata import version

    return version("gurux-dlms")
