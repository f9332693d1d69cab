"""Fuzz smoke: every DLMS decoder (A-XDR, APDU dispatcher with xDLMS/ACSE/Initiate, ciphered envelopes,
the wrapper, the JSON form, OBIS text) and ``cosemnet decode``'s message inspection.

Only errors of cosemnet.errors may come out; see tests/fuzz/engine.py. Input counts are for
``COSEMNET_FUZZ_SCALE=1``.
"""

from __future__ import annotations

import json
import random
from typing import Any

from cosemnet.cli.messages import Keys, inspect
from cosemnet.codec import axdr
from cosemnet.codec.acse import AARE, AARQ
from cosemnet.codec.apdu import decode_apdu, decode_apdu_from
from cosemnet.codec.ciphered import decode_protected_apdu, is_protected_tag, parse_ciphered_apdu
from cosemnet.codec.jsonform import encode_message_json, message_to_json, write_json
from cosemnet.codec.obis import Obis
from cosemnet.codec.wrapper import WrapperFrame, WrapperStream

from . import corpus
from .engine import budget, fuzz

TITLE = bytes.fromhex("4D4D4D0000BC614E")
KEYS = Keys(corpus.EK, corpus.AK, None, None, None, TITLE)


def test_fuzz_axdr_data() -> None:
    seeds = corpus.data_values()
    fuzz("A-XDR Data", seeds, axdr.decode_data_exact, 24000, seed=1).check()


def _apdu(data: bytes) -> None:
    apdu = decode_apdu(data)
    apdu.encode()  # what decodes also encodes (EncodeError allowed: decoded values can be out of range)
    if isinstance(apdu, AARQ | AARE):
        apdu.decode_user_information()
    decode_apdu_from(data + data, 0)


def test_fuzz_apdu_dispatcher() -> None:
    """Every xDLMS APDU, ACSE, Initiate and the envelopes, through the dispatcher."""
    fuzz("APDU dispatcher (xDLMS, ACSE)", corpus.apdus(), _apdu, 40000, seed=2).check()


def _ciphered(data: bytes) -> None:
    if not data or not is_protected_tag(data[0]):
        data = b"\xdb" + data  # general-glo-ciphering tag in front: reach the envelope decoders
    decode_protected_apdu(data)
    parse_ciphered_apdu(data, TITLE)


def test_fuzz_ciphered_envelopes() -> None:
    seeds = [a for a in corpus.apdus() if a and is_protected_tag(a[0])]
    seeds += [
        apdu for _, session in corpus.server_sessions() for apdu in session if is_protected_tag(apdu[0])
    ]
    assert len(seeds) >= 10
    fuzz("ciphered envelopes", seeds, _ciphered, 10000, seed=3).check()


def _wrapper(data: bytes) -> None:
    WrapperFrame.decode(data)
    stream = WrapperStream()
    for start in range(0, len(data), 7):
        stream.feed(data[start : start + 7])


def test_fuzz_wrapper() -> None:
    seeds = [WrapperFrame(16, 1, a).encode() for a in corpus.apdus()[:40]]
    fuzz("wrapper", seeds, _wrapper, 6000, seed=4).check()


# --------------------------------------------------------------------------------------------------
# The JSON form decoder (cosemnet encode): byte-level edits of the text and structural edits


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0, -1, 1, 255, 256, 65536, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30))
    if kind == 3:
        return rng.choice((0.5, -0.0, 1e308, float("inf"), float("nan")))
    if kind == 4:
        return rng.choice(("", "00", "zz", "1-0:1.8.0*255", "SUCCESS", "A|B", "x" * 40, "é", "\u0000"))
    if kind == 5:
        return rng.randbytes(rng.randrange(0, 6)).hex()
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 7:
        key = rng.choice(("apdu", "type", "array", "structure", "octet-string", "compact-array", "x"))
        return {key: _random_json(rng, depth + 1)}
    return {"apdu": rng.choice(("GetRequestNormal", "AARQ", "Nope")), "invoke_id": _random_json(rng, 2)}


