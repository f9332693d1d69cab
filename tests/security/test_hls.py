"""Authentication mechanisms: HLS-5 Green Book vectors both ways, four-pass exchanges, failures."""

from __future__ import annotations

import hashlib

import pytest

from cosemnet.errors import DecodeError
from cosemnet.security import (
    AuthenticationError,
    KeyMissingError,
    SecurityError,
    SecuritySuite,
    UnsupportedSecurityError,
)
from cosemnet.security.counters import MemoryInvocationCounter, ReplayGuard
from cosemnet.security.hls import (
    HlsClient,
    HlsServer,
    Mechanism,
    generate_challenge,
    hls_gmac,
    hls_md5,
    hls_sha1,
    hls_sha256,
    lls_password_matches,
    mechanism_from_name,
    mechanism_name,
    verify_hls_gmac,
)

H = bytes.fromhex
EK = H("000102030405060708090A0B0C0D0E0F")
AK = H("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
CLIENT_TITLE = H("4D4D4D0000000001")
SERVER_TITLE = H("4D4D4D0000BC614E")
CTOS = H("4B35366956616759")
STOC = H("503677524A323146")
CLIENT_F_STOC = H("10000000011A52FE7DD3E72748973C1E28")
SERVER_F_CTOS = H("1001234567FE1466AFB3DBCD4F9389E2B7")

AARQ_HLS_GMAC = H(
    "6036A1090607608574050801018A0207808B0760857405080205AC0A80084B35366956616759"
    "BE10040E01000000065F1F0400007E1F04B0"
)
AARE_HLS_GMAC = H(
    "6142A109060760857405080101A203020100A305A10302010E88020780890760857405080205AA0A8008503677524A323146"
    "BE10040E0800065F1F040000501F01F40007"
)


def test_hls5_green_book_functions() -> None:
    assert hls_gmac(STOC, CLIENT_TITLE, 1, EK, AK) == CLIENT_F_STOC
    assert hls_gmac(CTOS, SERVER_TITLE, 0x01234567, EK, AK) == SERVER_F_CTOS
    assert verify_hls_gmac(CLIENT_F_STOC, STOC, CLIENT_TITLE, EK, AK) == 1
    assert verify_hls_gmac(SERVER_F_CTOS, CTOS, SERVER_TITLE, EK, AK) == 0x01234567


def test_hls5_challenges_are_those_of_the_published_aarq_aare() -> None:
    assert AARQ_HLS_GMAC[AARQ_HLS_GMAC.index(H("AC0A8008")) + 4 :][:8] == CTOS
    assert AARE_HLS_GMAC[AARE_HLS_GMAC.index(H("AA0A8008")) + 4 :][:8] == STOC
    name = AARQ_HLS_GMAC[AARQ_HLS_GMAC.index(H("8B07")) + 2 :][:7]
    assert mechanism_from_name(name) is Mechanism.HLS_GMAC and mechanism_name(Mechanism.HLS_GMAC) == name


def hls5_pair() -> tuple[HlsClient, HlsServer]:
    client = HlsClient(
        Mechanism.HLS_GMAC,
        CLIENT_TITLE,
        ek=EK,
        ak=AK,
        invocation_counter=MemoryInvocationCounter(1),
        own_challenge=CTOS,
    )
    server = HlsServer(
        Mechanism.HLS_GMAC,
        SERVER_TITLE,
        ek=EK,
        ak=AK,
        invocation_counter=MemoryInvocationCounter(0x01234567),
        own_challenge=STOC,
        replay_guard=ReplayGuard(),
    )
    return client, server


def test_hls5_four_passes_green_book() -> None:
    client, server = hls5_pair()
    server.receive_calling_authentication(client.calling_authentication_value(), CLIENT_TITLE)  # pass 1
    client.receive_challenge(server.challenge(), SERVER_TITLE)  # pass 2
    f_stoc = client.response()  # pass 3
    assert f_stoc == CLIENT_F_STOC
    server.verify_response(f_stoc)
    assert server.peer_authenticated
    f_ctos = server.response()  # pass 4
    assert f_ctos == SERVER_F_CTOS
    client.verify_response(f_ctos)
    assert client.peer_authenticated


def test_hls5_wrong_responses() -> None:
    client, server = hls5_pair()
    server.receive_calling_authentication(CTOS, CLIENT_TITLE)
    client.receive_challenge(STOC, SERVER_TITLE)
    good = client.response()
    for bad in (
        good[:-1] + bytes((good[-1] ^ 1,)),
        b"\x11" + good[1:],
        good[:5] + good[6:],
        good[:1] + b"\0\0\0\2" + good[5:],
    ):
        with pytest.raises(AuthenticationError):
            server.verify_response(bad)
    with pytest.raises(SecurityError, match="only after"):
        server.response()  # never answer before the client proved itself
    server.verify_response(good)
    with pytest.raises(AuthenticationError, match="replayed"):
        server.verify_response(good)  # same invocation counter again
    wrong_key = HlsClient(
        Mechanism.HLS_GMAC, CLIENT_TITLE, ek=bytes(16), ak=AK, invocation_counter=MemoryInvocationCounter()
    )
    wrong_key.receive_challenge(STOC, SERVER_TITLE)
    _, server2 = hls5_pair()
    server2.receive_calling_authentication(wrong_key.challenge(), CLIENT_TITLE)
    with pytest.raises(AuthenticationError):
        server2.verify_response(wrong_key.response())


def run_exchange(client: HlsClient, server: HlsServer) -> None:
    server.receive_calling_authentication(client.calling_authentication_value(), client.system_title)
    client.receive_challenge(server.challenge(), server.system_title)
    server.verify_response(client.response())
    client.verify_response(server.response())
    assert client.peer_authenticated and server.peer_authenticated


@pytest.mark.parametrize("mechanism", [Mechanism.HLS_MD5, Mechanism.HLS_SHA1, Mechanism.HLS_SHA256])
def test_hash_mechanisms(mechanism: Mechanism) -> None:
    secret = b"HLS secret 0123456789"
    run_exchange(
        HlsClient(mechanism, CLIENT_TITLE, secret=secret), HlsServer(mechanism, SERVER_TITLE, secret=secret)
    )
    client = HlsClient(mechanism, CLIENT_TITLE, secret=secret)
    server = HlsServer(mechanism, SERVER_TITLE, secret=b"another secret")
    server.receive_calling_authentication(client.calling_authentication_value(), CLIENT_TITLE)
    client.receive_challenge(server.challenge(), SERVER_TITLE)
    with pytest.raises(AuthenticationError):
        server.verify_response(client.response())


def test_hash_functions_inputs() -> None:
    challenge, secret = b"12345678", b"secret"
    assert hls_md5(challenge, secret) == hashlib.md5(b"12345678secret").digest()
    assert hls_sha1(challenge, secret) == hashlib.sha1(b"12345678secret").digest()
    # pass 3, IEC 62056-5-3 as quoted publicly: SHA-256(secret || ST-C || ST-S || StoC || CtoS)
    client = HlsClient(Mechanism.HLS_SHA256, CLIENT_TITLE, secret=secret, own_challenge=CTOS)
    client.receive_challenge(STOC, SERVER_TITLE)
    assert client.response() == hashlib.sha256(secret + CLIENT_TITLE + SERVER_TITLE + STOC + CTOS).digest()
    # pass 4 mirrors it: SHA-256(secret || ST-S || ST-C || CtoS || StoC)
    expected_server = hashlib.sha256(secret + SERVER_TITLE + CLIENT_TITLE + CTOS + STOC).digest()
    assert hls_sha256(secret, SERVER_TITLE, CLIENT_TITLE, CTOS, STOC) == expected_server
    client.verify_response(expected_server)
    with pytest.raises(AuthenticationError):
        client.verify_response(hashlib.sha256(secret + CLIENT_TITLE + SERVER_TITLE + CTOS + STOC).digest())


def test_ecdsa_mechanism() -> None:
    ecc = pytest.importorskip("cosemnet.security.ecc")
    client_key = ecc.generate_private_key(1)
    server_key = ecc.generate_private_key(1)
    suite = SecuritySuite.SUITE_1

    def make(peer_public: object) -> tuple[HlsClient, HlsServer]:
        client = HlsClient(
            Mechanism.HLS_ECDSA,
            CLIENT_TITLE,
            signing_key=client_key,
            peer_public_key=server_key.public_key(),
            suite=suite,
        )
        server = HlsServer(
            Mechanism.HLS_ECDSA,
            SERVER_TITLE,
            signing_key=server_key,
            peer_public_key=peer_public,
            suite=suite,
        )
        return client, server

    run_exchange(*make(client_key.public_key()))
    client, server = make(ecc.generate_private_key(1).public_key())  # server expects another client
    server.receive_calling_authentication(client.calling_authentication_value(), CLIENT_TITLE)
    client.receive_challenge(server.challenge(), SERVER_TITLE)
    with pytest.raises(AuthenticationError):
        server.verify_response(client.response())
    # the signed data: ST-C || ST-S || StoC || CtoS for the client
    client, server = make(client_key.public_key())
    server.receive_calling_authentication(client.calling_authentication_value(), CLIENT_TITLE)
    client.receive_challenge(server.challenge(), SERVER_TITLE)
    signature = client.response()
    data = CLIENT_TITLE + SERVER_TITLE + server.challenge() + client.challenge()
    assert ecc.hls7_verify(client_key.public_key(), data, signature, 1)


def test_lls_and_none() -> None:
    password = b"12345678"
    client = HlsClient(Mechanism.LLS, CLIENT_TITLE, secret=password)
    server = HlsServer(Mechanism.LLS, SERVER_TITLE, secret=password)
    assert client.calling_authentication_value() == password
    server.receive_calling_authentication(password)
    assert server.peer_authenticated
    with pytest.raises(AuthenticationError):
        HlsServer(Mechanism.LLS, SERVER_TITLE, secret=password).receive_calling_authentication(b"12345679")
    with pytest.raises(SecurityError):
        client.response()  # no passes 2-4 with LLS
    assert lls_password_matches(b"abc", b"abc") and not lls_password_matches(b"abc", b"abd")
    none = HlsServer(Mechanism.NONE, SERVER_TITLE)
    none.receive_calling_authentication(b"")
    assert none.peer_authenticated
    assert HlsClient(Mechanism.NONE, CLIENT_TITLE).calling_authentication_value() == b""


def test_challenges() -> None:
    assert len(generate_challenge()) == 16
    assert {len(generate_challenge(n)) for n in (8, 64)} == {8, 64}
    assert generate_challenge() != generate_challenge()
    for n in (7, 65):
        with pytest.raises(SecurityError):
            generate_challenge(n)
    client = HlsClient(Mechanism.HLS_MD5, CLIENT_TITLE, secret=b"s")
    for bad in (b"1234567", bytes(65)):
        with pytest.raises(AuthenticationError):
            client.receive_challenge(bad)


def test_order_and_configuration_errors() -> None:
    client = HlsClient(Mechanism.HLS_MD5, CLIENT_TITLE, secret=b"s")
    with pytest.raises(SecurityError, match="no peer challenge"):
        client.response()
    client.receive_challenge(STOC)
    with pytest.raises(SecurityError, match="only after"):
        client.verify_response(bytes(16))
    with pytest.raises(KeyMissingError):
        HlsClient(Mechanism.HLS_SHA256, CLIENT_TITLE)
    with pytest.raises(KeyMissingError):
        HlsClient(Mechanism.HLS_GMAC, CLIENT_TITLE, ek=EK, ak=AK)  # no invocation counter
    with pytest.raises(KeyMissingError):
        HlsClient(Mechanism.HLS_ECDSA, CLIENT_TITLE)
    with pytest.raises(UnsupportedSecurityError):
        HlsClient(Mechanism.HLS, CLIENT_TITLE)
    with pytest.raises(DecodeError):
        mechanism_from_name(H("60857405080208"))
    sha = HlsClient(Mechanism.HLS_SHA256, CLIENT_TITLE, secret=b"s")
    sha.receive_challenge(STOC)  # no server system title known
    with pytest.raises(AuthenticationError, match="system title"):
        sha.response()


def test_repr_hides_secrets() -> None:
    client = HlsClient(Mechanism.HLS_SHA256, CLIENT_TITLE, secret=b"very-secret-value")
    assert "very-secret" not in repr(client) and "HLS_SHA256" in repr(client)
