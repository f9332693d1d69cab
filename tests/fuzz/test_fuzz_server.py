"""Fuzz smoke: the meter server's receive paths in front of the simulated meter.

* ServerAssociation.receive_apdu, directly, after a valid association (public or HLS-GMAC ciphered);
* MeterServer.receive_datagram (UDP: one wrapper frame per datagram);
* ServerConnection.receive_data (TCP: a byte stream of wrapper frames cut at random places).

Each episode replays the opening of a recorded session (AARQ, and the HLS pass 3 for the management
client) and then mixes mutated and valid APDUs of it, so block transfers and ciphered contexts are
reached. Only errors of cosemnet.errors may come out; see tests/fuzz/engine.py.
"""

from __future__ import annotations

import random

from cosemnet.client.connection import DEFAULT_CLIENT_SYSTEM_TITLE
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.server import ServedDevice
from cosemnet.server.association import ServerAssociation
from cosemnet.simulator import build_meter

from . import corpus
from .engine import Mutator, fuzz

NOW = corpus.NOW


def _served() -> ServedDevice:
    meter = build_meter(serial=1, start=corpus.START)
    return ServedDevice(meter.device, effects=meter.effects)


CLIENT_CONTEXT = SecurityContext(
    SecuritySuite.SUITE_0,
    SecurityPolicy(0x3C | 0x40),
    DEFAULT_CLIENT_SYSTEM_TITLE,
    None,
    KeySet(corpus.EK, corpus.AK),
    {KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(1_000_000)},
    role=Role.CLIENT,
)
"""The management client's keys (the recorded session's AARQ): ciphers plaintext fuzz inputs."""


def _seeds() -> list[bytes]:
    return [apdu for _, session in corpus.server_sessions() for apdu in session]


def _requests() -> list[bytes]:
    """The sessions' APDUs and every request vector of the codec corpus (plain xDLMS, SN, GBT)."""
    requests = [a for a in corpus.apdus() if a and a[0] in (0xC0, 0xC1, 0xC3, 0x05, 0x06, 0xE0, 0x62)]
    return _seeds() + requests


class AssociationTarget:
    """One ServerAssociation per episode; the session's opening APDUs first, then the input."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.served = _served()
        self.now = NOW
        self.association = ServerAssociation(self.served, 16)
        self.session: list[bytes] = []
        self.reset()

    def reset(self) -> None:
        sap, self.session = self.rng.choice(corpus.server_sessions())
        self.served = _served()  # fresh counters and object state every episode
        self.association = ServerAssociation(self.served, sap, challenge_factory=lambda: corpus.STOC)
        self.open()

    def feed(self, apdu: bytes, now: float) -> None:
        self.association.receive_apdu(apdu, now)
        self.association.pop_outgoing()

    def open(self) -> None:
        """AARQ (+ the HLS pass 3: reply_to_HLS_authentication) of the episode's session."""
        for apdu in self.session[: 2 if self.association.client_sap == 1 else 1]:
            self.feed(apdu, self.now)

    def run(self, data: bytes) -> None:
        self.now += 0.5
        if not self.association.associated and self.rng.random() < 0.8:
            self.open()  # most inputs reach an established association
        if self.rng.random() < 0.2:  # a valid APDU of the session in between: move the state on
            self.feed(self.rng.choice(self.session), self.now)
        if self.association.client_sap == 1 and self.rng.random() < 0.6:
            # the input as the plaintext of a valid general-glo envelope: past the crypto checks
            data = protect_apdu(data, CLIENT_CONTEXT, "general-glo")
        self.feed(data, self.now)

    def replay(self, data: bytes) -> None:
        self.reset()
        self.feed(data, self.now)


def test_fuzz_server_association() -> None:
    target = AssociationTarget(11)
    outcome = fuzz(
        "ServerAssociation.receive_apdu",
        _requests(),
        target.run,
        30000,
        seed=11,
        reset=target.reset,
        reset_every=25,
        replay=target.replay,
    )
    outcome.check()


class DatagramTarget:
    """MeterServer over UDP: datagrams from a few peers, wrapper frames around mutated APDUs."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.mutator = Mutator(self.rng, _seeds())
        self.server = corpus.simulated_server()
        self.now = NOW

    def datagram(self, peer: tuple[str, int], data: bytes, now: float) -> None:
        self.server.receive_datagram(peer, data, now)
        self.server.pop_outgoing()

    def reset(self) -> None:
        self.server = corpus.simulated_server()
        for sap, session in corpus.server_sessions():
            opening = 2 if sap == 1 else 1
            for apdu in session[:opening]:
                self.datagram(("peer", sap), WrapperFrame(sap, 1, apdu).encode(), self.now)

    def run(self, data: bytes) -> None:
        self.now += 0.25
        sap = self.rng.choice((1, 16, 16, 17, self.rng.randrange(0x10000)))
        if self.rng.random() < 0.7:
            datagram = WrapperFrame(sap, self.rng.choice((1, 1, 1, 0, 0x7F)), data).encode()
        else:
            datagram = self.mutator.input() if self.rng.random() < 0.5 else data
        self.datagram(("peer", sap), datagram, self.now)
        if self.rng.random() < 0.01:
            self.server.handle_timer(self.now + 3600)
            self.server.pop_events()

    def replay(self, data: bytes) -> None:
        self.reset()
        for sap in (1, 16):
            self.datagram(("peer", sap), WrapperFrame(sap, 1, data).encode(), self.now)
        self.datagram(("peer", 16), data, self.now)


def test_fuzz_meter_server_datagrams() -> None:
    target = DatagramTarget(12)
    fuzz(
        "MeterServer.receive_datagram",
        _seeds(),
        target.run,
        16000,
        seed=12,
        reset=target.reset,
        reset_every=200,
        replay=target.replay,
    ).check()


class StreamTarget:
    """MeterServer over TCP: one connection gets valid and mutated frames, cut into random chunks."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.server = corpus.simulated_server()
        self.connection = self.server.open_connection(NOW)
        self.now = NOW

    def feed(self, data: bytes, now: float) -> None:
        self.connection.receive_data(data, now)
        self.connection.pop_outgoing()

    def reset(self) -> None:
        self.server.close()
        self.server = corpus.simulated_server()
        self.connection = self.server.open_connection(self.now)
        sap, session = self.rng.choice(corpus.server_sessions())
        for apdu in session[: 2 if sap == 1 else 1]:
            self.feed(WrapperFrame(sap, 1, apdu).encode(), self.now)

    def run(self, data: bytes) -> None:
        self.now += 0.25
        if self.connection.closed:
            self.connection = self.server.open_connection(self.now)
        sap = self.rng.choice((1, 16))
        stream = WrapperFrame(sap, 1, data).encode() if self.rng.random() < 0.8 else data
        pos = 0
        while pos < len(stream):
            step = self.rng.randrange(1, 64)
            self.feed(stream[pos : pos + step], self.now)
            pos += step

    def replay(self, data: bytes) -> None:
        self.reset()
        self.feed(WrapperFrame(16, 1, data).encode(), self.now)
        self.feed(WrapperFrame(1, 1, data).encode(), self.now)


def test_fuzz_tcp_server_connection() -> None:
    target = StreamTarget(13)
    fuzz(
        "ServerConnection.receive_data",
        _seeds(),
        target.run,
        16000,
        seed=13,
        reset=target.reset,
        reset_every=100,
        replay=target.replay,
    ).check()
