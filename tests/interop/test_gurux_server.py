"""Our client reads a small gurux-dlms-based server (written here) over loopback TCP and UDP.

The server is gurux-dlms's ``GXDLMSServer`` (WRAPPER interface) with a clock, a register with
scaler_unit, two data objects and its Association LN, run in a thread behind a real socket. Our
blocking client (over the asyncio client) reads the object list, the register with its scaler_unit,
the clock, a data object, a value larger than the server's PDU size (GET data blocks) and a GET with
list; every value is checked against what the gurux objects hold.

SET is not exercised: gurux-dlms 1.0.203's LN SET handler calls ``GXDLMSLNParameters.isMultipleBlocks``,
which does not exist, and answers hardware-fault with a wrong invoke-id; only editing or monkeypatching
the package would fix that.

gurux-dlms 1.0.203's Python server does not answer out of the box; everything it needs is supplied from
the outside, never by editing the installed package:

* ``GXDLMSServer.initialize()`` appends the whole collection as one element of the association's
  object list (TypeError): we give it an Association LN whose object list is already filled;
* the server calls ``sr.setReply()`` / ``sr.getConnectionInfo()`` on ``GXServerReply``, which has
  neither: :class:`_Reply` adds them;
* the LN command handler calls ``server.notifyRead()``, ``server.onPostRead()`` without arguments,
  ``server.getTransaction()``/``setTransaction()`` and ``server.notifyConnected()``, none of which the
  base class defines with those signatures: :class:`_GuruxMeter` defines them;
* the ``maxReceivePDUSize`` property setter calls itself: the settings field is set directly;
* GetRequestNext reads ``settings.gbtWndowSize`` (misspelt; never set) and calls
  ``GXDLMSLongTransaction.setData`` (missing): the settings field is set, and
  ``setTransaction`` swaps the transaction for :class:`_Transaction`, which has ``setData``;
* ``GXDLMSAssociationLogicalName.getObjects`` reads ``e.isSkipMaxPduSize``, which ``ValueEventArgs``
  never sets: the access callback (called before every read) sets it on the event.
"""

# mypy: disable-error-code="import-untyped"
from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

gurux = pytest.importorskip("gurux_dlms")

from gurux_dlms import GXDateTime, GXDLMSServer, GXServerReply  # noqa: E402
from gurux_dlms.enums import AccessMode, InterfaceType, MethodAccessMode, SourceDiagnostic, Unit  # noqa: E402
from gurux_dlms.GXByteBuffer import GXByteBuffer  # noqa: E402
from gurux_dlms.GXDLMSLongTransaction import GXDLMSLongTransaction  # noqa: E402
from gurux_dlms.objects import (  # noqa: E402
    GXDLMSAssociationLogicalName,
    GXDLMSClock,
    GXDLMSData,
    GXDLMSRegister,
)

from cosemnet.client import AccessError, Client, ClientConfig, ProtocolError  # noqa: E402
from cosemnet.codec.datetime import CosemDateTime  # noqa: E402
from cosemnet.codec.obis import Obis  # noqa: E402
from cosemnet.codec.types import DoubleLong  # noqa: E402
from cosemnet.codec.xdlms import DataAccessResult  # noqa: E402

CLOCK_TIME = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
BIG_VALUE = bytes(range(256)) * 12  # 3072 bytes: more than the server's PDU size


class _Transaction(GXDLMSLongTransaction):  # type: ignore[misc]
    """The long-GET transaction with the ``setData`` the next-data-block handler calls."""

    def setData(self, buffer: Any) -> None:
        self.data = GXByteBuffer()
        self.data.set(buffer)


class _Reply(GXServerReply):  # type: ignore[misc]
    def setReply(self, value: Any) -> None:
        self.reply = value

    def getReply(self) -> Any:
        return self.reply

    def getConnectionInfo(self) -> Any:
        return self.connectionInfo


class _GuruxMeter(GXDLMSServer):  # type: ignore[misc]
    """A gurux-dlms server: every object readable and writable, no authentication."""

    def __init__(self) -> None:
        super().__init__(True, InterfaceType.WRAPPER)
        self.lock = threading.Lock()
        self.association = GXDLMSAssociationLogicalName()
        self.clock = GXDLMSClock("0.0.1.0.0.255")
        self.clock.time = GXDateTime(CLOCK_TIME)
        self.register = GXDLMSRegister("1.0.1.8.0.255")
        self.register.value = 1234567
        self.register.scaler = 0.01
        self.register.unit = Unit.ACTIVE_ENERGY
        self.data = GXDLMSData("0.0.96.1.0.255")
        self.data.value = "GURUX-0001"
        self.big = GXDLMSData("0.0.96.1.1.255")
        self.big.value = BIG_VALUE
        for item in (self.association, self.clock, self.register, self.data, self.big):
            self.items.append(item)
            self.association.objectList.append(item)
        self.settings.maxServerPDUSize = 512  # the maxReceivePDUSize property setter recurses
        self.settings.gbtWndowSize = 1  # GetRequestNext reads this misspelt settings field
        self.initialize()

    # what the command handlers call
    def notifyRead(self, *args: Any) -> None:
        pass

    def onPostRead(self, *args: Any) -> None:
        pass

    def getTransaction(self) -> Any:
        return self.transaction

    def setTransaction(self, value: Any) -> None:
        if value is not None and not isinstance(value, _Transaction):
            transaction = _Transaction(value.targets, value.command)
            transaction.data = value.data
            value = transaction
        self.transaction = value

    def notifyConnected(self, info: Any) -> None:
        self.onConnected(info)

    # the abstract callbacks
    def isTarget(self, server_address: int, client_address: int) -> bool:
        return True

    def onValidateAuthentication(self, authentication: Any, password: Any) -> Any:
        return SourceDiagnostic.NONE

    def onGetAttributeAccess(self, arg: Any) -> Any:
        arg.isSkipMaxPduSize = False
        return AccessMode.READ_WRITE

    def onGetMethodAccess(self, arg: Any) -> Any:
        return MethodAccessMode.ACCESS

    def onPreGet(self, args: Any) -> None:
        pass

    def onPostGet(self, args: Any) -> None:
        pass

    def onFindObject(self, object_type: Any, sn: Any, ln: Any) -> None:
        return None

    def onPreRead(self, args: Any) -> None:
        pass

    def onPreWrite(self, args: Any) -> None:
        pass

    def onPostWrite(self, args: Any) -> None:
        pass

    def onConnected(self, info: Any) -> None:
        pass

    def onInvalidConnection(self, info: Any) -> None:
        pass

    def onDisconnected(self, info: Any) -> None:
        pass

    def onPreAction(self, args: Any) -> None:
        pass

    def onPostAction(self, args: Any) -> None:
        pass

    def answer(self, data: bytes) -> bytes | None:
        with self.lock:
            reply = _Reply(data)
            self.handleRequest(reply)
            return bytes(reply.reply) if reply.reply else None


