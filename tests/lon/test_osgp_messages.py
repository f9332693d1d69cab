"""OSGP-AES-128-PSK management messages (Tables D.3-D.6, D.14-D.17, decision 0043), the key file, and a
fuzz of the protected receive path: nothing but a counted rejection ever comes out of bad input."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosemnet.errors import DecodeError
from cosemnet.profiles.lon.adp import ADP_MESSAGE_CODE
from cosemnet.profiles.lon.lon_apdu import ApplicationMessage
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore, KeyStoreError
from cosemnet.profiles.lon.osgp_aes.messages import (
    OSGP_SECURITY_MESSAGE_CODE,
    AuthenticationFailure,
    ChallengeRequest,
    ChallengeResponse,
    CommissionRequest,
    CommissionResponse,
    LongTermKeyUpdateRequest,
    LongTermKeyUpdateResponse,
    SecurityMessage,
    SequenceError,
    UpdateDomainKeysRequest,
    UpdateDomainKeysResponse,
    decode_security_message,
)
from cosemnet.profiles.lon.sap import NNAP_CLIENT

from .osgp_net import NNAP_ADDRESS, NNAP_ID, Net

R8 = bytes(range(8))
MAC = b"\xaa" * 8
NID = bytes.fromhex("4c4f4e010001")

MESSAGES: list[tuple[SecurityMessage, int]] = [
    (ChallengeRequest(1, NNAP_ID, R8, (1,)), 18),
    (ChallengeResponse(0, 1, 1, NID, R8, MAC), 26),
    (CommissionRequest(3, 86400, R8, R8, MAC), 30),
    (CommissionResponse(0, 3, MAC), 11),
    (UpdateDomainKeysRequest(3, 7, 2, 604800, b"\x01" * 24), 35),
    (UpdateDomainKeysResponse(0, 3, 2, MAC), 12),
    (LongTermKeyUpdateRequest(3, 8, 2, b"\x02" * 24), 31),
    (LongTermKeyUpdateResponse(0, 3, 2, MAC), 12),
    (AuthenticationFailure(1, NID, 3, 99, MAC), 21),
    (SequenceError(NID, 3, 5, 70, MAC), 24),
]


@pytest.mark.parametrize(("message", "length"), MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_and_strictness(message: SecurityMessage, length: int) -> None:
    wire = message.encode()
    assert len(wire) == length and wire[0] == message.TYPE
    assert decode_security_message(wire) == message
    for bad in (wire[:-1], wire + b"\x00", b"\x7f" + wire[1:]):
        with pytest.raises(DecodeError):
            decode_security_message(bad)


def test_challenge_request_layout() -> None:
    assert ChallengeRequest(1, NNAP_ID, R8, (1, 0)).encode().hex() == (
        "01" + "01" + NNAP_ID.hex() + R8.hex() + "02" + "0100"
    )


@given(st.binary(max_size=64))
def test_decoder_is_strict_and_canonical(data: bytes) -> None:
    try:
        message = decode_security_message(data)
    except DecodeError:
        return
    assert message.encode() == data


def test_key_store_file(tmp_path: Path) -> None:
    store = KeyStore()
    store.provision(NID, b"\x42" * 16)
    store.domain_key, store.domain_key_id = b"\x24" * 16, 3
    path = tmp_path / "keys.json"
    store.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "4242" in path.read_text()  # plain form: the keys are in the file, never in the repr
    assert "42" not in repr(store) and "24" * 4 not in repr(store)
    loaded = KeyStore.load(path)
    entry = loaded.entry(NID)
    assert entry is not None and entry.current.key == b"\x42" * 16 and loaded.domain_key_id == 3
    os.chmod(path, 0o644)
    with pytest.raises(KeyStoreError, match="accessible to others"):
        KeyStore.load(path)


def test_key_store_wrapped_with_a_kek(tmp_path: Path) -> None:
    store = KeyStore()
    store.provision(NID, b"\x42" * 16)
    kek = b"\x07" * 16
    path = tmp_path / "keys.json"
    store.save(path, kek=kek)
    assert "4242" not in path.read_text()
    entry = KeyStore.load(path, kek=kek).entry(NID)
    assert entry is not None and entry.current.key == b"\x42" * 16
    with pytest.raises(KeyStoreError, match="does not unwrap"):
        KeyStore.load(path, kek=b"\x08" * 16)
    with pytest.raises(KeyStoreError, match="wrapped"):
        KeyStore.load(path)
    path.write_text("{nonsense")
    os.chmod(path, 0o600)
    with pytest.raises(KeyStoreError, match="malformed"):
        KeyStore.load(path)


@pytest.fixture(scope="module")
def genuine() -> tuple[Net, list[bytes]]:
    net = Net(1)
    net.commission_all()
    for i in range(3):
        net.nnap.adp.data_request(NNAP_CLIENT, 1, b"\xc0\x01\xc1" + bytes([i]) * 20, net.now)
    net.nnap.adp.address_table.bind(1, net.meters[0].address)
    for i in range(3):
        net.nnap.adp.data_request(NNAP_CLIENT, 1, b"\xc0\x01\xc1" + bytes([i]) * 20, net.now)
    net.run()
    frames = [f.apdu.data for f in net.log if f.apdu.code == ADP_MESSAGE_CODE]
    assert len(frames) == 3
    return net, frames


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.data(),
    st.sampled_from(["flip", "truncate", "extend", "random", "replay"]),
    st.sampled_from([ADP_MESSAGE_CODE, OSGP_SECURITY_MESSAGE_CODE]),
)
def test_fuzz_receive_path(
    genuine: tuple[Net, list[bytes]], data: st.DataObject, how: str, code: int
) -> None:
    net, frames = genuine
    meter = net.meters[0]
    meter.indications()
    base = data.draw(st.sampled_from(frames))
    if how == "flip":
        i = data.draw(st.integers(0, len(base) - 1))
        wire = base[:i] + bytes([base[i] ^ data.draw(st.integers(1, 255))]) + base[i + 1 :]
    elif how == "truncate":
        wire = base[: data.draw(st.integers(0, len(base) - 1))]
    elif how == "extend":
        wire = base + data.draw(st.binary(min_size=1, max_size=8))
    elif how == "random":  # in the protected form (unprotected PDUs on unprotected SAPs are legitimate)
        wire = data.draw(st.binary(max_size=80))
        wire = bytes([wire[0] | 0x80]) + wire[1:] if wire and code == ADP_MESSAGE_CODE else wire
    else:
        wire = base
    drops = len(meter.adp.drain_events())
    assert drops == 0
    meter.adp.message_received(NNAP_ADDRESS, ApplicationMessage(code, wire), net.now)
    net.queue.clear()  # error messages the meter answers with
    events = meter.adp.drain_events()
    assert not any(type(e).__name__ == "AdpDataIndication" for e in events)  # nothing bad is ever delivered
    if code == ADP_MESSAGE_CODE:
        assert len(events) == 1 and type(events[0]).__name__ == "AdpDropped"  # each one dropped with a reason


@pytest.fixture(scope="module")
def handshake() -> tuple[Net, list[tuple[bool, bytes]]]:
    net = Net(1)
    net.commission_all()
    net.nnap_security.update_domain_key(net.now)
    net.run()
    net.nnap_security.update_long_term_key(net.meters[0].address, net.now)
    net.run()
    messages = [
        (f.sender == NNAP_ADDRESS, f.apdu.data) for f in net.log if f.apdu.code == OSGP_SECURITY_MESSAGE_CODE
    ]
    assert len(messages) >= 8
    return net, messages


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_management_messages_both_ends(
    handshake: tuple[Net, list[tuple[bool, bytes]]], data: st.DataObject
) -> None:
    net, messages = handshake
    from_nnap, base = data.draw(st.sampled_from(messages))
    how = data.draw(st.sampled_from(["flip", "truncate", "replay", "swap"]))
    if how == "flip":
        i = data.draw(st.integers(0, len(base) - 1))
        wire = base[:i] + bytes([base[i] ^ data.draw(st.integers(1, 255))]) + base[i + 1 :]
    elif how == "truncate":
        wire = base[: data.draw(st.integers(0, len(base) - 1))]
    elif how == "swap":  # a message of one end handed to the other
        from_nnap = not from_nnap
        wire = base
    else:
        wire = base
    meter = net.meters[0]
    receiver, source = (meter.adp, NNAP_ADDRESS) if from_nnap else (net.nnap.adp, meter.address)
    established = net.nnap_security.established(meter.address)
    receiver.message_received(source, ApplicationMessage(OSGP_SECURITY_MESSAGE_CODE, wire), net.now)
    net.run()  # whatever the ends answer: nothing escapes, the channel survives
    assert net.nnap_security.established(meter.address) == established
