"""Key agreement: ephemeral unified model (Security setup key_agreement), one-pass Diffie-Hellman and
static unified model (general-ciphering agreed-key).

Public vectors (Green Book Ed. 8 Annex C, as reproduced in the public Connexo protocol tests
``KeyAgreementImplTest`` / ``ECDSASignatureImplTest`` and Gurux ``GXSymmetricTest``):

* Table C.1: client ephemeral key and its signature, server ephemeral key pair, server signing key;
* Table C.2: one-pass DH key pairs, the Green Book signatures of both ephemeral keys, and a
  general-ciphering example (an ACCESS request ciphered with the agreed key, IV = client system title
  || 00000000);
* the static unified model example (same plaintext, transaction-id 0102030405060708).

The published ciphertexts are checked here through their CTR part: the derived key and IV give back
the published plaintext. Their 12-byte GCM tags could not be reproduced from public information (the
authentication key / AAD of those examples is not known), so the tags are not checked.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from cosemnet.codec.axdr import decode_data_exact, encode_data
from cosemnet.codec.ciphered import AgreedKey, GeneralCiphering, IdentifiedKey, KeyId
from cosemnet.codec.types import Enumerated
from cosemnet.errors import DecodeError
from cosemnet.security.agreement import (
    AgreementState,
    EphemeralKeyAgreement,
    KeyAgreementEntry,
    KeyAgreementScheme,
    Role,
    decode_key_agreement_data,
    encode_key_agreement_data,
    ephemeral_key_signed_data,
    general_ciphering_key,
    one_pass_originator,
    one_pass_recipient,
    static_unified_key,
    static_unified_key_info,
    static_unified_originator,
)
from cosemnet.security.ecc import (
    EcKeyPair,
    ecdsa_verify,
    private_key_from_bytes,
    public_key_from_bytes,
    public_key_length,
)
from cosemnet.security.errors import (
    AuthenticationError,
    KeyMissingError,
    SecurityError,
    UnsupportedSecurityError,
)
from cosemnet.security.keys import GlobalKeyType

H = bytes.fromhex
CLIENT_ST = H("4D4D4D0000BC614E")
SERVER_ST = H("4D4D4D0000000001")
TABLE_ALGORITHM_ID = H("60857406080300")  # the AlgorithmID the Green Book tables' key values use

CLIENT_SIGNING = private_key_from_bytes(
    1, H("418073C239FA6125011DE4D6CD2E645780289F761BB21BFB0835CB5585E8B373")
)
SERVER_SIGNING = private_key_from_bytes(
    1, H("AE55414FFE079F9FC95649536BD1C2B5653D200813727E07D501A8B550C69207")
)
CLIENT_SIGNING_PUBLIC = H(
    "BAAFFDE06A8CB1C9DAE8D94023C601DBBB249254BA22EDD827E820BCA2BCC643"
    "62FBB83D86A82B87BB8B7161D2AAB5521911A946B97A284A90F7785CD9047D25"
)
SERVER_SIGNING_PUBLIC = H(
    "933ACF15B03A9248E029B2787FB52A0AECAF635F07C42A0019FB3197E38F8F54"
    "9A125EA36781B0CA96BE89A0E1FE2CF9B7361ED48B3C5E24592B9C0F4EDD31D1"
)

# Table C.1 (ephemeral unified model)
EUM_CLIENT_EPHEMERAL_PUBLIC = H(
    "2914D60E10AB705F62ED6CC349D7CB99B9AB3F3978E59278C7AF595B3AF98794"
    "1372DAB6D5AF1FA867E134167E6F23DE664A6693E05F43414611058D1B48F894"
)
EUM_CLIENT_SIGNATURE = H(
    "06F0607702AA0E2435A183E2F6B1ECD19629712E389A213610C03F77B2590860"
    "EA840AF5C3FA1F2BCDF055D4744E9A01CE9A0E55026BCAA4EEBEB764CED64BB3"
)
EUM_SERVER_EPHEMERAL = private_key_from_bytes(
    1, H("34A8C23A34DBB519D09B245754C85A6CFE05D14A063EFA5AA41545AA8241EFAE")
)
EUM_SERVER_EPHEMERAL_PUBLIC = H(
    "95F41066009B185B074F5FFFF736B71C325FCADB2BC0CF1A4F4B17BBE7AB81D6"
    "2946506BC8169C7B539B39A5D8463787F449C9BD2583FA67A1075B0DBFC638BA"
)

# Table C.2 (one-pass Diffie-Hellman)
OP_CLIENT_EPHEMERAL = private_key_from_bytes(
    1, H("47DAB03842E5B6E74828EF4F449B378D7DD1A5DAE1FFCA5AE0B0BE0AD18EC57E")
)
OP_CLIENT_EPHEMERAL_PUBLIC = H(
    "C323C2BD45711DE4688637D919F92E9DB8FB2DFC213A88D21C9DC8DCBA917D81"
    "70511DE1BADB360D50058F794B0960AE11FA28D392CFF907A62D13E3357B1DC0"
)
OP_CLIENT_SIGNATURE = H(
    "B51BE089D0B682863B2217201E73A1A9031968A9B4121DCBC3281A69739AF874"
    "29F5B3AC5471E7B6A04A2C0F2F8A25FD772A317DF97FC5463FEAC248EB8AB8BE"
)
OP_SERVER_EPHEMERAL_PUBLIC = H(
    "6439724714B47CD9CB988897D8424AB946DCD083D37A954637616011B9C23787"
    "73295F0F850D8DAFD1BBE9FE666E53E4F097CD10B38B69622152724A90987444"
)
OP_SERVER_SIGNATURE = H(
    "E1FF47974A1F6931A6502F58147463F0E8CC517D47F55B0AC56DD8AC5C9D0E48"
    "1934F2D90F9893016BD82B6E3FFE21FF1588F3278B4E9D98EB4FB62ADD64B380"
)
SERVER_KA = private_key_from_bytes(1, H("AAD3FD0732E991CF52A74C66C1F2827DDC53522A2E0A169D7C4FFCC0FB5D6A4D"))
SERVER_KA_PUBLIC = H(
    "A653565B0E06070BAE9FBE140A5D2156812AEE2DD525053E3EFC850BF13BFDFF"
    "CB240BC7B77BFF5883344E7275908D2287BEFA3725017295A096989D2338290B"
)
CLIENT_KA = private_key_from_bytes(1, H("A51C16FF5C498FCC89323D4A9267CD71BF81FD6F6A891CD240DA7F3D6F283E65"))
CLIENT_KA_PUBLIC = H(
    "07C56DE2DCAF0FD793EF29F019C89B4A0CC1E001CE94F4FFBE10BC05E7E66F76"
    "71A13FBCF9E662B9826FFF6A6938546D524ED6D3405F020296BDE16B04F7A7C2"
)

# The ACCESS request of the Green Book general-ciphering examples and the two published ciphertexts
ACCESS_REQUEST = H(
    "D94000000000040100010000600100FF020100080000010000FF0202001400000D0000FF0702001400000D0000FF08"
    "04000001040203090100090CFFFFFFFFFFFFFF00000000000901FF0203090101090CFFFFFFFFFFFFFF00000000000901"
    "FF0203090102090CFFFFFFFFFFFFFF00000000000901FF0203090103090CFFFFFFFFFFFFFF00000000000901FF0104"
    "020809010011FF11FF11FF11FF11FF11FF11FF02080901011102110111011101110111011101020809010211FF11FF11"
    "FF11FF11FF11FF11FF02080901031101110211021102110211021102"
)
ONE_PASS_CIPHERTEXT = H(
    "F435069679270C5BF4425EE5777402A6C8D51C620EED52DBB188378B836E2857D5C053E6DDF27FA87409AEF502CD96"
    "18AE47017C010224FD109CC0BEB21E742D44AB40CD11908743EC90EC8C40E221D517F72228E1A26E827F43DC18ED27"
    "B5F458D66508B05A2A4CC6FED178C881AFC3BC67064689BE8BB41C80ABB3C114A31F4CB03B8B64C7E0B4CE77B2399C"
    "93347858888F92239713B38DF01C4858245827A92EF334172EA636B31CBBDF2A96AD5D035F66AA38F1A2D97D4BBA99"
    "622E6B5F18789CECB2DFB3937D9F3E17F8B472098E6563238F37528374809836002AEA6E7012D2ADFAA7"
)
STATIC_UNIFIED_CIPHERTEXT = H(
    "607581D83815281B561904E6A72B83BF3FB0B1F2A0A23A82A804B39911F6CB1B4EF9B6F76C6338ED058014FFBF4A13"
    "A162E0EED11EEB8F597757A18215F28E1D3FC2D44586C4B8AFE4500B535B579506CDB925CBEFF7F1CF6BF96C583B9C"
    "F588FE8F6B01A574824D7CEC597F057FFA8700AF12AD63A7FA72040439F4392C089B265F9EB1AC308239906DC04E1A"
    "8712ABE383CF92349842EBA166EF2E9EB2F53D0DBA025D79875463398BBC3007BC4A6FC12780C21EE1ABF080BF0FA9"
    "26242834C0AC30D55A1EF8856E7DED48621F17FDF4D5B54EDDADD874119251049B6AEE111C12FBC2FEAF"
)
TRANSACTION_ID = H("0102030405060708")
TAG_LENGTH = 12

SUITES = [1, 2]


def gcm_keystream_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """The encryption part of AES-GCM (CTR from inc32(J0)), without tag check."""
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def make_pair(suite: int) -> tuple[EphemeralKeyAgreement, EphemeralKeyAgreement]:
    client_signing, server_signing = EcKeyPair.generate(suite), EcKeyPair.generate(suite)
    common = {"client_system_title": CLIENT_ST, "server_system_title": SERVER_ST}
    client = EphemeralKeyAgreement(
        suite,
        Role.CLIENT,
        signing_key=client_signing.private_key,
        peer_signing_key=server_signing.public_key,
        **common,
    )
    server = EphemeralKeyAgreement(
        suite,
        Role.SERVER,
        signing_key=server_signing.private_key,
        peer_signing_key=client_signing.public_bytes(),
        **common,
    )
    return client, server


# -- key_agreement data ------------------------------------------------------------------------------


def test_key_agreement_data_round_trips_through_axdr() -> None:
    entries = [
        KeyAgreementEntry(GlobalKeyType.UNICAST_ENCRYPTION, b"\x01" * 128),
        KeyAgreementEntry(GlobalKeyType.AUTHENTICATION, b"\x02" * 128),
    ]
    value = encode_key_agreement_data(entries)
    encoded = encode_data(value)
    assert encoded[:6] == H("010202021600")  # array[2] of structure{enum 0, ...}
    assert decode_key_agreement_data(decode_data_exact(encoded)) == entries
    assert decode_key_agreement_data(encoded) == entries


@pytest.mark.parametrize(
    "value",
    [
        [],
        (Enumerated(0), b""),
        [(Enumerated(0),)],
        [(Enumerated(0), "text")],
        [(0, b"x")],
        [(Enumerated(9), b"x")],
        [(Enumerated(0), b"x"), (Enumerated(0), b"y")],
        None,
    ],
)
def test_malformed_key_agreement_data(value: object) -> None:
    with pytest.raises(DecodeError):
        decode_key_agreement_data(value)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_key_agreement_data_decoder_raises_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_key_agreement_data(data)


# -- ephemeral unified model -------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
def test_ephemeral_unified_model_round_trip(suite: int) -> None:
    client, server = make_pair(suite)
    request = client.create_request([GlobalKeyType.UNICAST_ENCRYPTION, GlobalKeyType.AUTHENTICATION])
    assert client.state is AgreementState.AWAITING_RESPONSE
    response, server_keys = server.respond(encode_data(request))  # as bytes, as a server receives it
    client_keys = client.process_response(response)
    assert client_keys == server_keys
    assert set(client_keys) == {GlobalKeyType.UNICAST_ENCRYPTION, GlobalKeyType.AUTHENTICATION}
    assert all(len(k) == (16 if suite == 1 else 32) for k in client_keys.values())
    assert client_keys[GlobalKeyType.UNICAST_ENCRYPTION] != client_keys[GlobalKeyType.AUTHENTICATION]
    assert client.state is server.state is AgreementState.DONE
    # a second run gives other keys (fresh ephemeral keys)
    client2, server2 = make_pair(suite)
    _response2, keys2 = server2.respond(client2.create_request([GlobalKeyType.UNICAST_ENCRYPTION]))
    assert keys2[GlobalKeyType.UNICAST_ENCRYPTION] != client_keys[GlobalKeyType.UNICAST_ENCRYPTION]


def test_green_book_table_c1_server_side() -> None:
    server = EphemeralKeyAgreement(
        1,
        Role.SERVER,
        signing_key=SERVER_SIGNING,
        peer_signing_key=CLIENT_SIGNING_PUBLIC,
        client_system_title=CLIENT_ST,
        server_system_title=SERVER_ST,
        algorithm=TABLE_ALGORITHM_ID,
    )
    request = [(Enumerated(0), EUM_CLIENT_EPHEMERAL_PUBLIC + EUM_CLIENT_SIGNATURE)]
    response, keys = server.respond(request, ephemeral_keys={0: EUM_SERVER_EPHEMERAL})
    assert keys == {GlobalKeyType.UNICAST_ENCRYPTION: H("E025CA6F9EE8D2B40F993739D44CFBC0")}
    [entry] = decode_key_agreement_data(response)
    assert entry.key_id == GlobalKeyType.UNICAST_ENCRYPTION
    assert entry.key_data[:64] == EUM_SERVER_EPHEMERAL_PUBLIC
    assert ecdsa_verify(SERVER_SIGNING_PUBLIC, b"\x00" + EUM_SERVER_EPHEMERAL_PUBLIC, entry.key_data[64:], 1)


def test_ephemeral_key_signed_data_layout() -> None:
    assert ephemeral_key_signed_data(2, b"\xaa\xbb") == b"\x02\xaa\xbb"


def test_tampered_request_signature_is_rejected() -> None:
    client, server = make_pair(1)
    [(key_id, key_data)] = client.create_request([GlobalKeyType.UNICAST_ENCRYPTION])  # type: ignore[misc]
    with pytest.raises(AuthenticationError):
        server.respond([(key_id, flip(key_data, 100))])
    assert server.state is AgreementState.FAILED
    with pytest.raises(SecurityError):
        server.respond([(key_id, key_data)])  # single use


@pytest.mark.parametrize("index", [0, 63, 64, 127])
def test_tampered_response_is_rejected(index: int) -> None:
    client, server = make_pair(1)
    response, _ = server.respond(client.create_request([GlobalKeyType.UNICAST_ENCRYPTION]))
    [(key_id, key_data)] = response  # type: ignore[misc]
    with pytest.raises((AuthenticationError, DecodeError)):
        client.process_response([(key_id, flip(key_data, index))])
    assert client.state is AgreementState.FAILED


def test_signature_made_for_another_key_id_is_rejected() -> None:
    client, server = make_pair(1)
    [(_, key_data)] = client.create_request([GlobalKeyType.UNICAST_ENCRYPTION])  # type: ignore[misc]
    with pytest.raises(AuthenticationError):
        server.respond([(Enumerated(1), key_data)])


def test_response_must_answer_the_requested_key_ids() -> None:
    client, _server = make_pair(1)
    client.create_request([GlobalKeyType.UNICAST_ENCRYPTION])
    other_client, other_server = make_pair(1)
    response, _ = other_server.respond(other_client.create_request([GlobalKeyType.BROADCAST_ENCRYPTION]))
    with pytest.raises(DecodeError):
        client.process_response(response)


def test_wrong_signing_key_is_rejected() -> None:
    client, _ = make_pair(1)
    _, stranger = make_pair(1)  # trusts another client signing key
    with pytest.raises(AuthenticationError):
        stranger.respond(client.create_request([GlobalKeyType.UNICAST_ENCRYPTION]))


def test_state_machine_misuse() -> None:
    client, server = make_pair(2)
    with pytest.raises(SecurityError):
        server.create_request([GlobalKeyType.UNICAST_ENCRYPTION])
    with pytest.raises(SecurityError):
        client.process_response([])
    with pytest.raises(SecurityError):
        client.create_request([])
    with pytest.raises(SecurityError):
        client.create_request([0, 0])
    with pytest.raises(SecurityError):
        client.create_request([7])
    client.create_request([0])
    with pytest.raises(SecurityError):
        client.create_request([0])
    assert "client" in repr(client) and "awaiting" in repr(client)


def test_wrong_suite_and_key_curve() -> None:
    p256 = EcKeyPair.generate(1)
    with pytest.raises(UnsupportedSecurityError):
        EphemeralKeyAgreement(
            0,
            Role.CLIENT,
            signing_key=p256.private_key,
            peer_signing_key=p256.public_key,
            client_system_title=CLIENT_ST,
            server_system_title=SERVER_ST,
        )
    with pytest.raises(SecurityError):
        EphemeralKeyAgreement(
            2,
            Role.CLIENT,
            signing_key=p256.private_key,
            peer_signing_key=EcKeyPair.generate(2).public_key,
            client_system_title=CLIENT_ST,
            server_system_title=SERVER_ST,
        )


# -- one-pass Diffie-Hellman -------------------------------------------------------------------------


def test_green_book_one_pass_signatures_cover_the_bare_ephemeral_key() -> None:
    assert ecdsa_verify(CLIENT_SIGNING_PUBLIC, OP_CLIENT_EPHEMERAL_PUBLIC, OP_CLIENT_SIGNATURE, 1)
    assert ecdsa_verify(SERVER_SIGNING_PUBLIC, OP_SERVER_EPHEMERAL_PUBLIC, OP_SERVER_SIGNATURE, 1)


def test_green_book_one_pass_example_decrypts() -> None:
    key_info = AgreedKey(b"\x01", OP_CLIENT_EPHEMERAL_PUBLIC + OP_CLIENT_SIGNATURE)
    key = one_pass_recipient(
        1,
        key_info,
        agreement_key=SERVER_KA,
        originator_system_title=CLIENT_ST,
        recipient_system_title=SERVER_ST,
        originator_signing_key=CLIENT_SIGNING_PUBLIC,
    )
    assert key == H("59A71FD81C929A86A99438DA17A66C05")
    body = ONE_PASS_CIPHERTEXT[:-TAG_LENGTH]
    assert gcm_keystream_decrypt(key, CLIENT_ST + bytes(4), body) == ACCESS_REQUEST


def test_green_book_one_pass_originator_side() -> None:
    content = one_pass_originator(
        1,
        recipient_agreement_key=SERVER_KA_PUBLIC,
        originator_system_title=CLIENT_ST,
        recipient_system_title=SERVER_ST,
        signing_key=CLIENT_SIGNING,
        ephemeral_key=OP_CLIENT_EPHEMERAL,
    )
    assert content.key == H("59A71FD81C929A86A99438DA17A66C05")
    assert content.key_info.key_parameters == b"\x01"
    data = content.key_info.key_ciphered_data
    assert data[:64] == OP_CLIENT_EPHEMERAL_PUBLIC
    assert ecdsa_verify(CLIENT_SIGNING_PUBLIC, data[:64], data[64:], 1)
    assert "59A71FD8" not in repr(content).upper()


def test_green_book_one_pass_server_to_client_table_value() -> None:
    key_info = AgreedKey(b"\x01", OP_SERVER_EPHEMERAL_PUBLIC + OP_SERVER_SIGNATURE)
    key = one_pass_recipient(
        1,
        key_info,
        agreement_key=CLIENT_KA,
        originator_system_title=SERVER_ST,
        recipient_system_title=CLIENT_ST,
        originator_signing_key=SERVER_SIGNING_PUBLIC,
        algorithm=TABLE_ALGORITHM_ID,
    )
    assert key == H("E357F06755CBF5C2C31457FE3CD1D5B8")


@pytest.mark.parametrize("suite", SUITES)
def test_one_pass_round_trip(suite: int) -> None:
    originator_signing, recipient_ka = EcKeyPair.generate(suite), EcKeyPair.generate(suite)
    sent = one_pass_originator(
        suite,
        recipient_agreement_key=recipient_ka.public_key,
        originator_system_title=CLIENT_ST,
        recipient_system_title=SERVER_ST,
        signing_key=originator_signing.private_key,
    )
    assert len(sent.key_info.key_ciphered_data) == 2 * public_key_length(suite)
    received = one_pass_recipient(
        suite,
        sent.key_info,
        agreement_key=recipient_ka.private_key,
        originator_system_title=CLIENT_ST,
        recipient_system_title=SERVER_ST,
        originator_signing_key=originator_signing.public_bytes(),
    )
    assert received == sent.key and len(received) == (16 if suite == 1 else 32)
    # another message, another ephemeral key, another content key
    again = one_pass_originator(
        suite,
        recipient_agreement_key=recipient_ka.public_key,
        originator_system_title=CLIENT_ST,
        recipient_system_title=SERVER_ST,
        signing_key=originator_signing.private_key,
    )
    assert again.key != sent.key


def test_one_pass_rejections() -> None:
    signing, ka = EcKeyPair.generate(1), EcKeyPair.generate(1)
    kwargs = {"originator_system_title": CLIENT_ST, "recipient_system_title": SERVER_ST}
    signed = one_pass_originator(
        1, recipient_agreement_key=ka.public_key, signing_key=signing.private_key, **kwargs
    )
    data = signed.key_info.key_ciphered_data
    # tampered signature, tampered key, signature by someone else
    for bad in (flip(data, 100), flip(data, 5)):
        with pytest.raises((AuthenticationError, DecodeError)):
            one_pass_recipient(
                1,
                replace(signed.key_info, key_ciphered_data=bad),
                agreement_key=ka.private_key,
                originator_signing_key=signing.public_key,
                **kwargs,
            )
    with pytest.raises(AuthenticationError):
        one_pass_recipient(
            1,
            signed.key_info,
            agreement_key=ka.private_key,
            originator_signing_key=EcKeyPair.generate(1).public_key,
            **kwargs,
        )
    with pytest.raises(KeyMissingError):
        one_pass_recipient(
            1, signed.key_info, agreement_key=ka.private_key, originator_signing_key=None, **kwargs
        )
    # unsigned ephemeral key: only when explicitly allowed
    unsigned = one_pass_originator(1, recipient_agreement_key=ka.public_key, signing_key=None, **kwargs)
    assert len(unsigned.key_info.key_ciphered_data) == 64
    with pytest.raises(AuthenticationError):
        one_pass_recipient(
            1, unsigned.key_info, agreement_key=ka.private_key, originator_signing_key=None, **kwargs
        )
    key = one_pass_recipient(
        1,
        unsigned.key_info,
        agreement_key=ka.private_key,
        originator_signing_key=None,
        require_signature=False,
        **kwargs,
    )
    assert key == unsigned.key
    with pytest.raises(DecodeError):
        one_pass_recipient(
            1,
            AgreedKey(b"\x01", data[:-1]),
            agreement_key=ka.private_key,
            originator_signing_key=signing.public_key,
            **kwargs,
        )
    with pytest.raises(DecodeError):
        one_pass_recipient(
            1, AgreedKey(b"", data), agreement_key=ka.private_key, originator_signing_key=None, **kwargs
        )
    with pytest.raises(SecurityError):
        one_pass_recipient(
            1, static_unified_key_info(), agreement_key=ka.private_key, originator_signing_key=None, **kwargs
        )


# -- static unified model ----------------------------------------------------------------------------


def test_green_book_static_unified_example_decrypts() -> None:
    sent = static_unified_originator(
        1,
        agreement_key=CLIENT_KA,
        recipient_agreement_key=SERVER_KA_PUBLIC,
        originator_system_title=CLIENT_ST,
        recipient_system_title=SERVER_ST,
        transaction_id=TRANSACTION_ID,
    )
    assert sent.key == H("56C46B57DF675515C31025455822514A")
    assert sent.key_info == AgreedKey(b"\x02", b"")
    received = static_unified_key(
        1,
        agreement_key=SERVER_KA,
        peer_agreement_key=CLIENT_KA_PUBLIC,
        originator_system_title=CLIENT_ST,
        recipient_system_title=SERVER_ST,
        transaction_id=TRANSACTION_ID,
    )
    assert received == sent.key
    body = STATIC_UNIFIED_CIPHERTEXT[:-TAG_LENGTH]
    assert gcm_keystream_decrypt(received, CLIENT_ST + bytes(4), body) == ACCESS_REQUEST


@pytest.mark.parametrize("suite", SUITES)
def test_static_unified_key_depends_on_the_transaction_id(suite: int) -> None:
    a, b = EcKeyPair.generate(suite), EcKeyPair.generate(suite)
    kwargs = {"originator_system_title": CLIENT_ST, "recipient_system_title": SERVER_ST}
    k1 = static_unified_key(
        suite,
        agreement_key=a.private_key,
        peer_agreement_key=b.public_key,
        transaction_id=b"\x01" * 8,
        **kwargs,
    )
    k2 = static_unified_key(
        suite,
        agreement_key=b.private_key,
        peer_agreement_key=a.public_key,
        transaction_id=b"\x01" * 8,
        **kwargs,
    )
    k3 = static_unified_key(
        suite,
        agreement_key=a.private_key,
        peer_agreement_key=b.public_key,
        transaction_id=b"\x02" * 8,
        **kwargs,
    )
    assert k1 == k2 != k3


# -- general-ciphering dispatcher --------------------------------------------------------------------


def _apdu(key_info: AgreedKey | IdentifiedKey) -> GeneralCiphering:
    apdu = GeneralCiphering(TRANSACTION_ID, CLIENT_ST, SERVER_ST, b"", b"", key_info, b"\x31" + bytes(4))
    return GeneralCiphering.decode(apdu.encode())  # as received


def test_general_ciphering_key_dispatches_on_key_parameters() -> None:
    one_pass = _apdu(AgreedKey(b"\x01", OP_CLIENT_EPHEMERAL_PUBLIC + OP_CLIENT_SIGNATURE))
    assert general_ciphering_key(
        one_pass, 1, agreement_key=SERVER_KA, originator_signing_key=CLIENT_SIGNING_PUBLIC
    ) == H("59A71FD81C929A86A99438DA17A66C05")
    static = _apdu(static_unified_key_info())
    assert general_ciphering_key(
        static, 1, agreement_key=SERVER_KA, originator_agreement_key=CLIENT_KA_PUBLIC
    ) == H("56C46B57DF675515C31025455822514A")
    with pytest.raises(KeyMissingError):
        general_ciphering_key(static, 1, agreement_key=SERVER_KA)
    with pytest.raises(DecodeError):
        general_ciphering_key(
            _apdu(AgreedKey(b"\x02", b"\x00")),
            1,
            agreement_key=SERVER_KA,
            originator_agreement_key=CLIENT_KA_PUBLIC,
        )
    with pytest.raises(UnsupportedSecurityError):
        general_ciphering_key(
            _apdu(AgreedKey(bytes((KeyAgreementScheme.EPHEMERAL_UNIFIED_MODEL,)), b"")),
            1,
            agreement_key=SERVER_KA,
        )
    with pytest.raises(SecurityError):
        general_ciphering_key(
            _apdu(IdentifiedKey(KeyId.GLOBAL_UNICAST_ENCRYPTION_KEY)), 1, agreement_key=SERVER_KA
        )


def test_public_key_of_table_c2_server_static_key() -> None:
    assert public_key_from_bytes(1, SERVER_KA_PUBLIC) == SERVER_KA.public_key()
    assert public_key_from_bytes(1, CLIENT_KA_PUBLIC) == CLIENT_KA.public_key()