def _serve_tcp(meter: _GuruxMeter, listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.1)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        with conn:
            conn.settimeout(0.1)
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                reply = meter.answer(data)
                if reply:
                    conn.sendall(reply)


def _serve_udp(meter: _GuruxMeter, sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.1)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(65536)
        except TimeoutError:
            continue
        except OSError:
            return
        reply = meter.answer(data)
        if reply:
            sock.sendto(reply, peer)


@pytest.fixture(params=["tcp", "udp"])
def gurux_meter(request: pytest.FixtureRequest) -> Iterator[tuple[_GuruxMeter, str, int]]:
    meter = _GuruxMeter()
    transport: str = request.param
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    if transport == "tcp":
        sock.listen(1)
    stop = threading.Event()
    target = _serve_tcp if transport == "tcp" else _serve_udp
    thread = threading.Thread(target=target, args=(meter, sock, stop), daemon=True)
    thread.start()
    try:
        yield meter, transport, sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        sock.close()


def _client(transport: str, port: int, first_invoke_id: int = 0) -> Client:
    return Client(
        "127.0.0.1",
        port,
        ClientConfig(client_sap=16, server_sap=1, max_receive_pdu_size=512, first_invoke_id=first_invoke_id),
        transport="udp" if transport == "udp" else "tcp",
        timeout=5.0,
    )


def test_our_client_reads_the_gurux_server(gurux_meter: tuple[_GuruxMeter, str, int]) -> None:
    meter, transport, port = gurux_meter
    with _client(transport, port) as client:
        info = client.connection.info
        assert info is not None and info.server_max_receive_pdu_size == 512

        # object list: the objects gurux holds, with their class ids and versions
        objects = client.object_list()
        seen = {(o.class_id, o.logical_name, o.version) for o in objects}
        expected = {
            (int(item.objectType), Obis.parse(item.logicalName), item.version) for item in meter.items
        }
        assert seen == expected

        # register value with its scaler_unit applied
        register = client.read_register("1-0:1.8.0*255")
        assert register.raw == meter.register.value
        assert register.scaler == -2 and register.unit == int(Unit.ACTIVE_ENERGY) == 30
        assert register.value == pytest.approx(meter.register.value * meter.register.scaler)
        assert str(register) == "12345.67 Wh"

        # clock
        clock = client.read_clock()
        assert isinstance(clock, CosemDateTime)
        assert clock.to_datetime() == meter.clock.time.value == CLOCK_TIME

        # a data object (gurux's visible-string)
        assert client.get(1, "0-0:96.1.0*255", 2) == meter.data.value

        # a value larger than the server's PDU size comes in GET data blocks
        assert client.get(1, "0-0:96.1.1*255", 2) == BIG_VALUE

        # with-list
        values = client.get_with_list([(3, "1-0:1.8.0*255", 2), (1, "0-0:96.1.0*255", 2)])
        assert values == [DoubleLong(meter.register.value), meter.data.value]
    assert client.connection.state.name == "RELEASED"


def test_gurux_server_errors_are_access_errors(gurux_meter: tuple[_GuruxMeter, str, int]) -> None:
    meter, transport, port = gurux_meter
    # gurux answers a GET of an unknown object with invoke-id 1 whatever the request carried: our
    # client checks invoke-ids, so a request with invoke-id 0 gets a ProtocolError...
    with _client(transport, port) as client, pytest.raises(ProtocolError, match="invoke-id 1, expected 0"):
        client.get(3, "1-0:2.8.0*255", 2)  # not an object of this server
    # ...and one with invoke-id 1 the object-undefined the server meant
    with _client(transport, port, first_invoke_id=1) as client:
        with pytest.raises(AccessError) as info:
            client.get(3, "1-0:2.8.0*255", 2)
        assert info.value.result is DataAccessResult.OBJECT_UNDEFINED
        assert client.get(1, "0-0:96.1.0*255", 2) == meter.data.value  # still associated
