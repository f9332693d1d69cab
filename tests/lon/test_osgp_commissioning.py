"""LNAP commissioning (Annex D.7.5, decision 0090): a factory-new meter holding only its PSK gets a
secure channel, the domain key and an operational LTK that retires the PSK; the exchange is the
documented message sequence, and afterwards only the operational key opens a channel."""

from __future__ import annotations

from cosemnet.profiles.lon.osgp_aes.agent import ChannelState, ConcentratorSecurity, OsgpConfig
from cosemnet.profiles.lon.osgp_aes.commissioning import CommissioningStep, LnapCommissioning
from cosemnet.profiles.lon.osgp_aes.keys import KeyStore
from cosemnet.profiles.lon.osgp_aes.messages import OSGP_SECURITY_MESSAGE_CODE, decode_security_message
from cosemnet.profiles.lon.sap import NNAP_CLIENT

from .osgp_net import Net, ltk, meter_id

GET = bytes.fromhex("C001C1000100002B0100FF0200")
SETUP = ["ChallengeRequest", "ChallengeResponse", "CommissionRequest", "CommissionResponse"]


def _kinds(net: Net, start: int = 0) -> list[str]:
    return [
        type(decode_security_message(f.apdu.data)).__name__
        for f in net.log[start:]
        if f.apdu.code == OSGP_SECURITY_MESSAGE_CODE
    ]


def _commission(net: Net, job: LnapCommissioning) -> None:
    job.start(net.now)
    for _ in range(20):
        net.run()
        if job.poll(net.now) in (CommissioningStep.DONE, CommissioningStep.FAILED):
            return


def test_factory_new_meter_is_commissioned_and_its_psk_retired() -> None:
    net = Net(1)
    net.nnap_security.update_domain_key(net.now)  # the NNAP's domain key, before any meter has a channel
    job = LnapCommissioning(net.nnap_security, net.meters[0].address, meter_id(0))
    _commission(net, job)
    assert job.step is CommissioningStep.DONE, job.reason
    assert _kinds(net) == [
        *SETUP,
        "UpdateDomainKeysRequest",
        "UpdateDomainKeysResponse",
        "LongTermKeyUpdateRequest",
        "LongTermKeyUpdateResponse",
        *SETUP,
    ]
    meter = net.meter_security[0]
    entry = net.keystore.entry(meter_id(0))
    assert entry is not None and entry.pending is None and entry.current.key_id == 2
    assert set(meter.ltks) == {2} and meter.ltks[2].key == entry.current.key != ltk(0)
    assert meter.domain.current == net.keystore.domain_key_id
    # protected traffic works on the renewed channel
    net.nnap.adp.data_request(NNAP_CLIENT, 1, GET, net.now, destination=net.meters[0].address)
    net.run()
    [indication] = net.meters[0].indications()
    assert indication.apdu == GET and indication.protected
    # whoever holds only the factory PSK (the manufacturer, a stolen provisioning list) gets no channel
    factory = KeyStore()
    factory.provision(meter_id(0), ltk(0))
    intruder = ConcentratorSecurity(OsgpConfig(bytes.fromhex("4c4f4e0000ff"), (1, 1)), factory)
    net.nnap.adp.suites = intruder
    net.nnap.adp.auxiliaries = []
    net.nnap.adp.attach(intruder)
    start = len(net.log)
    intruder.commission(net.meters[0].address, meter_id(0), net.now)
    net.run()
    assert not intruder.established(net.meters[0].address)
    assert _kinds(net, start)[:2] == ["ChallengeRequest", "ChallengeResponse"]  # answered UNKNOWN_KEY
    assert "CommissionRequest" not in _kinds(net, start)


def test_commissioning_without_key_replacement_keeps_the_psk() -> None:
    net = Net(2)
    net.nnap_security.update_domain_key(net.now)
    jobs = [
        LnapCommissioning(net.nnap_security, m.address, meter_id(i), replace_factory_key=False)
        for i, m in enumerate(net.meters)
    ]
    for job in jobs:
        _commission(net, job)
    assert [j.step for j in jobs] == [CommissioningStep.DONE] * 2
    assert _kinds(net) == [*SETUP, "UpdateDomainKeysRequest", "UpdateDomainKeysResponse"] * 2
    assert all(set(m.ltks) == {1} for m in net.meter_security)


def test_meter_with_another_psk_fails_commissioning() -> None:
    net = Net(1)
    net.keystore.provision(meter_id(0), bytes(16))  # not the meter's PSK
    job = LnapCommissioning(net.nnap_security, net.meters[0].address, meter_id(0), timeout=1000)
    _commission(net, job)
    assert job.step is CommissioningStep.FAILED
    channel = net.nnap_security.channels[("node", 0x102)]
    assert channel.state is ChannelState.FAILED
    unknown = LnapCommissioning(net.nnap_security, net.meters[0].address, bytes(6))
    unknown.start(net.now)
    assert unknown.step is CommissioningStep.FAILED and "no PSK" in unknown.reason
