"""APDU-level protection with a SecurityContext: every envelope and policy, replay and downgrade."""

from __future__ import annotations

import contextlib
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cosemnet.codec.ciphered import (
    GeneralCiphering,
    GeneralDedCiphering,
    GeneralGloCiphering,
    GeneralSigning,
    IdentifiedKey,
    ServiceSpecificCiphered,
    WrappedKey,
)
from cosemnet.errors import DecodeError, EncodeError
from cosemnet.security import (
    AuthenticationError,
    DowngradeError,
    InvalidKeyError,
    KeyMissingError,
    ReplayError,
    SecurityError,
    SecuritySuite,
    UnsupportedSecurityError,
)
from cosemnet.security.ciphering import (
    ProtectionKind,
    Role,
    SecurityContext,
    decipher_apdu,
    protect_apdu,
    unprotect_apdu,
)
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryCounterStore, MemoryInvocationCounter, ReplayGuard
from cosemnet.security.keys import KeyRole, KeySet

H = bytes.fromhex
CLIENT_TITLE = H("4D4D4D0000000001")
SERVER_TITLE = H("4D4D4D0000BC614E")
GET_CLOCK = H("C0010000080000010000FF0200")
GET_RESPONSE = H("C401C1000600001391")
ALL = (
    SecurityPolicy.AUTHENTICATED_REQUEST
    | SecurityPolicy.ENCRYPTED_REQUEST
    | SecurityPolicy.AUTHENTICATED_RESPONSE
    | SecurityPolicy.ENCRYPTED_RESPONSE
)
KINDS: tuple[ProtectionKind, ...] = (
    "general-glo",
    "general-ded",
    "service-specific-glo",
    "service-specific-ded",
    "general-ciphering",
    "general-ciphering-wrapped",
)


def make_keys(suite: SecuritySuite) -> KeySet:
    n = suite.parameters.key_length
    return KeySet(
        ek=bytes(range(n)),
        ak=bytes(range(0xD0, 0xD0 + n)),
        broadcast_key=bytes(range(0x40, 0x40 + n)),
        dedicated_key=bytes(range(0x80, 0x80 + n)),
        kek=bytes(range(0x10, 0x10 + n)),
    )


def pair(
    policy: SecurityPolicy = ALL, suite: SecuritySuite = SecuritySuite.SUITE_0
) -> tuple[SecurityContext, SecurityContext]:
    keys = make_keys(suite)
    client = SecurityContext(
        suite,
        policy,
        CLIENT_TITLE,
        SERVER_TITLE,
        keys,
        {
            KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(),
            KeyRole.GLOBAL_BROADCAST: MemoryInvocationCounter(),
        },
        role=Role.CLIENT,
    )
    server_keys = KeySet(keys.ek, keys.ak, keys.broadcast_key, keys.dedicated_key, keys.kek)
    server = SecurityContext(
        suite,
        policy,
        SERVER_TITLE,
        CLIENT_TITLE,
        server_keys,
        {KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(0x01234567)},
        role=Role.SERVER,
    )
    return client, server


def test_general_glo_layout_and_server_vector() -> None:
    client, server = pair()
    apdu = protect_apdu(GET_CLOCK, server, "general-glo")
    # server's counter starts at 01234567: the Green Book vector inside a general-glo-ciphering
    assert apdu == H("DB084D4D4D0000BC614E1E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B")
    plain, envelope, header = unprotect_apdu(apdu, client)
    assert plain == GET_CLOCK
    assert isinstance(envelope, GeneralGloCiphering) and envelope.system_title == SERVER_TITLE
    assert header is not None and header.invocation_counter == 0x01234567


def test_service_specific_uses_peer_system_title() -> None:
    client, server = pair()
    apdu = protect_apdu(GET_RESPONSE, server, "service-specific-glo")
    assert apdu[0] == 0xCC
    plain, envelope, _ = unprotect_apdu(apdu, client)
    assert plain == GET_RESPONSE and isinstance(envelope, ServiceSpecificCiphered)
    anonymous = pair()[0]
    anonymous.peer_system_title = None
    with pytest.raises(KeyMissingError):
        unprotect_apdu(apdu, anonymous)


