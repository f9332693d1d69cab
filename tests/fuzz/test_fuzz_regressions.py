"""The crashes the fuzz smoke run found, each with its minimal input (issue 9).

All were RecursionError (not a cosemnet error) from deeply nested JSON forms; now a JsonFormError
(``cosemnet encode``: one ``error:`` line, exit status 1).
"""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from cli.conftest import cosemnet_command
from cosemnet.codec.jsonform import (
    MAX_JSON_DEPTH,
    JsonFormError,
    data_from_json,
    encode_message_json,
    type_description_from_json,
)
from cosemnet.codec.xdlms import GetResponseNormal, SetResponseNormal
from cosemnet.codec.xdlms.common import DataAccessResult
from cosemnet.security.ciphering import SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.counters import ReplayGuard

from .test_fuzz_server import CLIENT_CONTEXT, AssociationTarget

SIGNED = {
    "apdu": "GeneralSigning",
    "transaction_id": "",
    "originator_system_title": "0000000000000000",
    "recipient_system_title": "0000000000000000",
    "date_time": "000000000000000000000000",
    "other_information": "",
    "content": "",
    "signature": "",
}


def _nested(depth: int, leaf: object, wrap: object) -> object:
    node = leaf
    for _ in range(depth):
        node = wrap(node)  # type: ignore[operator]
    return node


def test_data_nested_400_deep_is_a_json_form_error() -> None:
    value = _nested(400, {"null-data": None}, lambda n: {"array": [n]})
    with pytest.raises(JsonFormError, match=f"nested deeper than {MAX_JSON_DEPTH}"):
        data_from_json(value)
    with pytest.raises(JsonFormError):
        encode_message_json({"apdu": "GetResponseNormal", "invoke_id": 1, "result": value})


def test_compact_array_type_nested_2000_deep_is_a_json_form_error() -> None:
    description = _nested(2000, "unsigned", lambda n: {"array": {"count": 1, "element": n}})
    with pytest.raises(JsonFormError, match="nested deeper"):
        type_description_from_json(description)


def test_signed_content_nested_300_deep_is_a_json_form_error() -> None:
    document = _nested(300, "", lambda n: {**SIGNED, "content": n})
    with pytest.raises(JsonFormError, match="nested deeper"):
        encode_message_json(document)
    shallow = _nested(3, "", lambda n: {**SIGNED, "content": n})
    assert encode_message_json(shallow)[:1] == b"\xdf"  # real nesting still encodes


def test_encode_command_refuses_json_too_deep_for_the_json_module() -> None:
    text = "[" * 100_000 + "]" * 100_000 + "\n" + '{"apdu": "RLRQ"}\n'
    result = subprocess.run(
        [*cosemnet_command(), "encode"], input=text, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: line 1: JSON nested too deeply"
    assert result.stdout.split() == ["6200"]  # the next document still encodes


# --------------------------------------------------------------------------------------------------
# The simulated meter's clock (found by the server fuzz, ciphered management association)


def _management() -> tuple[AssociationTarget, SecurityContext]:
    """An established management association, and a client context to read its answers."""
    target = AssociationTarget(5)
    while target.association.client_sap != 1:
        target.reset()
    return target, dataclasses.replace(CLIENT_CONTEXT, invocation_counters={}, replay_guard=ReplayGuard())


def _ask(association: tuple[AssociationTarget, SecurityContext], plain: bytes, now: float) -> bytes:
    target, reader = association
    target.association.receive_apdu(protect_apdu(plain, CLIENT_CONTEXT, "general-glo"), now)
    (answer,) = target.association.pop_outgoing()
    return unprotect_apdu(answer, reader)[0]


def test_clock_set_thousands_of_years_ahead_is_not_a_crash() -> None:
    # minimal input: SET 8/0-0:1.0.0*255/2 to 4069-01-24 (OverflowError in the simulator's event log,
    # which logs the old time as "now - shift")
    management = _management()
    target = management[0]
    answer = _ask(
        management, bytes.fromhex("C101C100080000010000FF0200090C0FE50118FF0E303950FFC400"), target.now
    )
    assert SetResponseNormal.decode(answer).result == DataAccessResult.SUCCESS
    # 8999-01-01 is still in the clock's range, and the meter runs on past year 9000
    answer = _ask(
        management, bytes.fromhex("C101C100080000010000FF0200090C23270101FF000000000000FF"), target.now
    )
    assert SetResponseNormal.decode(answer).result == DataAccessResult.SUCCESS
    later = target.now + 366 * 86400
    clock = GetResponseNormal.decode(
        _ask(management, bytes.fromhex("C001C100080000010000FF0200"), later)
    ).result
    assert isinstance(clock, bytes) and int.from_bytes(clock[:2], "big") == 9000


def test_clock_set_near_the_end_of_datetime_is_refused() -> None:
    # 9999-12-31 23:59: accepted before, then every later access failed (OverflowError, clock and profiles)
    management = _management()
    target = management[0]
    answer = _ask(
        management, bytes.fromhex("C101C100080000010000FF0200090C270F0C1FFF173B0000800000"), target.now
    )
    assert SetResponseNormal.decode(answer).result == DataAccessResult.TYPE_UNMATCHED
    get_profile = bytes.fromhex("C001C100070100630100FF0200")
    assert GetResponseNormal.decode(_ask(management, get_profile, target.now + 2 * 86400)).invoke_id == 1
