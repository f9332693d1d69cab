"""LonStack over CN/IP (ISO/IEC 14908-4) on loopback UDP, in one process and across processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from cosemnet.profiles.lon import (
    ApplicationMessage,
    CnipPacket,
    LonFrame,
    Npdu,
    SubnetNodeAddress,
    decode_datagram,
)
from cosemnet.profiles.lon.cnip_transport import CnipTransport
from cosemnet.profiles.lon.node import LonNode
from cosemnet.profiles.lon.stack import Completed, Event, LonStack, MessageReceived, ResponseReceived, Service

DOMAIN = b"\x42"
SECRET = bytes(range(16))


def stack(i: int) -> LonStack:
    return LonStack(LonNode.configured_in(bytes((2, 0, 0, 0, 0, i)), DOMAIN, 1, i))


async def wait_for(transport: CnipTransport, kind: type[Event], timeout: float = 5.0) -> Event:
    while True:
        event = await transport.next_event(timeout)
        if isinstance(event, kind):
            return event


async def pair(secret_a: bytes | None, secret_b: bytes | None) -> tuple[CnipTransport, CnipTransport]:
    a = CnipTransport(stack(1), secret=secret_a)
    b = CnipTransport(stack(2), secret=secret_b)
    addr_a = await a.start()
    addr_b = await b.start()
    a.add_peer(addr_b)
    b.add_peer(addr_a)
    return a, b


@pytest.mark.parametrize("secret", [None, SECRET])
def test_request_response_over_loopback(secret: bytes | None) -> None:
    async def main() -> None:
        a, b = await pair(secret, secret)
        try:
            handle = a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"ping"), Service.REQUEST)
            request = await wait_for(b, MessageReceived)
            assert isinstance(request, MessageReceived) and request.apdu == ApplicationMessage(0x10, b"ping")
            assert b.respond(request.request_id, ApplicationMessage(0x11, b"pong"))
            response = await wait_for(a, ResponseReceived)
            assert response == ResponseReceived(handle, 1, 2, ApplicationMessage(0x11, b"pong"))
            assert await wait_for(a, Completed) == Completed(handle, True)
            handle = a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x12, b"ackd"))
            assert await wait_for(a, Completed) == Completed(handle, True)
            assert a.rejected == b.rejected == 0
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_wrong_secret_is_rejected_and_the_send_fails() -> None:
    async def main() -> None:
        a, b = await pair(SECRET, bytes(16))
        try:
            handle = a.send(
                SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"x"), retry_count=1, tx_timer=4
            )
            assert await wait_for(a, Completed) == Completed(handle, False)
            assert b.rejected == 2 and b.stack.statistics.transmission_errors == 2
            assert b.stack.pop_events() == []
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_packets_on_the_wire_are_cnip_data_packets_with_digest() -> None:
    async def main() -> None:
        received: list[bytes] = []
        loop = asyncio.get_running_loop()

        class Sniff(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                received.append(data)

        sniff, _ = await loop.create_datagram_endpoint(Sniff, local_addr=("127.0.0.1", 0))
        a = CnipTransport(stack(1), secret=SECRET, peers=[sniff.get_extra_info("sockname")[:2]])
        await a.start()
        try:
            a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"wire"), Service.UNACKD)
            for _ in range(50):
                if received:
                    break
                await asyncio.sleep(0.01)
        finally:
            await a.close()
            sniff.close()
        (packet,) = decode_datagram(received[0], SECRET)
        assert packet.security and packet.sequence_number == 1 and packet.session_id == a.session_id
        expected = LonFrame(Npdu(1, 1, SubnetNodeAddress(1, 2), ApplicationMessage(0x10, b"wire"), DOMAIN))
        assert packet.lon_frame() == expected
        assert received[0] == CnipPacket(
            payload=expected.encode(crc=False),
            session_id=a.session_id,
            sequence_number=1,
            timestamp=packet.timestamp,
            security=True,
        ).encode(SECRET)

    asyncio.run(main())


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from cosemnet.profiles.lon import ApplicationMessage
    from cosemnet.profiles.lon.cnip_transport import CnipTransport
    from cosemnet.profiles.lon.node import LonNode
    from cosemnet.profiles.lon.stack import LonStack, MessageReceived

    async def main():
        secret = bytes(range(16)) if sys.argv[1] == "secret" else None
        node = LonStack(LonNode.configured_in(bytes((3, 0, 0, 0, 0, 2)), b"\\x42", 1, 2))
        t = CnipTransport(node, secret=secret)
        host, port = await t.start()
        print(port, flush=True)
        peer_port = int(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
        t.add_peer(("127.0.0.1", peer_port))
        while True:
            event = await t.next_event(10.0)
            if isinstance(event, MessageReceived) and event.request_id:
                data = event.apdu.encode()[1:]
                t.respond(event.request_id, ApplicationMessage(0x11, data.upper()))
                if data == b"bye":
                    await asyncio.sleep(0.5)
                    break
        await t.close()

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("mode", ["secret", "plain"])
def test_request_response_with_a_node_in_another_process(mode: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        child_port = int(child.stdout.readline())

        async def main() -> None:
            assert child.stdin is not None
            a = CnipTransport(
                stack(1), secret=SECRET if mode == "secret" else None, peers=[("127.0.0.1", child_port)]
            )
            _, port = await a.start()
            child.stdin.write(f"{port}\n")
            child.stdin.flush()
            try:
                for word in (b"hello", b"bye"):
                    handle = a.send(SubnetNodeAddress(1, 2), ApplicationMessage(0x10, word), Service.REQUEST)
                    response = await wait_for(a, ResponseReceived, 10.0)
                    assert response == ResponseReceived(handle, 1, 2, ApplicationMessage(0x11, word.upper()))
                    assert await wait_for(a, Completed, 10.0) == Completed(handle, True)
            finally:
                await a.close()

        asyncio.run(main())
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_claim_events_takes_its_events_first_and_on_event_gets_the_rest() -> None:
    """The ATM manager's hook: ``claim_events`` runs after every stack input and takes (with
    ``take_events``) what it wants before the rest goes to ``on_event``; with ``on_event`` nothing piles
    up for ``next_event`` (memory stays bounded on a long run)."""

    async def main() -> None:
        claimed: list[Event] = []
        others: list[Event] = []
        b_stack = stack(2)

        def claim(now: float) -> bool:
            taken = b_stack.take_events(lambda e: isinstance(e, MessageReceived) and e.apdu.code == 0x0F)
            claimed.extend(taken)
            return False

        a = CnipTransport(stack(1))
        b = CnipTransport(b_stack, on_event=others.append, claim_events=claim)
        a.add_peer(await b.start())
        b.add_peer(await a.start())
        try:
            for code in (0x0F, 0x10, 0x0F):
                a.send(SubnetNodeAddress(1, 2), ApplicationMessage(code, b"x"), Service.ACKD)
            for _ in range(3):
                await wait_for(a, Completed)
            assert [e.apdu.code for e in claimed if isinstance(e, MessageReceived)] == [0x0F, 0x0F]
            assert [e.apdu.code for e in others if isinstance(e, MessageReceived)] == [0x10]
            with pytest.raises(TimeoutError):
                await b.next_event(0.05)
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())
