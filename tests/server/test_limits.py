"""Issue 9, the meter server's resource limits: each hostile peer reproduced over loopback sockets.

Pipelining without reading, endless SET/ACTION/GBT block transfers, access denied at the first block,
connection and pending-association caps, the UDP datagram budget and anti-amplification rule, the
GBT state after a re-association (see docs/decisions/0030).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cosemnet.codec.acse import AARE, AssociationResult
from cosemnet.codec.initiate import InitiateResponse
from cosemnet.codec.obis import Obis
from cosemnet.codec.wrapper import HEADER_SIZE, WrapperFrame, WrapperHeader
from cosemnet.codec.xdlms import (
    ActionRequestWithFirstPblock,
    ActionRequestWithPblock,
    ActionResponseNormal,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataAccessResult,
    DataBlockSA,
    ExceptionResponse,
    ExceptionServiceError,
    GeneralBlockTransfer,
    GetRequestNext,
    GetRequestNormal,
    GetResponseNormal,
    GetResponseWithDataBlock,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
)
from cosemnet.codec.xdlms.common import ActionResult
from cosemnet.server import MeterServer, ServedDevice, ServerAssociation, ServerLimits, serve_tcp, serve_udp

from .helpers import (
    CLOCK,
    ENERGY,
    PROFILE,
    SERIAL,
    T0,
    aarq,
    answer_apdu,
    datagrams,
    feed,
    initiate,
    make_device,
)

GET_PROFILE = GetRequestNormal(1, CosemAttributeDescriptor(7, PROFILE, 2)).encode()
GET_ENERGY = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()
ALL = 0x205E1D  # GET/SET/ACTION, their block transfers, multiple references, GBT
GBT_ONLY = 0x20021D  # GET/SET/ACTION with GBT, no service-specific block transfer
BLOCK = bytes(60_000)


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 60))


class Peer:
    """A raw TCP client speaking wrapper frames as client 16 to server 1."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, source: str | None = None) -> Peer:
        local = (source, 0) if source is not None else None
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
        return cls(reader, writer)

    async def send(self, apdu: bytes) -> None:
        self.writer.write(WrapperFrame(16, 1, apdu).encode())
        await self.writer.drain()

    async def receive(self) -> bytes:
        header = WrapperHeader.decode(await asyncio.wait_for(self.reader.readexactly(HEADER_SIZE), 10))
        return await asyncio.wait_for(self.reader.readexactly(header.length), 10)

    async def ask(self, apdu: bytes) -> bytes:
        await self.send(apdu)
        return await self.receive()

    async def associate(self, conformance: int = ALL, max_pdu: int = 0xFFFF) -> AARE:
        aare = AARE.decode(await self.ask(aarq(user_information=initiate(conformance, max_pdu).encode())))
        assert aare.result == AssociationResult.ACCEPTED
        return aare

    def close(self) -> None:
        self.writer.close()


async def tcp(server: MeterServer) -> tuple[Any, int]:
    running = await serve_tcp(server, "127.0.0.1", 0)
    return running, running.addresses[0][1]


# --------------------------------------------------------------------------------------------------
# 1. Pipelining without reading


def test_unread_answers_are_produced_only_as_the_transport_drains() -> None:
    """3,000 pipelined GETs in one chunk: one output budget of answers, the rest waits as input."""
    budget = 16 * 1024
    server = MeterServer([make_device(rows=500)], limits=ServerLimits(output_budget=budget))
    conn = server.open_connection(T0, ("127.0.0.1", 40000))
    flood = WrapperFrame(16, 1, aarq()).encode() + WrapperFrame(16, 1, GET_PROFILE).encode() * 3000
    out = feed(conn, flood, T0)
    assert conn.backlog
    assert 0 < len(out) <= budget + 0x10000 + HEADER_SIZE
    answers = out.count(b"\x00\x01\x00\x01\x00\x10")  # wrapper headers server 1 -> client 16
    total = answers
    while conn.backlog:
        conn.resume(T0)
        more = b"".join(conn.pop_outgoing())
        assert len(more) <= budget + 0x10000 + HEADER_SIZE
        total += more.count(b"\x00\x01\x00\x01\x00\x10")
    assert answers < 100 and total == 3001  # every request answered, none lost