def _deep_document(rng: random.Random, signed: str) -> str:
    """A JSON text nested 65-3,000 levels deep: Data arrays, compact-array type descriptions, signed
    APDU content (``signed`` is a GeneralSigning document whose content is ``""``), or bare arrays."""
    depth = rng.choice((65, 150, 250, 400, 1000, 3000))
    kind = rng.randrange(4)
    head = '{"apdu": "GetResponseNormal", "invoke_id": 1, "result": '
    if kind == 0:
        return head + '{"array": [' * depth + '{"null-data": null}' + "]}" * depth + "}"
    if kind == 1:
        element = '{"array": {"count": 1, "element": ' * depth + '"unsigned"' + "}}" * depth
        return head + '{"compact-array": {"type": ' + element + ', "values": []}}}'
    if kind == 2:
        before, after = signed.split('"content": ""')
        return (before + '"content": ') * depth + '""' + after * depth
    return "[" * depth + "]" * depth


def _json_edit(rng: random.Random, node: Any) -> Any:
    """``node`` with one random element somewhere in it replaced, dropped or added."""
    if isinstance(node, dict) and node and rng.random() < 0.7:
        key = rng.choice(list(node))
        choice = rng.randrange(4)
        if choice == 0:
            del node[key]
        elif choice == 1:
            node[key] = _random_json(rng)
        elif choice == 2:
            node[rng.choice(("extra", "type", "apdu", "decrypted", key + "_"))] = _random_json(rng)
        else:
            node[key] = _json_edit(rng, node[key])
        return node
    if isinstance(node, list) and node and rng.random() < 0.7:
        index = rng.randrange(len(node))
        choice = rng.randrange(3)
        if choice == 0:
            del node[index]
        elif choice == 1:
            node[index] = _json_edit(rng, node[index])
        else:
            node.append(_random_json(rng))
        return node
    return _random_json(rng)


def test_fuzz_json_form_decoder() -> None:
    rng = random.Random(5)
    documents = []
    for raw in corpus.apdus()[:120]:
        try:
            documents.append(json.dumps(message_to_json(decode_apdu(raw))))
        except Exception:
            continue
    structural = []
    for _ in range(budget(1500)):
        document = json.loads(rng.choice(documents))
        for _ in range(rng.choice((1, 1, 2, 3))):
            document = _json_edit(rng, document)
        structural.append(json.dumps(document).encode())
    signed = next(d for d in documents if '"GeneralSigning"' in d and '"content": ""' in d)
    deep = [_deep_document(rng, signed).encode() for _ in range(budget(60))]
    seeds = [d.encode() for d in documents] + structural + deep

    def run(data: bytes) -> None:
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or too deep for json (`cosemnet encode` says so)
            return
        encode_message_json(document)

    # the structural edits run as they are, then byte-level mutations of every document
    fuzz("JSON form decoder", seeds, run, 4000 + len(documents), seed=6).check()


def test_fuzz_obis_text() -> None:
    texts = [
        "1-0:1.8.0*255",
        "1-0:1.8.0",
        "0-0:96.1.0*255",
        "1.0.1.8.0.255",
        "0100010800FF",
        "01 00 01 08 00 FF",
    ]
    texts += ["1-0:99.1.0", "0-0:40.0.0*255", "0-1:24.2.1*255", "01-00-01-08-00-ff"]

    def run(data: bytes) -> None:
        Obis.parse(data.decode("latin-1"))

    fuzz("OBIS text", [t.encode() for t in texts], run, 5000, seed=7).check()


def _inspect(data: bytes) -> None:
    """``cosemnet decode --json`` on one message: profile detection, decoding, decryption, JSON."""
    decoded = inspect(data, KEYS, "auto")
    if not decoded.failures and not hasattr(decoded.message, "frame"):
        write_json(message_to_json(decoded.message, stream=True), lambda _text: None)


def test_fuzz_decode_command_inspection() -> None:
    seeds = [
        *corpus.apdus()[:60],
        bytes.fromhex(corpus.ALL_VECTORS["wrapped_get"]),
        *corpus.lon_frames()[:10],
    ]
    fuzz("decode inspect (auto profile, keys)", seeds, _inspect, 6000, seed=8).check()