@pytest.mark.parametrize("suite", list(SecuritySuite))
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "policy",
    [
        SecurityPolicy.NOTHING,
        SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.AUTHENTICATED_RESPONSE,
        SecurityPolicy.ENCRYPTED_REQUEST | SecurityPolicy.ENCRYPTED_RESPONSE,
        ALL,
    ],
)
def test_every_envelope_policy_and_suite(
    suite: SecuritySuite, kind: ProtectionKind, policy: SecurityPolicy
) -> None:
    client, server = pair(policy, suite)
    request = protect_apdu(GET_CLOCK, client, kind)
    plain, envelope, header = unprotect_apdu(request, server)
    assert plain == GET_CLOCK and header is not None
    auth, enc = policy.requirements(request=True)
    expected_mode = (0x10 if auth else 0) | (0x20 if enc else 0) or 0x30
    assert header.security_control == expected_mode | int(suite)
    expected_type = {
        "general-glo": GeneralGloCiphering,
        "general-ded": GeneralDedCiphering,
        "service-specific-glo": ServiceSpecificCiphered,
        "service-specific-ded": ServiceSpecificCiphered,
        "general-ciphering": GeneralCiphering,
        "general-ciphering-wrapped": GeneralCiphering,
    }[kind]
    assert isinstance(envelope, expected_type)
    if kind == "general-ciphering-wrapped":
        assert isinstance(envelope, GeneralCiphering) and isinstance(envelope.key_info, WrappedKey)
    if kind == "general-ciphering":
        assert isinstance(envelope, GeneralCiphering) and isinstance(envelope.key_info, IdentifiedKey)
    response = protect_apdu(GET_RESPONSE, server, kind)
    assert unprotect_apdu(response, client)[0] == GET_RESPONSE


@given(
    kind=st.sampled_from(KINDS),
    body=st.binary(max_size=400),
    mode=st.sampled_from([0x10, 0x20, 0x30]),
    suite=st.sampled_from(list(SecuritySuite)),
    count=st.integers(1, 4),
)
def test_round_trip_property(
    kind: ProtectionKind, body: bytes, mode: int, suite: SecuritySuite, count: int
) -> None:
    client, server = pair(SecurityPolicy.NOTHING, suite)
    apdu = GET_CLOCK[:1] + body  # service-specific forms need a tag with a glo/ded form
    for _ in range(count):
        protected = protect_apdu(apdu, client, kind, security_control=mode | int(suite))
        assert unprotect_apdu(protected, server)[0] == apdu


def test_broadcast_key() -> None:
    client, server = pair()
    apdu = protect_apdu(GET_CLOCK, client, "general-glo", broadcast=True)
    assert apdu[11] == 0x70  # SC: broadcast + auth + enc, after DB 08 title length
    assert unprotect_apdu(apdu, server)[0] == GET_CLOCK
    # the broadcast key, not the unicast one
    server.keys.broadcast_key = bytes(16)
    with pytest.raises(AuthenticationError):
        unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo", broadcast=True), server)
    with pytest.raises(EncodeError):
        protect_apdu(GET_CLOCK, client, "general-ded", broadcast=True)


def test_tampering_is_an_authentication_error_and_counted() -> None:
    client, server = pair()
    apdu = protect_apdu(GET_CLOCK, client, "general-glo")
    for position in (12, 14, len(apdu) - 13, len(apdu) - 1):  # IC, ciphertext, first/last tag byte
        tampered = bytearray(apdu)
        tampered[position] ^= 0x04
        with pytest.raises(AuthenticationError):
            unprotect_apdu(bytes(tampered), server)
    assert server.security_events == 4
    assert unprotect_apdu(apdu, server)[0] == GET_CLOCK  # the window did not move


