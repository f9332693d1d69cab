"""``cosemnet decode`` (tree and JSON), ``cosemnet encode`` and the pipe between them, as real processes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import RunCli
from .corpus import AK, ALL_VECTORS, APDU_CLASS_NAMES, EK, SERVER_SYSTEM_TITLE, SUITE0_VECTORS, apdu_bytes

KEYS = ("--ek", EK, "--ak", AK)
TREE_CHARS = "│├└ "


def _roots(tree_text: str) -> list[str]:
    """The first line of every tree (lines that do not start with tree drawing characters)."""
    return [line for line in tree_text.splitlines() if line and line[0] not in TREE_CHARS]


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


# --------------------------------------------------------------------------------------------------
# Every published vector, tree and JSON

EXPECTED_ROOTS = {
    "aarq_ln": "AARQ",
    "aare_accepted": "AARE",
    "aarq_hls_gmac": "AARQ",
    "aare_hls_gmac": "AARE",
    "rlrq": "RLRQ",
    "get_request": "GetRequestNormal",
    "get_response": "GetResponseNormal",
    "set_request": "SetRequestNormal",
    "set_response": "SetResponseNormal",
    "action_request": "ActionRequestNormal",
    "action_response": "ActionResponseNormal",
    "aarq_ciphered": "AARQ",
    "auth_only": "ServiceSpecificCiphered",
    "enc_only": "ServiceSpecificCiphered",
    "auth_enc": "ServiceSpecificCiphered",
    "wrapped_get": "WrapperFrame",
}


def test_tree_of_every_vector(run_cli: RunCli) -> None:
    names = list(ALL_VECTORS)
    result = run_cli("decode", "-", stdin="\n".join(ALL_VECTORS[n] for n in names) + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    roots = _roots(result.stdout)
    assert [root.split(" ")[0] for root in roots] == [EXPECTED_ROOTS[n] for n in names]
    out = result.stdout
    # names where the standard has them
    for text in (
        "instance_id: 0-0:43.1.0*255 (Invocation counter)",  # OBIS names
        "class_id: 1 (Data)",  # interface class names
        "class_id: 15 (Association LN)",
        "instance_id: 0-0:40.0.0*255 (Current association)",
        "result: double-long-unsigned 5009",  # Data types
        "date-time 2021-01-24 14:48:57.80 UTC+01:00",  # a date-time hidden in an octet-string
        "mechanism_name: HIGH_GMAC (5)",  # enumeration names
        "result: ACCEPTED (0)",
        "user_information: InitiateRequest",  # ACSE user-information decoded as an xDLMS APDU
        "user_information: InitiateResponse",
        "client_max_receive_pdu_size: 65535",
        "calling_ap_title: 4D4D4D0000BC614E (MMM 12345678)",
        "user_information: ServiceSpecificCiphered (glo-initiate-request 0x21",
        "security_control: 0x30 (suite 0, authenticated, encrypted, unicast key)",  # envelope without keys
        "invocation_counter: 19088743 (0x01234567)",
        "security_control: 0x10 (suite 0, authenticated, unicast key)",
        "security_control: 0x20 (suite 0, encrypted, unicast key)",
        "source_wport: 16 (public client)",  # the wrapper frame as the outer node
        "apdu: GetRequestNormal",
    ):
        assert text in out, text
    assert "decrypted" not in out  # no keys, no plaintext


def test_json_of_every_vector_and_back(run_cli: RunCli) -> None:
    names = list(ALL_VECTORS)
    text = "\n".join(ALL_VECTORS[n] for n in names) + "\n"
    decoded = run_cli("decode", "--json", "-", stdin=text)
    assert decoded.returncode == 0, decoded.stderr
    documents = _json_lines(decoded.stdout)
    assert len(documents) == len(names)
    for name, document in zip(names, documents, strict=True):
        if name == "wrapped_get":
            assert document["wrapper"] == {"source_wport": 16, "destination_wport": 1}
            assert document["apdu"]["apdu"] == "GetRequestNormal"  # type: ignore[index]
        else:
            assert document["apdu"] == EXPECTED_ROOTS[name]
    set_request = documents[names.index("set_request")]
    assert set_request["value"] == {"octet-string": "07e50118ff0e303950ffc400"}
    assert set_request["cosem_attribute_descriptor"] == {
        "type": "CosemAttributeDescriptor",
        "class_id": 8,
        "instance_id": "0-0:1.0.0*255",
        "attribute_id": 2,
    }
    encoded = run_cli("encode", stdin=decoded.stdout)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout.splitlines() == [ALL_VECTORS[n] for n in names]


def test_hex_input_is_tolerant(run_cli: RunCli) -> None:
    result = run_cli("decode", "--json", "0xC5 01 C1 00", "c5:01:c1:00", "C501 C100")
    assert result.returncode == 0, result.stderr
    assert [d["apdu"] for d in _json_lines(result.stdout)] == ["SetResponseNormal"] * 3


def test_long_arrays_are_cut_unless_full(run_cli: RunCli) -> None:
    # a GET response with an array of 30 unsigned
    raw = "C401C100011E" + "1101" * 30
    short = run_cli("decode", raw)
    assert short.returncode == 0, short.stderr
    assert "array (30 item(s))" in short.stdout and "10 more item(s) not shown" in short.stdout
    full = run_cli("decode", "--full", raw)
    assert "not shown" not in full.stdout and full.stdout.count("unsigned 1") == 30


# --------------------------------------------------------------------------------------------------
# The pipe, over a file of many messages


def _collect_corpus() -> list[bytes]:
    found: list[bytes] = []

    @settings(
        max_examples=250,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
    )
    @given(st.sampled_from(APDU_CLASS_NAMES).flatmap(apdu_bytes))
    def collect(raw: bytes) -> None:
        found.append(raw)

    collect()
    return found


def test_pipe_round_trip_over_a_generated_corpus(cosemnet: list[str], tmp_path: Path) -> None:
    messages = [bytes.fromhex(v) for v in ALL_VECTORS.values()] + _collect_corpus()
    assert len({m[:2] for m in messages}) >= 40  # many APDU kinds, not one
    lines = ["# generated corpus", ""]
    for index, raw in enumerate(messages):
        text = raw.hex()
        # the formats people paste: upper case, spaces, colons, 0x
        lines.append(
            [text.upper(), " ".join(re.findall("..", text)), ":".join(re.findall("..", text)), "0x" + text][
                index % 4
            ]
        )
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n")
    with corpus.open() as source:
        decode = subprocess.Popen([*cosemnet, "decode", "--json", "-"], stdin=source, stdout=subprocess.PIPE)
        assert decode.stdout is not None
        encode = subprocess.run(
            [*cosemnet, "encode"], stdin=decode.stdout, capture_output=True, text=True, timeout=120
        )
        decode.stdout.close()
        assert decode.wait(timeout=120) == 0
    assert encode.returncode == 0, encode.stderr
    assert encode.stdout.splitlines() == [m.hex().upper() for m in messages]


# --------------------------------------------------------------------------------------------------
# Errors

BAD_LINES = [
    ("C001C1000100002B0100FF02", 3, "decode"),  # GET request cut short
    ("FF00", 0, "decode"),  # unknown tag
    ("C501C10000", 4, "decode"),  # trailing byte
    ("XYZ", 0, "input"),  # not hex
    ("0001000100010004C001", 6, "decode"),  # wrapper length does not match
    ("0001000100010002FF00", 8, "decode"),  # wrapper fine, APDU inside it not: offset in the whole frame
]


def test_errors_in_json_mode(run_cli: RunCli) -> None:
    lines = [line for line, _, _ in BAD_LINES]
    result = run_cli("decode", "--json", "-", stdin="\n".join(["6203800100", *lines, "C501C100"]) + "\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    documents = _json_lines(result.stdout)
    assert documents[0] == {"apdu": "RLRQ", "reason": "NORMAL"}
    assert documents[-1]["apdu"] == "SetResponseNormal"  # the lines after the errors still decode
    for (line, offset, kind), document in zip(BAD_LINES, documents[1:-1], strict=True):
        error = document["error"]
        assert isinstance(error, dict)
        assert set(error) == {"reason", "offset", "expected", "kind", "input", "line"}
        assert error["offset"] == offset and error["kind"] == kind and error["reason"]
        assert str(error["input"]).upper() == line.upper()


def test_errors_in_tree_mode(run_cli: RunCli) -> None:
    result = run_cli("decode", *(line for line, _, _ in BAD_LINES), "6203800100")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = result.stderr.splitlines()
    assert len(errors) == len(BAD_LINES)
    for (_, offset, _), error in zip(BAD_LINES, errors, strict=True):
        assert re.fullmatch(rf"error: .+ at offset {offset}( \(expected .+\))? \[message \d+\]", error), error
    assert _roots(result.stdout) == ["RLRQ (0x62, 5 bytes)"]


def test_encode_errors(run_cli: RunCli) -> None:
    stdin = "\n".join(
        [
            '{"apdu": "RLRQ", "reason": "NORMAL"}',
            "{not json",
            '{"apdu": "RLRQ", "reason": "SOMETIMES"}',
            '{"error": {"reason": "unknown APDU tag 0xFF"}}',
            '{"apdu": "SetResponseNormal", "invoke_id": 1, "result": "SUCCESS"}',
        ]
    )
    result = run_cli("encode", stdin=stdin)
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["6203800100", "C501C100"]
    errors = result.stderr.splitlines()
    assert errors[0].startswith("error: line 2: not JSON")
    assert errors[1] == (
        "error: line 3: reason: 'SOMETIMES' is not a ReleaseRequestReason"
        " (one of NORMAL, URGENT, USER_DEFINED)"
    )
    assert errors[2].startswith("error: line 4: is a decode error")


def test_encode_arguments_and_lower_case(run_cli: RunCli) -> None:
    result = run_cli("encode", "--lower", '{"apdu": "RLRQ", "reason": "URGENT"}')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "6203800101\n"


# --------------------------------------------------------------------------------------------------
# Decryption (issue 3)


def test_decrypt_the_green_book_vectors(run_cli: RunCli) -> None:
    vectors = list(SUITE0_VECTORS.values())
    tree = run_cli("decode", *KEYS, "--system-title", SERVER_SYSTEM_TITLE, *vectors)
    assert tree.returncode == 0, tree.stderr
    assert tree.stdout.count("decrypted → GetRequestNormal") == 3
    assert tree.stdout.count("instance_id: 0-0:1.0.0*255 (Clock)") == 3
    documents = _json_lines(
        run_cli("decode", "--json", *KEYS, "--system-title", SERVER_SYSTEM_TITLE, *vectors).stdout
    )
    for document, vector in zip(documents, vectors, strict=True):
        assert document["apdu"] == "ServiceSpecificCiphered"
        plain = document["decrypted"]
        assert isinstance(plain, dict)
        assert plain["apdu"] == "GetRequestNormal"
        assert plain["cosem_attribute_descriptor"]["instance_id"] == "0-0:1.0.0*255"  # type: ignore[index]
        # the envelope is still there: the JSON encodes back to the ciphered bytes
        encoded = run_cli("encode", json.dumps(document))
        assert encoded.stdout.strip() == vector


def test_decrypt_the_ciphered_aarq_with_the_calling_ap_title(run_cli: RunCli) -> None:
    result = run_cli("decode", "--json", *KEYS, ALL_VECTORS["aarq_ciphered"])
    assert result.returncode == 0, result.stderr
    (document,) = _json_lines(result.stdout)
    user_information = document["user_information"]
    assert isinstance(user_information, dict)
    initiate = user_information["decrypted"]
    assert initiate == {
        "apdu": "InitiateRequest",
        "dedicated_key": "00112233445566778899aabbccddeeff",
        "proposed_dlms_version_number": 6,
        "proposed_conformance": "PRIORITY_MGMT_SUPPORTED|ATTRIBUTE0_SUPPORTED_WITH_GET"
        "|BLOCK_TRANSFER_WITH_GET_OR_READ|BLOCK_TRANSFER_WITH_SET_OR_WRITE|BLOCK_TRANSFER_WITH_ACTION"
        "|MULTIPLE_REFERENCES|GET|SET|SELECTIVE_ACCESS|EVENT_NOTIFICATION|ACTION",
        "client_max_receive_pdu_size": 1200,
    }


def test_wrong_key_and_tampered_tag_are_clear_errors(run_cli: RunCli) -> None:
    wrong_key = ("--ek", "00" * 16, "--ak", AK, "--system-title", SERVER_SYSTEM_TITLE)
    auth_enc = SUITE0_VECTORS["auth_enc"]
    tampered = auth_enc[:-2] + ("00" if auth_enc[-2:] != "00" else "01")
    for args in ((*wrong_key, auth_enc), (*KEYS, "--system-title", SERVER_SYSTEM_TITLE, tampered)):
        tree = run_cli("decode", *args)
        assert tree.returncode == 1
        assert "Traceback" not in tree.stderr
        assert tree.stderr.startswith("error: authentication failed: authentication tag mismatch")
        assert "decryption failed" in tree.stdout  # the envelope is still shown
        result = run_cli("decode", "--json", *args)
        assert result.returncode == 1
        (document,) = _json_lines(result.stdout)
        error = document["error"]
        assert isinstance(error, dict)
        assert error["kind"] == "security" and "authentication failed" in str(error["reason"])
    # encryption only has no tag: a wrong key shows as a plaintext that is not the announced APDU
    result = run_cli("decode", *wrong_key, SUITE0_VECTORS["enc_only"])
    assert result.returncode == 1 and "wrong key?" in result.stderr and "Traceback" not in result.stderr


def test_missing_system_title_and_keys_are_explained(run_cli: RunCli) -> None:
    result = run_cli("decode", *KEYS, SUITE0_VECTORS["auth_enc"])
    assert result.returncode == 1
    assert "pass --system-title" in result.stderr
    result = run_cli("decode", "--ek", EK, "--system-title", SERVER_SYSTEM_TITLE, SUITE0_VECTORS["auth_only"])
    assert result.returncode == 1
    assert "no authentication key" in result.stderr


def test_bad_key_options_are_usage_errors_that_do_not_echo_the_key(run_cli: RunCli) -> None:
    result = run_cli("decode", "--ek", "0011223344", "C501C100")
    assert result.returncode == 2
    assert "must be 16 or 32 bytes, not 5" in result.stderr and "0011223344" not in result.stderr
    result = run_cli("decode", "--ak", "zz" * 16, "C501C100")
    assert result.returncode == 2 and "hex digits" in result.stderr
