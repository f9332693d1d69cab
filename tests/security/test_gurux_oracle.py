"""Cross-check against gurux-dlms (an independent implementation) as an oracle.

Only gurux's public classes are called; nothing of it is copied. Its ciphering code prints to
stdout, which is silenced.
"""

from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import hls_gmac, hls_md5, hls_sha1
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite

gurux = pytest.importorskip("gurux_dlms")
from gurux_dlms.AesGcmParameter import AesGcmParameter  # type: ignore[import-untyped]  # noqa: E402
from gurux_dlms.enums import Authentication, Security  # type: ignore[import-untyped]  # noqa: E402
from gurux_dlms.GXByteBuffer import GXByteBuffer  # type: ignore[import-untyped]  # noqa: E402
from gurux_dlms.GXDLMSChippering import GXDLMSChippering  # type: ignore[import-untyped]  # noqa: E402
from gurux_dlms.GXSecure import GXSecure  # type: ignore[import-untyped]  # noqa: E402

H = bytes.fromhex
EK = H("000102030405060708090A0B0C0D0E0F")
AK = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
DK = H("00112233445566778899AABBCCDDEEFF")  # the dedicated key of the Green Book ciphered AARQ
CLIENT_TITLE = H("4D4D4D0000000001")
SERVER_TITLE = H("4D4D4D0000BC614E")
GURUX_SECURITY = {
    0x10: Security.AUTHENTICATION,
    0x20: Security.ENCRYPTION,
    0x30: Security.AUTHENTICATION_ENCRYPTION,
}


def quiet(call: Any, *args: Any) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return call(*args)


def gurux_encrypt(tag: int, mode: int, ic: int, plaintext: bytes, key: bytes = EK) -> bytes:
    p = AesGcmParameter(tag, SERVER_TITLE, key, AK)
    p.security = GURUX_SECURITY[mode]
    p.invocationCounter = ic
    return bytes(quiet(GXDLMSChippering.encryptAesGcm, p, plaintext))


def gurux_decrypt(apdu: bytes, system_title: bytes | None = None, key: bytes = EK) -> bytes:
    p = AesGcmParameter(0, system_title, key, AK)
    return bytes(quiet(GXDLMSChippering.decryptAesGcm, None, p, GXByteBuffer(apdu)))


def server_context(ic: int) -> SecurityContext:
    return SecurityContext(
        SecuritySuite.SUITE_0,
        SecurityPolicy.NOTHING,
        SERVER_TITLE,
        CLIENT_TITLE,
        KeySet(ek=EK, ak=AK, dedicated_key=DK),
        {KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(ic), KeyRole.DEDICATED: MemoryInvocationCounter(ic)},
        role=Role.SERVER,
    )


def client_context() -> SecurityContext:
    return SecurityContext(
        SecuritySuite.SUITE_0,
        SecurityPolicy.NOTHING,
        CLIENT_TITLE,
        SERVER_TITLE,
        KeySet(ek=EK, ak=AK, dedicated_key=DK),
    )


@settings(max_examples=40, deadline=None)
@given(
    mode=st.sampled_from([0x10, 0x20, 0x30]),
    ic=st.integers(0, 0xFFFFFFFE),
    body=st.binary(max_size=700),
    kind=st.sampled_from(["general-glo", "service-specific-glo", "general-ded", "service-specific-ded"]),
)
def test_ciphering_matches_gurux(mode: int, ic: int, body: bytes, kind: str) -> None:
    plaintext = b"\xc4" + body  # get-response: glo-/ded-get-response 0xCC / 0xD4 in the service-specific form
    ours = protect_apdu(plaintext, server_context(ic), kind, security_control=mode)  # type: ignore[arg-type]
    tag = {
        "general-glo": 0xDB,
        "service-specific-glo": 0xCC,
        "general-ded": 0xDC,
        "service-specific-ded": 0xD4,
    }[kind]
    key = DK if "ded" in kind else EK
    theirs = gurux_encrypt(tag, mode, ic, plaintext, key)
    assert ours == theirs
    # and each side decrypts the other's output
    assert unprotect_apdu(theirs, client_context())[0] == plaintext
    assert gurux_decrypt(ours, SERVER_TITLE, key) == plaintext


def test_hls_gmac_matches_gurux() -> None:
    settings_ = SimpleNamespace(authentication=Authentication.HIGH_GMAC)
    cipher = SimpleNamespace(blockCipherKey=EK, authenticationKey=AK, securitySuite=0)
    for title, ic, challenge in (
        (CLIENT_TITLE, 1, H("503677524A323146")),
        (SERVER_TITLE, 0x01234567, H("4B35366956616759")),
        (SERVER_TITLE, 0xFFFFFFFE, bytes(range(64))),
    ):
        theirs = bytes(GXSecure.secure(settings_, cipher, ic, challenge, title))
        assert hls_gmac(challenge, title, ic, EK, AK) == theirs


@pytest.mark.parametrize(
    ("authentication", "ours"), [(Authentication.HIGH_MD5, hls_md5), (Authentication.HIGH_SHA1, hls_sha1)]
)
def test_hls_hashes_match_gurux(authentication: Any, ours: Any) -> None:
    settings_ = SimpleNamespace(authentication=authentication)
    challenge, secret = bytes(range(16)), b"Gurux-secret"
    assert ours(challenge, secret) == bytes(GXSecure.secure(settings_, None, 0, challenge, secret))