def test_tampered_security_control() -> None:
    client, server = pair(SecurityPolicy.NOTHING)
    apdu = bytearray(protect_apdu(GET_CLOCK, client, "general-glo"))
    sc_at = 11
    apdu[sc_at] = 0x10  # A only: ciphertext taken as plaintext, tag fails
    with pytest.raises(AuthenticationError):
        unprotect_apdu(bytes(apdu), server)
    apdu[sc_at] = 0x31  # another suite
    with pytest.raises(DowngradeError):
        unprotect_apdu(bytes(apdu), server)
    apdu[sc_at] = 0xB0
    with pytest.raises(UnsupportedSecurityError):
        unprotect_apdu(bytes(apdu), server)
    apdu[sc_at] = 0x70  # broadcast key: a different key, the tag fails
    with pytest.raises(AuthenticationError):
        unprotect_apdu(bytes(apdu), server)


def test_wrong_key() -> None:
    client, server = pair()
    server.keys.ek = bytes(16)
    with pytest.raises(AuthenticationError):
        unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server)
    client2, server2 = pair()
    server2.keys.ak = bytes(16)
    with pytest.raises(AuthenticationError):
        unprotect_apdu(protect_apdu(GET_CLOCK, client2, "service-specific-glo"), server2)


def test_replay_is_rejected_and_counted() -> None:
    client, server = pair()
    first = protect_apdu(GET_CLOCK, client, "general-glo")
    second = protect_apdu(GET_CLOCK, client, "general-glo")
    unprotect_apdu(second, server)
    with pytest.raises(ReplayError):
        unprotect_apdu(second, server)  # same counter
    with pytest.raises(ReplayError):
        unprotect_apdu(first, server)  # older counter
    assert server.security_events == 2
    assert unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server)[0] == GET_CLOCK


def test_replay_windows_are_per_key() -> None:
    client, server = pair()
    glo = protect_apdu(GET_CLOCK, client, "general-glo")
    ded = protect_apdu(GET_CLOCK, client, "general-ded")  # dedicated counter starts again at 1
    unprotect_apdu(glo, server)
    unprotect_apdu(ded, server)
    assert server.replay_guard.last((CLIENT_TITLE, KeyRole.DEDICATED)) == 1
    assert server.replay_guard.last((CLIENT_TITLE, KeyRole.GLOBAL_UNICAST)) == 1
    # a new dedicated key restarts the dedicated window and counter
    client.set_dedicated_key(bytes(range(0xA0, 0xB0)))
    server.set_dedicated_key(bytes(range(0xA0, 0xB0)))
    assert unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-ded"), server)[2].invocation_counter == 1  # type: ignore[union-attr]
    with pytest.raises(InvalidKeyError):
        server.set_dedicated_key(bytes(15))


def test_forged_high_counter_does_not_move_the_window() -> None:
    client, server = pair()
    forged = bytearray(protect_apdu(GET_CLOCK, client, "general-glo"))
    forged[12:16] = b"\xff\xff\xff\xf0"
    with pytest.raises(AuthenticationError):
        unprotect_apdu(bytes(forged), server)
    assert unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server)[0] == GET_CLOCK


def test_downgrade_plain_apdu() -> None:
    _, server = pair()
    with pytest.raises(DowngradeError):
        unprotect_apdu(GET_CLOCK, server)
    assert server.security_events == 1
    _, open_server = pair(SecurityPolicy.NOTHING)
    assert unprotect_apdu(GET_CLOCK, open_server) == (GET_CLOCK, None, None)
    # the policy is per direction: a server whose responses must be encrypted may get plain requests
    _, half = pair(SecurityPolicy.ENCRYPTED_RESPONSE)
    assert unprotect_apdu(GET_CLOCK, half)[0] == GET_CLOCK


def test_downgrade_authentication_only_where_encryption_required() -> None:
    client, server = pair(SecurityPolicy.NOTHING)
    server.policy = SecurityPolicy.ENCRYPTED_REQUEST | SecurityPolicy.AUTHENTICATED_REQUEST
    auth_only = protect_apdu(GET_CLOCK, client, "general-glo", security_control=0x10)
    with pytest.raises(DowngradeError, match="encryption"):
        unprotect_apdu(auth_only, server)
    enc_only = protect_apdu(GET_CLOCK, client, "general-glo", security_control=0x20)
    with pytest.raises(DowngradeError, match="authentication"):
        unprotect_apdu(enc_only, server)
    # more protection than required is fine
    server.policy = SecurityPolicy.AUTHENTICATED_REQUEST
    assert unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server)[0] == GET_CLOCK


