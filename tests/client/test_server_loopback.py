"""Our sans-IO client against our sans-IO server (``cosemnet.server.MeterServer``), in process.

Covers what the default simulated meter does not configure: ciphered application contexts (every
protection kind) together with HLS-GMAC, SET in data blocks and GET data blocks under ciphering.
"""

from __future__ import annotations

import pytest

from cosemnet.client import AssociationRejected, ClientConfig, ClientConnection, Done, SendApdu
from cosemnet.client.connection import Ciphering
from cosemnet.codec.initiate import Conformance
from cosemnet.codec.types import DoubleLongUnsigned
from cosemnet.codec.wrapper import WrapperFrame, WrapperStream
from cosemnet.codec.xdlms import GeneralBlockTransfer
from cosemnet.cosem import AssociationLN, Clock, Data, LogicalDevice, Register
from cosemnet.cosem.access import ObjectAccessRights
from cosemnet.cosem.association_ln import CONTEXT_LN_CIPHERING, XDlmsContextInfo
from cosemnet.cosem.security_setup import SecuritySetup
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import Mechanism
from cosemnet.security.keys import KeySet
from cosemnet.server.config import ServedDevice
from cosemnet.server.server import MeterServer

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
SERVER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
NOW = 1_700_000_000.0
SERVER_PDU = 300


def make_server() -> MeterServer:
    device = LogicalDevice(b"MMM0000012345678")
    setup = device.add(
        SecuritySetup(
            "0-0:43.0.0*255",
            SERVER_TITLE,
            keys=KeySet(ek=EK, ak=AK),
            security_policy=SecurityPolicy(0x6C),  # authenticated and encrypted requests and responses
            client_system_title=CLIENT_TITLE,
        )
    )
    association = device.add(
        AssociationLN(
            "0-0:40.0.2*255",
            client_sap=1,
            mechanism_id=5,
            application_context_name=CONTEXT_LN_CIPHERING,
            xdlms_context_info=XDlmsContextInfo(
                max_receive_pdu_size=SERVER_PDU, max_send_pdu_size=SERVER_PDU
            ),
        )
    )
    association.security_setup_reference = bytes(setup.logical_name)
    device.add(Clock())
    device.add(Register("1-0:1.8.0*255", DoubleLongUnsigned(42), -1, 30))
    device.add(Data("0-0:96.1.1*255", b""))
    device.grant_all(association, lambda obj: ObjectAccessRights.full(type(obj)))
    return MeterServer([ServedDevice(device)])


class Loop:
    """Wires a ClientConnection to a server connection through wrapper frames."""

    def __init__(self, server: MeterServer, client: ClientConnection) -> None:
        self.server_connection = server.open_connection(NOW)
        self.client = client
        self.stream = WrapperStream()
        self.frames: list[WrapperFrame] = []
        self.rounds = 0

    def exchange(self, apdu: bytes) -> object:
        event: object = SendApdu(apdu)
        while not isinstance(event, Done):
            if isinstance(event, SendApdu):
                self.rounds += 1
                self.server_connection.receive_data(WrapperFrame(1, 1, event.apdu).encode(), NOW)
                for out in self.server_connection.pop_outgoing():
                    self.frames.extend(self.stream.feed(out))
            event = self.client.receive(self.frames.pop(0).apdu)
        return event.result


def client(kind: Ciphering, ak: bytes = AK) -> ClientConnection:
    return ClientConnection(
        ClientConfig(
            client_sap=1,
            mechanism=Mechanism.HLS_GMAC,
            keys=KeySet(ek=EK, ak=ak),
            system_title=CLIENT_TITLE,
            ciphering=kind,
            invocation_counter=MemoryInvocationCounter(1),
            max_receive_pdu_size=256,
        )
    )


@pytest.mark.parametrize(
    "kind", ["general-glo", "service-specific-glo", "general-ded", "service-specific-ded"]
)
def test_ciphered_hls_gmac_association_with_block_transfers(kind: Ciphering) -> None:
    conn = client(kind)
    loop = Loop(make_server(), conn)
    info = loop.exchange(conn.associate())
    assert conn.is_associated and conn.info is not None and conn.info.server_system_title == SERVER_TITLE
    assert conn.info.server_max_receive_pdu_size == SERVER_PDU and info is conn.info
    assert loop.exchange(conn.get(3, "1-0:1.8.0*255", 2)) == DoubleLongUnsigned(42)
    # a value larger than the server's PDU: SET in data blocks, GET in data blocks
    big = bytes(range(256)) * 4
    rounds = loop.rounds
    assert loop.exchange(conn.set(1, "0-0:96.1.1*255", 2, big)) is None
    assert loop.rounds - rounds > 3
    assert loop.exchange(conn.get(1, "0-0:96.1.1*255", 2)) == big
    assert loop.exchange(conn.release()) is None


def test_wrong_authentication_key_is_refused_with_the_servers_diagnostic() -> None:
    conn = client("general-glo", ak=bytes(16))
    loop = Loop(make_server(), conn)
    with pytest.raises(AssociationRejected, match="deciphering-error"):
        loop.exchange(conn.associate())
    assert not conn.is_associated


@pytest.mark.parametrize("kind", ["general-glo", "service-specific-glo"])
def test_general_block_transfer_both_ways(kind: Ciphering) -> None:
    conn = client(kind)
    conn.config.proposed_conformance = Conformance.GET | Conformance.SET | Conformance.ACTION
    conn.config.use_general_block_transfer = True
    loop = Loop(make_server(), conn)
    loop.exchange(conn.associate())
    negotiated = conn.negotiated_conformance
    assert negotiated & Conformance.GENERAL_BLOCK_TRANSFER
    assert not negotiated & Conformance.BLOCK_TRANSFER_WITH_SET_OR_WRITE
    big = bytes(range(256)) * 3
    first = conn.set(1, "0-0:96.1.1*255", 2, big)
    gbt = GeneralBlockTransfer.decode(first)
    assert gbt.block_number == 1 and not gbt.last_block and len(first) <= SERVER_PDU
    rounds = loop.rounds
    assert loop.exchange(first) is None
    assert loop.rounds - rounds >= 3
    assert loop.exchange(conn.get(1, "0-0:96.1.1*255", 2)) == big
