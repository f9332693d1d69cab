"""Fuzz smoke: the 62056-8-8 LON profile.

* codecs: 14908-1 frames (with and without CRC), NPDUs and their TPDU/SPDU/auth PDUs, LON APDUs and
  network management requests, CN/IP packets and datagrams (plain and MD5), ADP PDUs;
* the stack's receive path: frames heard by an OSGP meter's LonStack (CRC fixed after mutation for
  most inputs, so they get past the link layer) up through the ADP and the DLMS endpoint;
* the DLMS endpoint over the ADP: ADP PDUs handed to the meter's AdpService from the concentrator.

Only errors of cosemnet.errors may come out; see tests/fuzz/engine.py.
"""

from __future__ import annotations

import random

from cosemnet.profiles.lon.addresses import SubnetNodeAddress
from cosemnet.profiles.lon.adp import decode_adp_pdu
from cosemnet.profiles.lon.cnip import CnipPacket, decode_datagram
from cosemnet.profiles.lon.crc import crc_bytes
from cosemnet.profiles.lon.frames import LonFrame
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage, NetworkManagement
from cosemnet.profiles.lon.lon_apdu import decode_apdu as decode_lon_apdu
from cosemnet.profiles.lon.netmgmt import decode_nm_request
from cosemnet.profiles.lon.npdu import Npdu
from cosemnet.simulator.osgp_meter import OsgpSegment, build_osgp_segment

from . import corpus
from .engine import attempt, fuzz

SECRET = bytes(16)


def _frame(data: bytes) -> None:
    fixed = data[:-2] + crc_bytes(data[:-2]) if len(data) > 2 else data
    for raw in (data, fixed):
        attempt(LonFrame.decode, raw)
    attempt(LonFrame.decode, data, crc=False)
    if len(data) > 3:
        attempt(_npdu, data[1:-2])


def _npdu(data: bytes) -> None:
    npdu = Npdu.decode(data)
    apdu = getattr(npdu.pdu, "apdu", None)
    if isinstance(apdu, NetworkManagement):
        decode_nm_request(apdu)


def test_fuzz_lon_frames() -> None:
    fuzz("14908-1 frames", corpus.lon_frames(), _frame, 10000, seed=31).check()


def _lon_apdu(data: bytes) -> None:
    apdu = decode_lon_apdu(data)
    if isinstance(apdu, NetworkManagement):
        decode_nm_request(apdu)


def test_fuzz_lon_apdus_and_network_management() -> None:
    seeds = [f[1:-2] for f in corpus.lon_frames()]  # NPDUs: their APDUs are the tails
    seeds = [s[i:] for s in seeds for i in range(0, len(s), 5)][:200]
    fuzz("LON APDUs / network management", seeds, _lon_apdu, 5000, seed=32).check()


def _cnip(data: bytes) -> None:
    attempt(decode_datagram, data)
    attempt(decode_datagram, data, SECRET)
    attempt(CnipPacket.decode, data, secret=SECRET)
    CnipPacket.decode(data)


def test_fuzz_cnip() -> None:
    fuzz("CN/IP packets", corpus.cnip_packets(), _cnip, 6000, seed=33).check()


def test_fuzz_adp_pdus() -> None:
    fuzz("ADP PDUs", corpus.adp_pdus(), decode_adp_pdu, 6000, seed=34).check()


# --------------------------------------------------------------------------------------------------
# Stateful: an OSGP meter on a simulated segment


class MeterTarget:
    """The first meter of a one-meter segment; inputs are frames it hears or ADP PDUs it receives."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.segment: OsgpSegment = build_osgp_segment(1, seed=seed)
        self.now = 0.0

    def reset(self) -> None:
        self.segment = build_osgp_segment(1, seed=self.rng.randrange(1000))
        self.now = 0.0

    @property
    def endpoint(self):  # type: ignore[no-untyped-def]
        return self.segment.meters[0].endpoint

    def advance(self) -> None:
        self.now += self.rng.choice((0.01, 0.1, 0.5, 2.0))
        self.endpoint.stack.handle_timer(self.now)
        self.endpoint.pump(self.now)

    def frame(self, data: bytes) -> None:
        if self.rng.random() < 0.75 and len(data) > 2:
            data = data[:-2] + crc_bytes(data[:-2])  # a valid CRC again: past the link layer
        self.endpoint.stack.receive_frame(data, self.now)
        self.advance()

    def adp(self, data: bytes) -> None:
        endpoint = self.endpoint
        source = SubnetNodeAddress(1, self.rng.choice((1, 1, 1, 2, 99)))
        endpoint.adp.message_received(
            source, ApplicationMessage(endpoint.adp.config.message_code, data), self.now
        )
        self.advance()

    def replay_frame(self, data: bytes) -> None:
        self.reset()
        for fixed in (data, data[:-2] + crc_bytes(data[:-2])):
            self.endpoint.stack.receive_frame(fixed, self.now)
            self.advance()

    def replay_adp(self, data: bytes) -> None:
        self.reset()
        self.adp(data)


def test_fuzz_lon_stack_receive() -> None:
    target = MeterTarget(35)
    fuzz(
        "LonStack.receive_frame (meter, up to DLMS)",
        corpus.meter_frames() + corpus.lon_frames(),
        target.frame,
        16000,
        seed=35,
        reset=target.reset,
        reset_every=400,
        replay=target.replay_frame,
    ).check()


def test_fuzz_lon_dlms_endpoint_over_adp() -> None:
    target = MeterTarget(36)
    fuzz(
        "LonMeterEndpoint over ADP",
        corpus.adp_pdus(),
        target.adp,
        16000,
        seed=36,
        reset=target.reset,
        reset_every=400,
        replay=target.replay_adp,
    ).check()