def test_downgrade_other_suite() -> None:
    client, _ = pair(ALL, SecuritySuite.SUITE_0)
    _, server1 = pair(ALL, SecuritySuite.SUITE_1)
    with pytest.raises(DowngradeError, match="suite"):
        unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server1)
    with pytest.raises(EncodeError):
        protect_apdu(GET_CLOCK, client, "general-glo", security_control=0x31)


def test_unexpected_sender() -> None:
    client, server = pair()
    client.system_title = H("4D4D4D00000000FF")
    with pytest.raises(AuthenticationError, match="unexpected system title"):
        unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server)


def test_wrong_plain_tag_inside_service_specific() -> None:
    client, server = pair()
    apdu = bytearray(protect_apdu(GET_CLOCK, client, "service-specific-glo"))
    apdu[0] = 0xCC  # glo-get-response around a get-request: authentic content, wrong envelope tag
    with pytest.raises(DecodeError, match="does not start with 0xC4"):
        unprotect_apdu(bytes(apdu), server)


def test_missing_keys_and_counters() -> None:
    client, server = pair()
    client.keys.dedicated_key = None
    with pytest.raises(KeyMissingError):
        protect_apdu(GET_CLOCK, client, "general-ded")
    client.keys.kek = None
    with pytest.raises(KeyMissingError):
        protect_apdu(GET_CLOCK, client, "general-ciphering-wrapped")
    del client.invocation_counters[KeyRole.GLOBAL_UNICAST]
    with pytest.raises(KeyMissingError):
        protect_apdu(GET_CLOCK, client, "general-glo")
    with pytest.raises(EncodeError):
        protect_apdu(H("0F0000"), server, "service-specific-glo")  # data-notification: general only
    with pytest.raises(EncodeError):
        protect_apdu(b"", server, "service-specific-glo")


def test_general_signing_and_agreed_key_are_delegated() -> None:
    _, server = pair()
    signing = GeneralSigning(b"", CLIENT_TITLE, SERVER_TITLE, b"", b"", GET_CLOCK, bytes(64)).encode()
    with pytest.raises(UnsupportedSecurityError, match="signing"):
        unprotect_apdu(signing, server)


def test_key_agreement_hook() -> None:
    from cosemnet.codec.ciphered import AgreedKey
    from cosemnet.security.ciphering import seal_general_ciphering

    client, server = pair()
    content_key = secrets.token_bytes(16)
    envelope = seal_general_ciphering(
        GET_CLOCK,
        security_control=0x30,
        invocation_counter=7,
        content_key=content_key,
        ak=client.keys.ak,
        originator_system_title=CLIENT_TITLE,
        recipient_system_title=SERVER_TITLE,
        key_info=AgreedKey(b"\x01", bytes(64)),
    )
    with pytest.raises(UnsupportedSecurityError, match="key_agreement"):
        unprotect_apdu(envelope.encode(), server)
    seen: list[GeneralCiphering] = []

    def hook(env: GeneralCiphering, ctx: SecurityContext) -> bytes:
        seen.append(env)
        return content_key

    server.key_agreement = hook
    plain, env, header = unprotect_apdu(envelope.encode(), server)
    assert plain == GET_CLOCK and seen == [env] and header is not None and header.invocation_counter == 7


def test_context_validation_and_repr_hides_keys() -> None:
    with pytest.raises(InvalidKeyError):
        SecurityContext(SecuritySuite.SUITE_2, ALL, CLIENT_TITLE, None, make_keys(SecuritySuite.SUITE_0))
    with pytest.raises(EncodeError):
        SecurityContext(SecuritySuite.SUITE_0, ALL, CLIENT_TITLE[:7], None, KeySet())
    client, _ = pair()
    text = repr(client) + repr(client.keys)
    for key in (client.keys.ek, client.keys.ak, client.keys.kek, client.keys.dedicated_key):
        assert key is not None
        assert key.hex() not in text.lower() and repr(key) not in text
    assert "<16 bytes>" in text


