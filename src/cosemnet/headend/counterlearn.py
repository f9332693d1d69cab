"""Learning a meter's lowest acceptable invocation counter (issue 12 item 8, docs/decisions/0126).

A head-end without counter state for a meter (a fresh database, a meter never spoken to) may send
its first ciphered AARQ with an invocation counter the meter has already seen from an earlier
head-end: the meter refuses it (replay protection) and keeps refusing until the counter is above its
floor. :class:`CounterProbe` reads the meter's invocation counter object (``0-0:43.1.0*255``,
class 1, attribute 2: the lowest counter it accepts, decision 0126) in a **public** association
(client wPort 16, no security: the value is not secret, and reading it needs no key), then releases
that association; the head-end moves its sending counter up to the value before the AARQ.

Sans-IO: APDUs and times in, APDUs out; the head-end wraps them in its frames.
"""

from __future__ import annotations

from typing import Final

from cosemnet.client.connection import ClientConfig, ClientConnection
from cosemnet.client.errors import ClientError
from cosemnet.client.events import AssociationEstablished, GetCompleted, ServiceFailed
from cosemnet.client.requests import Associate, Get, Release
from cosemnet.codec.obis import Obis
from cosemnet.codec.types import TypedInt
from cosemnet.profiles.mesh.meter_node import INVOCATION_COUNTER_LN

__all__ = ["PUBLIC_CLIENT_WPORT", "CounterProbe"]

PUBLIC_CLIENT_WPORT: Final = 16
"""The public client (no security, read-only object list; IEC 62056-5-3's public client SAP)."""


class CounterProbe:
    """Public association, GET of the counter object, RLRQ. ``value`` is the counter read (None:
    not read, see ``error``); ``done`` once it is known either way. ``max_receive_pdu_size`` as the
    head-end proposes for its own associations (one datagram)."""

    __slots__ = ("_logical_name", "conn", "done", "error", "value")

    def __init__(
        self,
        server_sap: int = 1,
        *,
        client_sap: int = PUBLIC_CLIENT_WPORT,
        max_receive_pdu_size: int = 0xFFFF,
        logical_name: Obis = INVOCATION_COUNTER_LN,
    ) -> None:
        self.conn = ClientConnection(
            ClientConfig(
                client_sap=client_sap, server_sap=server_sap, max_receive_pdu_size=max_receive_pdu_size
            )
        )
        self.value: int | None = None
        self.error: str | None = None
        self.done = False
        self._logical_name = logical_name

    def start(self, now: float) -> list[bytes]:
        """The AARQ to send."""
        self.conn.send_request(Associate(), now)
        return self.conn.pop_outgoing()

    def receive(self, apdu: bytes, now: float) -> list[bytes]:
        """One answer from the meter; the APDUs to send next (the GET, then the RLRQ)."""
        if self.done:
            return []
        try:
            self.conn.receive_apdu(apdu, now)
        except ClientError as exc:
            return self._fail(str(exc))
        for event in self.conn.pop_events():
            if isinstance(event, ServiceFailed):
                return self._fail(str(event.error))
            if isinstance(event, AssociationEstablished):
                self.conn.send_request(Get(1, self._logical_name, 2), now)
                return self.conn.pop_outgoing()
            if isinstance(event, GetCompleted):
                value = event.value
                if not isinstance(value, TypedInt | int) or isinstance(value, bool) or int(value) < 0:
                    return self._fail("the counter object does not hold an unsigned number")
                self.value = int(value)
                self.done = True
                try:  # the RLRE is not awaited
                    self.conn.send_request(Release(), now)
                except ClientError:
                    return []
                return self.conn.pop_outgoing()
        return []

    def _fail(self, reason: str) -> list[bytes]:
        self.error = reason
        self.done = True
        return []

    def timeout(self) -> None:
        """No answer in the attempt's time: give up (the AARQ goes out with the counter as it is)."""
        if not self.done:
            self._fail("no answer from the public association")
