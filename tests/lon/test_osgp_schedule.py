"""The OSGP-AES-128-PSK management traffic on the concentrator's schedule (docs/decisions/0094, management
traffic): the set-up and the domain key hand-out go as 14908-1 REQUEST / RESPONSE on the priority channel,
one transaction at a time, so they never collide with each other or with the reads."""

from __future__ import annotations

from cosemnet.profiles.lon.osgp_aes.messages import OSGP_SECURITY_MESSAGE_CODE
from cosemnet.profiles.lon.transport import Spdu, SpduType
from cosemnet.simulator.lon_segment import ENERGY_REGISTER, REGISTER_CLASS_ID, build_segment


def _management_frames(segment: object) -> list[object]:
    frames = segment.capture.frames  # type: ignore[attr-defined]
    out = []
    for frame in frames:
        apdu = getattr(frame.npdu.pdu, "apdu", None)
        if apdu is not None and getattr(apdu, "code", None) == OSGP_SECURITY_MESSAGE_CODE:
            out.append(frame)
    return out


def test_setup_and_domain_keys_go_request_response_on_the_priority_channel() -> None:
    segment = build_segment(6, seed=3, commission=False)
    assert segment.commission() == 6
    frames = _management_frames(segment)
    # per meter: challenge, commission and domain key, each a REQUEST answered by its RESPONSE: no ACKs
    assert len(frames) == 6 * 6 == len(segment.capture.frames)
    assert all(isinstance(f.npdu.pdu, Spdu) and f.priority for f in frames)  # type: ignore[attr-defined]
    kinds = [f.npdu.pdu.spdu_type for f in frames]  # type: ignore[attr-defined]
    assert kinds.count(SpduType.REQUEST) == kinds.count(SpduType.RESPONSE) == 18
    assert segment.channel.statistics.collided_frames == 0
    assert segment.concentrator_security is not None
    assert segment.concentrator_security.domain.current is not None
    assert all(segment.concentrator_security.established(m.address) for m in segment.meters)


def test_domain_key_hand_out_shares_the_channel_with_reads_without_collisions() -> None:
    segment = build_segment(8, seed=4)
    agent = segment.concentrator_security
    assert agent is not None
    links = [segment.public_link(m) for m in segment.meters]
    for link in links:
        link.submit(lambda c: c.get(REGISTER_CLASS_ID, ENERGY_REGISTER, 2))
    key_id = agent.update_domain_key(segment.channel.now)  # 8 hand-outs queued while the reads run
    segment.run()
    assert agent.domain.current == key_id
    assert all(isinstance(link.results[-1], int) for link in links)
    assert segment.channel.statistics.collided_frames == 0