def test_secret_repr() -> None:
    from cosemnet.security.keys import Secret

    assert repr(Secret(b"12345678")) == "Secret(<8 bytes>)"
    assert repr(KeySet()) == "KeySet(ek=None, ak=None, broadcast_key=None, dedicated_key=None, kek=None)"


def test_exceptions_do_not_leak_keys() -> None:
    client, server = pair()
    server.keys.ek = bytes(range(1, 17))
    with pytest.raises(SecurityError) as info:
        unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server)
    assert bytes(range(1, 17)).hex() not in str(info.value)


@given(st.binary(max_size=120))
def test_random_input_raises_only_cosemnet_errors(raw: bytes) -> None:
    _, server = pair(SecurityPolicy.NOTHING)
    with contextlib.suppress(DecodeError, SecurityError):
        unprotect_apdu(raw, server)


def test_unused_store_type_is_usable_as_counter() -> None:
    from cosemnet.security.counters import InvocationCounter

    client, server = pair()
    store = MemoryCounterStore()
    client.invocation_counters[KeyRole.GLOBAL_UNICAST] = InvocationCounter(
        store, "guek", block_size=4, start=10
    )
    for expected in range(10, 20):
        _, _, header = unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server)
        assert header is not None and header.invocation_counter == expected
    assert store.reservations == 3
    assert isinstance(server.replay_guard, ReplayGuard)


@pytest.mark.parametrize("size", [1, 100, 200, 1000, 70000])
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_buffer_types_and_length_forms(size: int, wrap: type) -> None:
    """Every A-XDR length form (short, 81, 82, 83) and every buffer type, both directions."""
    client, server = pair()
    apdu = GET_CLOCK[:1] + bytes(size)
    protected = protect_apdu(wrap(apdu), client, "general-glo")
    content = len(apdu) + 5 + 12
    assert protected[10] == (
        content if content < 0x80 else {1: 0x81, 2: 0x82, 3: 0x83}[(content.bit_length() + 7) // 8]
    )
    plain, envelope, _ = unprotect_apdu(wrap(protected), server)
    assert plain == apdu and isinstance(envelope, GeneralGloCiphering)
    assert envelope.encode() == protected


def test_policy_change_takes_effect_immediately() -> None:
    client, server = pair()
    first = protect_apdu(GET_CLOCK, client, "general-glo")
    assert first[11] == 0x30
    client.policy = SecurityPolicy.AUTHENTICATED_REQUEST
    assert protect_apdu(GET_CLOCK, client, "general-glo")[11] == 0x10
    client.keys.ek = bytes(16)
    server.keys.ek = bytes(16)
    client.policy = ALL
    assert unprotect_apdu(protect_apdu(GET_CLOCK, client, "general-glo"), server)[0] == GET_CLOCK
    with pytest.raises(ReplayError):
        unprotect_apdu(first, server)  # the replay check comes first
    _, fresh = pair()
    fresh.keys.ek = bytes(16)
    with pytest.raises(AuthenticationError):
        unprotect_apdu(first, fresh)  # made with the old key


@pytest.mark.parametrize("kind", KINDS)
def test_decipher_apdu_is_unprotect_apdus_plaintext(kind: ProtectionKind) -> None:
    """decipher_apdu (the head-end's and client's receive path): the same plaintext, the same
    replay window and the same errors as unprotect_apdu, on the fast path and the general one."""
    client, server = pair()
    first = protect_apdu(GET_CLOCK, client, kind)
    second = protect_apdu(GET_CLOCK, client, kind)
    assert decipher_apdu(first, server) == GET_CLOCK
    with pytest.raises(ReplayError):
        decipher_apdu(first, server)  # the window moved
    tampered = bytearray(second)
    tampered[-1] ^= 0x01
    with pytest.raises(AuthenticationError):
        decipher_apdu(bytes(tampered), server)
    assert server.security_events == 2
    assert decipher_apdu(second, server) == GET_CLOCK  # the forged copy did not move the window
    _, reference = pair()
    assert unprotect_apdu(first, reference)[0] == GET_CLOCK
