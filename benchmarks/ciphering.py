"""Benchmark: general-glo-ciphering of a 1 KiB APDU, cosemnet vs dlms-cosem vs gurux-dlms vs raw AESGCM.

Two operations, all in one run with the same keys, system title and APDU:

* encrypt+wrap: plain APDU -> general-glo-ciphering APDU bytes (SC 0x30, suite 0, fresh IC each time);
* unwrap+decrypt: general-glo-ciphering APDU bytes -> plain APDU (tag verified).

Peers:

* cosemnet: :func:`protect_apdu` / :func:`unprotect_apdu` with a full SecurityContext (invocation
  counter, policy check, replay guard: every decrypted APDU carries a fresh, increasing counter);
* dlms-cosem: ``security.encrypt`` + wrapping, ``GeneralGlobalCipher.from_bytes`` + ``to_plain_apdu``.
  Its ``GeneralGlobalCipher.to_bytes`` cannot encode content over 255 bytes (one-byte length), so
  the wrap is done here with a minimal ``b"".join`` (in dlms-cosem's favour);
* gurux-dlms: ``GXDLMSChippering.encryptAesGcm`` / ``decryptAesGcm`` (pure-Python AES; its prints
  are silenced);
* raw AESGCM (``cryptography``): ``encrypt`` / ``decrypt`` of the 1 KiB with a 16-byte tag, no
  header, no wrapping: the ceiling.

Decrypting peers all work through the same BATCH of distinct APDUs (distinct IVs for raw AESGCM),
so none of them gets a hot-cache advantage over the others.

Every peer's output is checked once (it decrypts to the plaintext, also with cosemnet) before
timing. Each measurement is repeated (round robin over the peers, so background load hits all of
them alike) and the best rate is kept. ``--json`` prints the results as JSON.

Run: ``.venv/bin/python benchmarks/ciphering.py [--json] [--seconds 0.3] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cosemnet.codec.axdr import length_bytes
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter, ReplayGuard
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
POLICY = (
    SecurityPolicy.AUTHENTICATED_REQUEST
    | SecurityPolicy.ENCRYPTED_REQUEST
    | SecurityPolicy.AUTHENTICATED_RESPONSE
    | SecurityPolicy.ENCRYPTED_RESPONSE
)
APDU_SIZE = 1024
BATCH = 1024


def make_apdu() -> bytes:
    # a GET-response-normal carrying an octet-string: C4 01 C1 00 09 82 03F9 <1017 bytes>
    body = bytes((i * 7 + 3) & 0xFF for i in range(APDU_SIZE - 7))
    apdu = bytes.fromhex("C401C10009") + b"\x82" + len(body).to_bytes(2, "big") + body
    return apdu[:APDU_SIZE]


def sender() -> SecurityContext:
    return SecurityContext(
        SecuritySuite.SUITE_0,
        POLICY,
        SERVER_TITLE,
        CLIENT_TITLE,
        KeySet(ek=EK, ak=AK),
        {KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(1)},
        role=Role.SERVER,
    )


def receiver() -> SecurityContext:
    return SecurityContext(SecuritySuite.SUITE_0, POLICY, CLIENT_TITLE, SERVER_TITLE, KeySet(ek=EK, ak=AK))


def distinct_apdus(plain: bytes) -> list[bytes]:
    """BATCH general-glo-ciphering APDUs with increasing counters: every decrypting peer gets these."""
    ctx = sender()
    return [protect_apdu(plain, ctx, "general-glo") for _ in range(BATCH)]


def rate(batch: Callable[[], int], seconds: float) -> float:
    """Operations per second: call ``batch`` (returns the number of operations) for ``seconds``."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        done += batch()
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


# --------------------------------------------------------------------------------------------------
# Peers


def cosemnet_peer(plain: bytes) -> tuple[Callable[[], int], Callable[[], int]]:
    ctx = sender()
    out = receiver()
    sample = protect_apdu(plain, sender(), "general-glo")
    assert unprotect_apdu(sample, receiver())[0] == plain

    def encrypt_batch() -> int:
        for _ in range(BATCH):
            protect_apdu(plain, ctx, "general-glo")
        return BATCH

    apdus = distinct_apdus(plain)

    def decrypt_batch() -> int:
        out.replay_guard = ReplayGuard()  # the same batch again: restart the window (not a replay)
        for apdu in apdus:
            unprotect_apdu(apdu, out)
        return BATCH

    return encrypt_batch, decrypt_batch


def dlms_cosem_peer(plain: bytes) -> tuple[Callable[[], int], Callable[[], int]]:
    from dlms_cosem import security as dsec  # type: ignore[import-untyped]
    from dlms_cosem.protocol.xdlms.general_global_cipher import GeneralGlobalCipher  # type: ignore[import-untyped]

    sc = dsec.SecurityControlField(security_suite=0, authenticated=True, encrypted=True)
    counter = [1]

    def encrypt_wrap() -> bytes:
        ic = counter[0]
        counter[0] = ic + 1
        ciphered = dsec.encrypt(sc, SERVER_TITLE, ic, EK, plain, AK)
        content = sc.to_bytes() + ic.to_bytes(4, "big") + ciphered
        return b"".join((b"\xdb\x08", SERVER_TITLE, length_bytes(len(content)), content))

    sample = encrypt_wrap()
    assert unprotect_apdu(sample, receiver())[0] == plain
    assert GeneralGlobalCipher.from_bytes(sample).to_plain_apdu(EK, AK) == plain
    ours = protect_apdu(plain, sender(), "general-glo")
    assert GeneralGlobalCipher.from_bytes(ours).to_plain_apdu(EK, AK) == plain

    def encrypt_batch() -> int:
        for _ in range(BATCH):
            encrypt_wrap()
        return BATCH

    apdus = distinct_apdus(plain)

    def decrypt_batch() -> int:
        for apdu in apdus:
            GeneralGlobalCipher.from_bytes(apdu).to_plain_apdu(EK, AK)
        return BATCH

    return encrypt_batch, decrypt_batch