def test_tcp_peer_that_never_reads_is_not_read_and_still_gets_every_answer() -> None:
    async def main() -> None:
        server = MeterServer([make_device(rows=100)], limits=ServerLimits(output_budget=8192))
        running, port = await tcp(server)
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        count = 4000
        flood = WrapperFrame(16, 1, aarq()).encode() + WrapperFrame(16, 1, GET_PROFILE).encode() * count
        await loop.sock_sendall(sock, flood)
        await asyncio.sleep(0.5)
        (protocol,) = running._protocols.values()
        assert not protocol.transport.is_reading()
        assert protocol.conn.backlog  # the requests wait, unprocessed
        assert protocol.transport.get_write_buffer_size() <= 256 * 1024 + 8192 + 0x10000 + HEADER_SIZE
        # now read everything: every request gets its answer, in order
        received = bytearray()
        answers = 0
        while answers < count + 1:
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 10)
            assert chunk
            received += chunk
            while len(received) >= HEADER_SIZE:
                length = WrapperHeader.decode(bytes(received[:HEADER_SIZE])).length
                if len(received) < HEADER_SIZE + length:
                    break
                apdu = bytes(received[HEADER_SIZE : HEADER_SIZE + length])
                del received[: HEADER_SIZE + length]
                if answers:
                    assert len(GetResponseNormal.decode(apdu).result) == 100  # type: ignore[arg-type]
                answers += 1
        assert not protocol.conn.backlog
        sock.close()
        await running.close()

    run(main)


# --------------------------------------------------------------------------------------------------
# 2. Block transfers that never end, access rights at the first block


def first_action(method: CosemMethodDescriptor) -> bytes:
    return ActionRequestWithFirstPblock(1, method, DataBlockSA(False, 1, BLOCK)).encode()


def first_set(descriptor: CosemAttributeDescriptor) -> bytes:
    return SetRequestWithFirstDatablock(1, descriptor, None, DataBlockSA(False, 1, BLOCK)).encode()


def test_endless_set_datablocks_are_refused_at_the_size_cap() -> None:
    async def main() -> None:
        server = MeterServer([make_device()], limits=ServerLimits(max_block_transfer=500_000))
        running, port = await tcp(server)
        peer = await Peer.open(port)
        await peer.associate()
        answer = await peer.ask(first_set(CosemAttributeDescriptor(1, SERIAL, 2)))  # public may write it
        assert SetResponseDatablock.decode(answer).block_number == 1
        number = 1
        while True:
            number += 1
            answer = await peer.ask(SetRequestWithDatablock(1, DataBlockSA(False, number, BLOCK)).encode())
            if answer[1] != SetResponseDatablock.CHOICE:
                break
            assert number < 20
        last = SetResponseLastDatablock.decode(answer)
        assert last.result == DataAccessResult.LONG_SET_ABORTED
        assert number == 500_000 // len(BLOCK) + 1
        (association,) = server.associations()
        assert association.session.long_request is None  # nothing kept
        answer = await peer.ask(SetRequestWithDatablock(1, DataBlockSA(False, number + 1, BLOCK)).encode())
        assert SetResponseLastDatablock.decode(answer).result == DataAccessResult.NO_LONG_SET_IN_PROGRESS
        peer.close()
        await running.close()

    run(main)


def test_endless_action_pblocks_are_refused_at_the_size_cap() -> None:
    async def main() -> None:
        server = MeterServer([make_device()], limits=ServerLimits(max_block_transfer=300_000))
        running, port = await tcp(server)
        peer = await Peer.open(port)
        await peer.associate()
        method = CosemMethodDescriptor(3, ENERGY, 1)  # register reset: the public client may call it
        answer = await peer.ask(
            ActionRequestWithFirstPblock(1, method, DataBlockSA(False, 1, BLOCK)).encode()
        )
        assert answer[:2] == b"\xc7\x04"  # Action-Response-Next-Pblock
        number = 1
        while answer[:2] == b"\xc7\x04":
            number += 1
            answer = await peer.ask(ActionRequestWithPblock(1, DataBlockSA(False, number, BLOCK)).encode())
            assert number < 20
        response = ActionResponseNormal.decode(answer).single_response
        assert response.result == ActionResult.LONG_ACTION_ABORTED
        assert number == 300_000 // len(BLOCK) + 1
        peer.close()
        await running.close()

    run(main)


