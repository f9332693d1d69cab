"""The tree view (in-process): every APDU class renders, and the names people look for are there."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from cosemnet.cli.messages import Keys, inspect
from cosemnet.cli.tree import TreeBuilder, TreeOptions, security_control_text, system_title_note
from cosemnet.codec.apdu import decode_apdu
from cosemnet.codec.jsonform import decode_nested_apdu, encode_message_json, message_to_json
from cosemnet.errors import DecodeError
from cosemnet.security.ciphering import SecurityContext, protect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite

from .corpus import AK, ALL_VECTORS, APDU_CLASS_NAMES, EK, SERVER_SYSTEM_TITLE, apdu_bytes


def _render(renderable: object) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("cls_name", APDU_CLASS_NAMES)
@given(data=st.data())
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
def test_every_apdu_class_renders(cls_name: str, data: st.DataObject) -> None:
    raw = data.draw(apdu_bytes(cls_name))
    builder = TreeBuilder(TreeOptions(max_items=3, max_bytes=8), decode_nested_apdu)
    text = _render(builder.apdu_tree(decode_apdu(raw)))
    assert text.startswith(cls_name + " (")
    assert f"{len(raw)} bytes)" in text.splitlines()[0]


def test_security_control_and_system_title_notes() -> None:
    assert security_control_text(0x30) == "suite 0, authenticated, encrypted, unicast key"
    assert security_control_text(0x71) == "suite 1, authenticated, encrypted, broadcast key"
    assert security_control_text(0x00) == "suite 0, no protection, unicast key"
    assert system_title_note(bytes.fromhex("4D4D4D0000BC614E")) == "MMM 12345678"
    assert system_title_note(bytes.fromhex("0102030405060708")) == ""


def test_every_key_option_decrypts_its_envelope() -> None:
    ek, ak = bytes.fromhex(EK), bytes.fromhex(AK)
    kek, dedicated, broadcast = bytes(range(16, 32)), bytes(range(48, 64)), bytes(range(32, 48))
    client_title = bytes.fromhex("4D4D4D0000000001")
    context = SecurityContext(
        suite=SecuritySuite.SUITE_0,
        policy=SecurityPolicy.NOTHING,
        system_title=client_title,
        peer_system_title=bytes.fromhex("4D4D4D0000BC614E"),
        keys=KeySet(ek=ek, ak=ak, kek=kek, dedicated_key=dedicated, broadcast_key=broadcast),
        invocation_counters={
            KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(5),
            KeyRole.GLOBAL_BROADCAST: MemoryInvocationCounter(9),
        },
    )
    plain = bytes.fromhex("C001C100080000010000FF0200")
    keys = Keys(
        ek=ek, ak=ak, kek=kek, dedicated_key=dedicated, broadcast_key=broadcast, system_title=client_title
    )
    messages = [
        protect_apdu(plain, context, "general-glo"),
        protect_apdu(plain, context, "general-ded"),
        protect_apdu(plain, context, "service-specific-ded"),
        protect_apdu(plain, context, "general-ciphering"),
        protect_apdu(plain, context, "general-ciphering-wrapped"),
        protect_apdu(plain, context, "general-glo", broadcast=True),
    ]
    for raw in messages:
        decoded = inspect(raw, keys)
        assert decoded.failures == []
        (result,) = decoded.decryptions.values()
        assert result.plaintext == plain
        text = _render(
            TreeBuilder(decode_nested=decode_nested_apdu, decryption=decoded.decryption_for).apdu_tree(
                decoded.message
            )
        )
        assert "decrypted → GetRequestNormal" in text
    # without the key a message needs, the failure says which key
    decoded = inspect(messages[4], Keys(ek=ek, ak=ak))
    assert [f.kind for f in decoded.failures] == ["security"]
    assert "key encrypting key" in decoded.failures[0].reason


def _mutations() -> st.SearchStrategy[bytes]:
    """Published vectors with a few bytes changed, cut or extended, and random bytes."""
    vectors = [bytes.fromhex(v) for v in ALL_VECTORS.values()]

    def mutate(raw: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
        data = bytearray(raw)
        for position, value in edits:
            data[position % len(data)] = value
        return bytes(data[: max(1, len(data) - cut)])

    return st.one_of(
        st.builds(
            mutate,
            st.sampled_from(vectors),
            st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3),
            st.integers(0, 3),
        ),
        st.binary(min_size=1, max_size=40),
    )


@given(raw=_mutations())
@settings(max_examples=300, deadline=None)
def test_any_input_decodes_or_is_a_decode_error_and_what_decodes_renders_and_round_trips(raw: bytes) -> None:
    keys = Keys(ek=bytes.fromhex(EK), ak=bytes.fromhex(AK), system_title=bytes.fromhex(SERVER_SYSTEM_TITLE))
    try:
        decoded = inspect(raw, keys)
    except DecodeError as exc:
        assert 0 <= exc.offset <= len(raw)
        return
    for failure in decoded.failures:
        assert failure.kind == "security" and failure.reason
    builder = TreeBuilder(TreeOptions(), decode_nested_apdu, decoded.decryption_for)
    assert _render(builder.apdu_tree(decoded.message))
    document = json.loads(json.dumps(message_to_json(decoded.message)))
    # the JSON layer is exact with respect to the decoded objects; it gives back ``raw`` itself
    # whenever the codecs do (A-XDR accepts a few non-canonical forms, e.g. boolean 0x02 or the
    # length 0x81 0x05, that re-encode canonically)
    assert encode_message_json(document) == decoded.message.encode()  # type: ignore[attr-defined]
