"""Issue 9, findings 4 and 9: a captured ciphered session cannot be replayed (new association, server
restart), and wrong LLS passwords meet an exponential back-off and land in the meter's event log.
Over real loopback TCP sockets against the asyncio server."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest

from cosemnet.codec.acse import AARE, ApplicationContextName, AssociationResult, MechanismName
from cosemnet.codec.wrapper import HEADER_SIZE, WrapperFrame, WrapperHeader
from cosemnet.codec.xdlms import CosemAttributeDescriptor, ExceptionResponse, GetRequestNormal
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.server.asyncio_server import serve_tcp
from cosemnet.server.auth_limiter import AuthFailureLimiter, AuthLimits
from cosemnet.server.server import MeterServer

from .helpers import AK, CLIENT_TITLE, EK, ENERGY, LLS_SECRET, aarq, initiate, make_device


async def exchange(port: int, frames: list[tuple[int, bytes]]) -> list[bytes]:
    """One TCP connection: send each (client SAP, APDU) to server SAP 1 and read its answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for client_sap, apdu in frames:
            writer.write(WrapperFrame(client_sap, 1, apdu).encode())
            await writer.drain()
            header = WrapperHeader.decode(await reader.readexactly(HEADER_SIZE))
            answers.append(await reader.readexactly(header.length))
    finally:
        writer.close()
    return answers


def client_context(counter: MemoryInvocationCounter) -> SecurityContext:
    return SecurityContext(
        SecuritySuite.SUITE_0,
        SecurityPolicy.NOTHING,
        CLIENT_TITLE,
        None,
        KeySet(EK, AK),
        {KeyRole.GLOBAL_UNICAST: counter},
        role=Role.CLIENT,
    )


def ciphered_lls_session(client: SecurityContext) -> list[tuple[int, bytes]]:
    """AARQ (ciphered context, LLS, ciphered InitiateRequest) and a ciphered GET, client SAP 1."""
    request = aarq(
        context=ApplicationContextName.LN_CIPHERED,
        mechanism=MechanismName.LOW,
        value=LLS_SECRET,
        calling_ap_title=CLIENT_TITLE,
        user_information=protect_apdu(initiate().encode(), client, "general-glo"),
    )
    get = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()
    return [(1, request), (1, protect_apdu(get, client, "general-glo"))]


def test_a_captured_ciphered_session_is_not_replayed(tmp_path: Path) -> None:
    counter = MemoryInvocationCounter(1)

    async def main() -> None:
        captured = ciphered_lls_session(client_context(counter))

        async def serve() -> tuple[MeterServer, int, object]:
            server = MeterServer([make_device(management_mechanism=1)], state_dir=tmp_path)
            running = await serve_tcp(server, "127.0.0.1", 0)
            return server, running.addresses[0][1], running

        server, port, running = await serve()
        genuine = await exchange(port, captured)
        assert AARE.decode(genuine[0]).result == AssociationResult.ACCEPTED
        assert unprotect_apdu(genuine[1], client_context(MemoryInvocationCounter(1)))[0][:2] == b"\xc4\x01"
        # the same bytes on a new connection: the AARQ's counter is used up, so no association
        replayed = await exchange(port, captured[:1])
        assert AARE.decode(replayed[0]).result == AssociationResult.REJECTED_PERMANENT
        # a new genuine association, then the old GET inside it
        fresh = ciphered_lls_session(client_context(counter))
        answers = await exchange(port, [fresh[0], captured[1]])
        assert AARE.decode(answers[0]).result == AssociationResult.ACCEPTED
        assert ExceptionResponse.decode(answers[1]).invocation_counter is not None
        await running.close()  # type: ignore[attr-defined]
        server.close()
        # after a restart (same state directory): still refused
        server, port, running = await serve()
        replayed = await exchange(port, captured[:1])
        assert AARE.decode(replayed[0]).result == AssociationResult.REJECTED_PERMANENT
        await running.close()  # type: ignore[attr-defined]
        server.close()

    asyncio.run(main())
    assert (tmp_path / "replay-floors").exists()


def _sn_lls_aarq(password: bytes) -> bytes:
    return aarq(context=ApplicationContextName.SN, mechanism=MechanismName.LOW, value=password)


def test_wrong_lls_passwords_back_off_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("cosemnet.simulator")
    from cosemnet.cli.meter import load_devices
    from cosemnet.simulator.profile import DEFAULT_EVENT_CODES, EVENT_CODE_LN, EVENT_LOG_LN

    now = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()]
    (served,), _ = load_devices(None, now[0])
    event_log = served.device.find(7, EVENT_LOG_LN)
    rows_before = len(event_log.buffer)  # type: ignore[union-attr]
    limiter = AuthFailureLimiter(AuthLimits(free_failures=3, base_delay=10.0, max_delay=60.0))
    server = MeterServer([served], auth_limiter=limiter)
    right = _sn_lls_aarq(b"12345678")
    wrong = _sn_lls_aarq(b"wrong-password")

    async def main() -> None:
        running = await serve_tcp(server, "127.0.0.1", 0, clock=lambda: now[0])
        port = running.addresses[0][1]
        answers = await exchange(port, [(17, wrong)] * 3)
        assert [AARE.decode(a).result for a in answers] == [AssociationResult.REJECTED_PERMANENT] * 3
        # the 4th attempt, even with the right password, is refused without a check
        (blocked,) = await exchange(port, [(17, right)])
        assert AARE.decode(blocked).result == AssociationResult.REJECTED_TRANSIENT
        assert limiter.refused == 1
        # other client SAPs are not affected
        (public,) = await exchange(port, [(16, aarq())])
        assert AARE.decode(public).result == AssociationResult.ACCEPTED
        # after the back-off the password is checked again; another failure doubles the back-off
        now[0] += 10.5
        (checked,) = await exchange(port, [(17, wrong)])
        assert AARE.decode(checked).result == AssociationResult.REJECTED_PERMANENT
        now[0] += 10.5
        (still,) = await exchange(port, [(17, right)])
        assert AARE.decode(still).result == AssociationResult.REJECTED_TRANSIENT
        now[0] += 10.0
        (accepted,) = await exchange(port, [(17, right)])
        assert AARE.decode(accepted).result == AssociationResult.ACCEPTED
        await running.close()

    with caplog.at_level(logging.WARNING, logger="cosemnet.server.association"):
        asyncio.run(main())
    server.close()
    failures = [r for r in caplog.records if "authentication failure (LLS password)" in r.getMessage()]
    assert len(failures) == 4
    assert all("wrong-password" not in r.getMessage() and "12345678" not in r.getMessage() for r in failures)
    code = DEFAULT_EVENT_CODES["association_authentication_failure"]
    assert served.device.find(1, EVENT_CODE_LN).value == code  # type: ignore[union-attr]
    rows = event_log.buffer[rows_before:]  # type: ignore[union-attr]
    assert [row[-1] for row in rows].count(code) == 4


def test_limiter_memory_is_bounded_and_entries_expire() -> None:
    limiter = AuthFailureLimiter(
        AuthLimits(free_failures=0, base_delay=1.0, forget_after=5.0, max_entries=100)
    )
    for source in range(10_000):
        limiter.failure((1, f"10.0.{source // 256}.{source % 256}"), 0.0)
    assert len(limiter) == 100
    assert limiter.blocked_until((1, "10.0.39.15"), 0.5) is not None  # the newest are kept
    limiter.failure((1, "fresh"), 100.0)  # everything else expired and is forgotten
    assert len(limiter) == 1