def test_endless_gbt_blocks_are_refused_at_the_size_cap() -> None:
    async def main() -> None:
        server = MeterServer([make_device()], limits=ServerLimits(max_block_transfer=400_000))
        running, port = await tcp(server)
        peer = await Peer.open(port)
        await peer.associate()
        for number in range(1, 8):  # streaming blocks: no acknowledgement expected
            await peer.send(GeneralBlockTransfer(False, True, 1, number, 0, BLOCK).encode())
        exception = ExceptionResponse.decode(await peer.receive())
        assert exception.service_error == ExceptionServiceError.PDU_TOO_LONG
        (association,) = server.associations()
        assert len(association.session.gbt.received) == 0
        # the association still works
        assert GetResponseNormal.decode(await peer.ask(GET_ENERGY)).result == 123456
        peer.close()
        await running.close()

    run(main)


def test_access_is_denied_at_the_first_block() -> None:
    async def main() -> None:
        server = MeterServer([make_device()])
        running, port = await tcp(server)
        peer = await Peer.open(port)
        await peer.associate()
        # the clock's time is read-only for the public client: refused at block 1, nothing kept
        answer = await peer.ask(first_set(CosemAttributeDescriptor(8, CLOCK, 2)))
        last = SetResponseLastDatablock.decode(answer)
        assert (last.result, last.block_number) == (DataAccessResult.READ_WRITE_DENIED, 1)
        answer = await peer.ask(SetRequestWithDatablock(1, DataBlockSA(False, 2, BLOCK)).encode())
        assert SetResponseLastDatablock.decode(answer).result == DataAccessResult.NO_LONG_SET_IN_PROGRESS
        # an object outside the association / a method it may not call
        answer = await peer.ask(first_set(CosemAttributeDescriptor(1, Obis.parse("0-0:96.1.9*255"), 2)))
        assert SetResponseLastDatablock.decode(answer).result == DataAccessResult.OBJECT_UNDEFINED
        method = CosemMethodDescriptor(8, CLOCK, 1)
        answer = await peer.ask(
            ActionRequestWithFirstPblock(1, method, DataBlockSA(False, 1, BLOCK)).encode()
        )
        assert ActionResponseNormal.decode(answer).single_response.result == ActionResult.READ_WRITE_DENIED
        (association,) = server.associations()
        assert association.session.long_request is None
        peer.close()
        await running.close()

    run(main)


# --------------------------------------------------------------------------------------------------
# 9. Connection caps


async def refused(peer: Peer) -> bool:
    """The server closed the connection without answering an AARQ."""
    peer.writer.write(WrapperFrame(16, 1, aarq()).encode())
    try:
        data = await asyncio.wait_for(peer.reader.read(100), 5)
    except ConnectionError:
        return True
    return data == b""


def test_tcp_connections_are_capped_per_source_and_in_total() -> None:
    async def main() -> None:
        server = MeterServer(
            [make_device()], limits=ServerLimits(max_connections=3, max_connections_per_source=2)
        )
        running, port = await tcp(server)
        first = [await Peer.open(port) for _ in range(2)]
        for peer in first:
            await peer.associate()
        assert await refused(await Peer.open(port))  # a third one from 127.0.0.1
        other = await Peer.open(port, source="127.0.0.2")  # another source may connect
        await other.associate()
        assert await refused(await Peer.open(port, source="127.0.0.3"))  # but the total is 3
        assert server.refused == 2
        first[0].close()
        await asyncio.sleep(0.2)
        again = await Peer.open(port)  # a place freed
        await again.associate()
        for peer in (*first, other, again):
            peer.close()
        await running.close()

    run(main)


def test_udp_peers_are_capped_per_source() -> None:
    server = MeterServer([make_device()], limits=ServerLimits(max_connections_per_source=2))
    frame = WrapperFrame(16, 1, aarq()).encode()
    answers = [datagrams(server, ("127.0.0.1", port), frame, T0) for port in (5000, 5001, 5002)]
    assert [len(a) for a in answers] == [1, 1, 0]
    assert len(datagrams(server, ("127.0.0.2", 5000), frame, T0)) == 1
    assert server.connection_count == 3


