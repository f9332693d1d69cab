"""What the head-end sends to a meter node, for node tests without a head-end: confirmations
general-glo-ciphered with the simulator's default keys (decision 0036)."""

from __future__ import annotations

from cosemnet.codec.wrapper import WrapperFrame
from cosemnet.codec.xdlms.notification import DataNotification
from cosemnet.headend.keys import DEFAULT_HEAD_END_SYSTEM_TITLE, TEST_AK, TEST_BROADCAST_KEY, TEST_EK
from cosemnet.profiles.mesh.registration import DEFAULT_OBJECTS, AddressConfirmation
from cosemnet.security.ciphering import Role, SecurityContext, protect_apdu, unprotect_apdu
from cosemnet.security.control import SecurityPolicy
from cosemnet.security.counters import MemoryInvocationCounter
from cosemnet.security.keys import KeyRole, KeySet
from cosemnet.security.suite import SecuritySuite


class HeadEndSide:
    """The head-end's sending context towards meters with the default keys."""

    def __init__(self, ek: bytes = TEST_EK, ak: bytes = TEST_AK) -> None:
        self.context = SecurityContext(
            suite=SecuritySuite.SUITE_0,
            policy=SecurityPolicy.AUTHENTICATED_REQUEST | SecurityPolicy.ENCRYPTED_REQUEST,
            system_title=DEFAULT_HEAD_END_SYSTEM_TITLE,
            peer_system_title=None,
            keys=KeySet(ek=ek, ak=ak, broadcast_key=TEST_BROADCAST_KEY),
            invocation_counters={KeyRole.GLOBAL_UNICAST: MemoryInvocationCounter()},
            role=Role.CLIENT,
        )

        self.keys = KeySet(ek=ek, ak=ak)

    def open(self, apdu: bytes) -> bytes:
        """The plain APDU of a meter's general-glo-ciphered registration (checks the tag; no replay
        window: tests may open one datagram twice)."""
        assert apdu[:1] == b"\xdb", "registrations are ciphered by default"
        receiving = SecurityContext(
            suite=SecuritySuite.SUITE_0,
            policy=SecurityPolicy(0),
            system_title=DEFAULT_HEAD_END_SYSTEM_TITLE,
            peer_system_title=None,
            keys=self.keys,
        )
        return unprotect_apdu(apdu, receiving)[0]

    def reply(self, frame: WrapperFrame, plain_answer: bytes) -> bytes:
        """The protected answer to ``frame`` (wPorts swapped)."""
        apdu = protect_apdu(plain_answer, self.context, "general-glo")
        return WrapperFrame(frame.destination_wport, frame.source_wport, apdu).encode()

    def confirmation(self, confirmation: AddressConfirmation, invoke_id: int = 1) -> bytes:
        """The wrapper frame of a protected confirmation."""
        plain = DataNotification(invoke_id, None, DEFAULT_OBJECTS.body(confirmation)).encode()
        return WrapperFrame(1, 1, protect_apdu(plain, self.context, "general-glo")).encode()


def plain_confirmation(confirmation: AddressConfirmation, invoke_id: int = 1) -> bytes:
    plain = DataNotification(invoke_id, None, DEFAULT_OBJECTS.body(confirmation)).encode()
    return WrapperFrame(1, 1, plain).encode()