def gurux_peer(plain: bytes) -> tuple[Callable[[], int], Callable[[], int]]:
    from gurux_dlms.AesGcmParameter import AesGcmParameter  # type: ignore[import-untyped]
    from gurux_dlms.enums import Security  # type: ignore[import-untyped]
    from gurux_dlms.GXByteBuffer import GXByteBuffer  # type: ignore[import-untyped]
    from gurux_dlms.GXDLMSChippering import GXDLMSChippering  # type: ignore[import-untyped]

    counter = [1]
    sink = io.StringIO()

    def encrypt_wrap() -> bytes:
        p = AesGcmParameter(0xDB, SERVER_TITLE, EK, AK)
        p.security = Security.AUTHENTICATION_ENCRYPTION
        p.invocationCounter = counter[0]
        counter[0] += 1
        with contextlib.redirect_stdout(sink):
            return bytes(GXDLMSChippering.encryptAesGcm(p, plain))

    def unwrap_decrypt(apdu: bytes) -> bytes:
        p = AesGcmParameter(0, None, EK, AK)
        with contextlib.redirect_stdout(sink):
            result = bytes(GXDLMSChippering.decryptAesGcm(None, p, GXByteBuffer(apdu)))
        sink.seek(0)
        sink.truncate()
        return result

    sample = encrypt_wrap()
    assert unprotect_apdu(sample, receiver())[0] == plain
    assert unwrap_decrypt(sample) == plain
    assert unwrap_decrypt(protect_apdu(plain, sender(), "general-glo")) == plain

    def encrypt_batch() -> int:
        encrypt_wrap()
        return 1

    def decrypt_batch() -> int:
        unwrap_decrypt(sample)
        return 1

    return encrypt_batch, decrypt_batch


def raw_peer(plain: bytes) -> tuple[Callable[[], int], Callable[[], int]]:
    aead = AESGCM(EK)
    aad = b"\x30" + AK
    ivs = [SERVER_TITLE + i.to_bytes(4, "big") for i in range(1, BATCH + 1)]
    samples = [(iv, aead.encrypt(iv, plain, aad)) for iv in ivs]
    assert all(aead.decrypt(iv, sample, aad) == plain for iv, sample in samples)

    def encrypt_batch() -> int:
        for iv in ivs:
            aead.encrypt(iv, plain, aad)
        return BATCH

    def decrypt_batch() -> int:
        for iv, sample in samples:
            aead.decrypt(iv, sample, aad)
        return BATCH

    return encrypt_batch, decrypt_batch


PEERS: dict[str, Callable[[bytes], tuple[Callable[[], int], Callable[[], int]]]] = {
    "cosemnet": cosemnet_peer,
    "dlms-cosem": dlms_cosem_peer,
    "gurux-dlms": gurux_peer,
    "raw AESGCM": raw_peer,
}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("cosemnet", "cryptography", "dlms-cosem", "gurux-dlms"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    parser.add_argument(
        "--repeats", type=int, default=5, help="measurements per peer and operation (best kept)"
    )
    args = parser.parse_args(argv)

    plain = make_apdu()
    assert len(plain) == APDU_SIZE
    peers: dict[str, tuple[Callable[[], int], Callable[[], int]]] = {}
    skipped: dict[str, str] = {}
    for name, factory in PEERS.items():
        try:
            peers[name] = factory(plain)
        except ImportError as exc:
            skipped[name] = str(exc)

    best: dict[str, dict[str, float]] = {name: {"encrypt": 0.0, "decrypt": 0.0} for name in peers}
    for _ in range(args.repeats):
        for name, (encrypt_batch, decrypt_batch) in peers.items():
            seconds = args.seconds if name != "gurux-dlms" else min(args.seconds, 0.2)
            best[name]["encrypt"] = max(best[name]["encrypt"], rate(encrypt_batch, seconds))
            best[name]["decrypt"] = max(best[name]["decrypt"], rate(decrypt_batch, seconds))

    ours = best["cosemnet"]
    ratios: dict[str, dict[str, float]] = {}
    for name, result in best.items():
        if name != "cosemnet":
            ratios[f"cosemnet / {name}"] = {op: ours[op] / result[op] for op in ("encrypt", "decrypt")}
    report: dict[str, Any] = {
        "benchmark": "general-glo-ciphering of a 1 KiB APDU (SC 0x30, suite 0)",
        "unit": "operations per second (best of repeats)",
        "cpu_count": os.cpu_count(),
        "versions": versions(),
        "results": best,
        "ratios": ratios,
        "skipped": skipped,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(report["benchmark"])
    print(f"{'peer':<14}{'encrypt+wrap /s':>18}{'unwrap+decrypt /s':>20}")
    for name, result in best.items():
        print(f"{name:<14}{result['encrypt']:>18,.0f}{result['decrypt']:>20,.0f}")
    print()
    for label, ratio in ratios.items():
        print(f"{label:<28} encrypt x{ratio['encrypt']:.2f}   decrypt x{ratio['decrypt']:.2f}")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