def test_pending_hls_associations_are_capped_per_source() -> None:
    from cosemnet.codec.acse import MechanismName
    from cosemnet.cosem.association_ln import CONTEXT_LN_NO_CIPHERING

    from .helpers import CTOS

    device = make_device(management_mechanism=3, management_context=CONTEXT_LN_NO_CIPHERING)  # HLS-MD5
    limits = ServerLimits(max_pending_associations_per_source=2)
    server = MeterServer([ServedDevice(device)], limits=limits)
    request = aarq(mechanism=MechanismName.HIGH_MD5, value=CTOS)
    results = []
    for port in range(3):
        conn = server.open_connection(T0, ("10.0.0.1", port))
        frames = apdus_of(feed(conn, WrapperFrame(1, 1, request).encode(), T0))
        results.append(AARE.decode(frames[0]).result)
    assert results == [AssociationResult.ACCEPTED] * 2 + [AssociationResult.REJECTED_TRANSIENT]
    conn = server.open_connection(T0, ("10.0.0.2", 1))
    frames = apdus_of(feed(conn, WrapperFrame(1, 1, request).encode(), T0))
    assert AARE.decode(frames[0]).result == AssociationResult.ACCEPTED


def apdus_of(data: bytes) -> list[bytes]:
    from cosemnet.codec.wrapper import WrapperStream

    return [f.apdu for f in WrapperStream().feed(data)]


# --------------------------------------------------------------------------------------------------
# 3. UDP: datagram budget, anti-amplification


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)


async def udp_client(port: int) -> tuple[asyncio.DatagramTransport, _Datagrams]:
    loop = asyncio.get_running_loop()
    return await loop.create_datagram_endpoint(_Datagrams, remote_addr=("127.0.0.1", port))


@pytest.mark.parametrize("conformance", [ALL, GBT_ONLY], ids=["get-blocks", "gbt"])
def test_udp_answers_never_exceed_the_datagram_budget(conformance: int) -> None:
    async def main() -> None:
        server = MeterServer([make_device(rows=1000)])
        running = await serve_udp(server, "127.0.0.1", 0)
        transport, protocol = await udp_client(running.addresses[0][1])
        sizes: list[int] = []

        async def ask(apdu: bytes) -> bytes:
            transport.sendto(WrapperFrame(16, 1, apdu).encode())
            datagram = await asyncio.wait_for(protocol.queue.get(), 5)
            sizes.append(len(datagram))
            return WrapperFrame.decode(datagram).apdu

        aare = AARE.decode(await ask(aarq(user_information=initiate(conformance, 0xFFFF).encode())))
        assert aare.result == AssociationResult.ACCEPTED
        assert isinstance(aare.user_information, bytes)
        response = InitiateResponse.decode(aare.user_information)
        assert response.server_max_receive_pdu_size == 1232 - HEADER_SIZE
        data = bytearray()
        answer = await ask(GET_PROFILE)
        if conformance == ALL:
            block = GetResponseWithDataBlock.decode(answer).result
            while True:
                assert isinstance(block.result, bytes)
                data += block.result
                if block.last_block:
                    break
                next_request = GetRequestNext(1, block.block_number).encode()
                block = GetResponseWithDataBlock.decode(await ask(next_request)).result
        else:
            gbt = GeneralBlockTransfer.decode(answer)
            while True:
                data += gbt.block_data
                if gbt.last_block:
                    break
                ack = GeneralBlockTransfer(False, False, 1, 1, gbt.block_number, b"").encode()
                gbt = GeneralBlockTransfer.decode(await ask(ack))
        assert len(data) > 20_000 and len(sizes) > 15
        assert max(sizes) <= 1232
        transport.close()
        await running.close()

    run(main)


