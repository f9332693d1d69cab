"""The server in front of cosemnet's simulated meter: public GET and management HLS-GMAC + ciphering."""

from __future__ import annotations

import pytest

from cosemnet.codec.acse import AARE, ApplicationContextName, AssociationResult, MechanismName
from cosemnet.codec.obis import Obis
from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms import (
    ActionRequestNormal,
    ActionResponseNormal,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    GetRequestNormal,
    GetResponseNormal,
)
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.hls import hls_gmac, verify_hls_gmac
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite
from cosemnet.server import MeterServer

from .helpers import AK, CLIENT_TITLE, CTOS, EK, ENERGY, T0, aarq, initiate

pytest.importorskip("cosemnet.simulator")

from cosemnet.cli.meter import load_devices


def test_public_and_management_associations() -> None:
    devices, tick = load_devices(None, T0)
    assert tick is not None
    server = MeterServer(devices)
    sap = devices[0].server_sap
    assert sap is not None
    conn = server.open_connection(T0)

    def ask(client: int, apdu: bytes, now: float = T0) -> bytes:
        conn.receive_frame(WrapperFrame(client, sap, apdu), now)
        (reply,) = conn.pop_outgoing()
        return WrapperFrame.decode(reply).apdu

    assert AARE.decode(ask(16, aarq())).result == AssociationResult.ACCEPTED
    get = GetRequestNormal(1, CosemAttributeDescriptor(3, ENERGY, 2)).encode()
    before = GetResponseNormal.decode(ask(16, get)).result
    tick(T0 + 86400)
    after = GetResponseNormal.decode(ask(16, get, T0 + 86400)).result
    assert isinstance(before, int) and isinstance(after, int) and after > before

    # management: HLS-GMAC, glo-ciphered InitiateRequest, policy authenticated + encrypted
    policy = SecurityPolicy(0x3C | 0x40)
    client = SecurityContext(
        SecuritySuite.SUITE_0,
        policy,
        CLIENT_TITLE,
        None,
        KeySet(EK, AK),
        {KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter(1)},
        role=Role.CLIENT,
    )
    glo_initiate = protect_apdu(initiate().encode(), client, "service-specific-glo")
    aare = AARE.decode(
        ask(
            1,
            aarq(
                context=ApplicationContextName.LN_CIPHERED,
                mechanism=MechanismName.HIGH_GMAC,
                value=CTOS,
                calling_ap_title=CLIENT_TITLE,
                user_information=glo_initiate,
            ),
        )
    )
    assert aare.result == AssociationResult.ACCEPTED, aare
    server_title = aare.responding_ap_title
    assert server_title is not None and isinstance(aare.responding_authentication_value, bytes)
    client.peer_system_title = server_title
    unprotect_apdu(aare.user_information or b"", client)
    f_stoc = hls_gmac(aare.responding_authentication_value, CLIENT_TITLE, 100, EK, AK)
    reply = ActionRequestNormal(
        2, CosemMethodDescriptor(15, Obis.parse("0-0:40.0.0*255"), 1), f_stoc
    ).encode()
    answer = ActionResponseNormal.decode(unprotect_apdu(ask(1, protect_apdu(reply, client)), client)[0])
    f_ctos = answer.single_response.return_parameters
    assert isinstance(f_ctos, bytes)
    verify_hls_gmac(f_ctos, CTOS, server_title, EK, AK)
    value = GetResponseNormal.decode(unprotect_apdu(ask(1, protect_apdu(get, client)), client)[0]).result
    assert isinstance(value, int)
    # the policy refuses plain requests on the management association
    assert ask(1, get)[0] == 0xD8