def test_udp_answers_before_association_are_at_most_three_times_the_request() -> None:
    async def main() -> None:
        server = MeterServer([make_device()], limits=ServerLimits(udp_amplification_factor=1))
        running = await serve_udp(server, "127.0.0.1", 0)
        transport, protocol = await udp_client(running.addresses[0][1])
        # factor 1: the AARE (a little longer than this AARQ) is over the allowance: not sent
        short = aarq(user_information=initiate(0x10, 0xFFFF).encode())
        transport.sendto(WrapperFrame(16, 1, short).encode())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(protocol.queue.get(), 0.5)
        assert server.refused == 1
        transport.close()
        await running.close()
        # default factor 3: every answer before the association is within 3x its request
        server = MeterServer([make_device()])
        running = await serve_udp(server, "127.0.0.1", 0)
        transport, protocol = await udp_client(running.addresses[0][1])
        for apdu in (GET_PROFILE, b"\x00", short, GET_PROFILE):
            request = WrapperFrame(16, 1, apdu).encode()
            transport.sendto(request)
            answer = await asyncio.wait_for(protocol.queue.get(), 5)
            if apdu is short:
                assert AARE.decode(WrapperFrame.decode(answer).apdu).result == AssociationResult.ACCEPTED
                continue
            if apdu is not GET_PROFILE or len(server.associations()) == 0:
                assert len(answer) <= 3 * len(request)
        assert len(answer) > 3 * len(request)  # in the association: the profile answer is allowed
        transport.close()
        await running.close()

    run(main)


# --------------------------------------------------------------------------------------------------
# 11. GBT state does not survive into the next association


def gbt_round(association: ServerAssociation, window: int) -> list[GeneralBlockTransfer]:
    """A GET sent in two GBT blocks announcing ``window``; the server's GBT answer blocks."""
    request = GET_PROFILE
    first = GeneralBlockTransfer(False, False, window, 1, 0, request[:6]).encode()
    ack = answer_apdu(association, first, T0)
    assert GeneralBlockTransfer.decode(ack[0]).block_number_ack == 1
    last = GeneralBlockTransfer(True, False, window, 2, 0, request[6:]).encode()
    return [GeneralBlockTransfer.decode(a) for a in answer_apdu(association, last, T0)]


def test_gbt_window_and_acknowledgement_are_reset_by_a_new_association() -> None:
    association = ServerAssociation(ServedDevice(make_device(rows=300)), 16)
    small = aarq(user_information=initiate(GBT_ONLY, 256).encode())
    assert AARE.decode(answer_apdu(association, small, T0)[0]).result == AssociationResult.ACCEPTED
    blocks = gbt_round(association, window=5)
    assert len(blocks) == 5 and blocks[0].block_number_ack == 2  # the client's window, its blocks acked
    # a new AARQ on the same pair (the same TCP connection), then a GET in one plain APDU
    assert AARE.decode(answer_apdu(association, small, T0)[0]).result == AssociationResult.ACCEPTED
    answer = [GeneralBlockTransfer.decode(a) for a in answer_apdu(association, GET_PROFILE, T0)]
    assert len(answer) == 1  # window 1 again: nothing announced in this association
    assert answer[0].block_number == 1 and answer[0].block_number_ack == 0
    # the same after RLRQ + AARQ
    gbt_round(association, window=4)
    answer_apdu(association, bytes.fromhex("6200"), T0)
    assert not association.associated
    answer_apdu(association, small, T0)
    answer = [GeneralBlockTransfer.decode(a) for a in answer_apdu(association, GET_PROFILE, T0)]
    assert len(answer) == 1 and answer[0].block_number_ack == 0


def test_gbt_state_reset_over_tcp_on_the_same_connection() -> None:
    async def main() -> None:
        server = MeterServer([make_device(rows=300)])
        running, port = await tcp(server)
        peer = await Peer.open(port)
        await peer.associate(GBT_ONLY, 256)
        ack = GeneralBlockTransfer.decode(
            await peer.ask(GeneralBlockTransfer(False, False, 5, 1, 0, GET_PROFILE[:6]).encode())
        )
        assert ack.block_number_ack == 1
        await peer.send(GeneralBlockTransfer(True, False, 5, 2, 0, GET_PROFILE[6:]).encode())
        window = [GeneralBlockTransfer.decode(await peer.receive()) for _ in range(5)]
        assert [b.streaming for b in window] == [True] * 4 + [False]
        await peer.associate(GBT_ONLY, 256)  # a new association on the same connection
        first = GeneralBlockTransfer.decode(await peer.ask(GET_PROFILE))
        assert (first.block_number, first.block_number_ack, first.streaming) == (1, 0, False)
        with pytest.raises(TimeoutError):  # window 1: nothing more until acknowledged
            await asyncio.wait_for(peer.reader.read(1), 0.3)
        peer.close()
        await running.close()

    run(main)
