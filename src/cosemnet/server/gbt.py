"""General-Block-Transfer on the server side: one :class:`GbtSession` per association.

A response transfer restarts block numbers at 1; the window announced by the client's last GBT is
honoured (1 if the client never sent one), cut to ``max_burst`` bytes when a budget is set; a request
arriving in GBT is reassembled up to ``max_block_transfer`` bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from cosemnet.codec.xdlms import GeneralBlockTransfer
from cosemnet.server.exceptions import decode_request, not_allowed, pdu_too_long

__all__ = ["GBT_HEADER", "GbtSession"]

GBT_HEADER: Final = GeneralBlockTransfer.MAX_HEADER + 1
"""Bytes kept for the GBT header when cutting a response: the codec's maximum plus one byte of margin
(the server has always kept it; block splits stay byte-identical)."""


@dataclass(slots=True)
class GbtSession:
    """General-block-transfer state of one association and what it does with it."""

    outgoing: list[bytes] = field(default_factory=list)
    """Blocks of the response being sent (empty: none in progress)."""
    window: int = 1
    """The window the client announced in its last GBT (1 if it never sent one)."""
    received: bytearray = field(default_factory=bytearray)
    """The request being reassembled."""
    last_received: int = 0
    """Block number of the client's last block (what we acknowledge)."""

    def start(self, apdu: bytes, max_send_pdu_size: int, max_burst: int | None) -> list[bytes]:
        """Cut ``apdu`` into blocks for a client receiving ``max_send_pdu_size``; the first window."""
        size = max(1, max_send_pdu_size - GBT_HEADER)
        self.outgoing = [apdu[i : i + size] for i in range(0, len(apdu), size)] or [b""]
        return self.window_from(1, max_burst)

    def window_from(self, first: int, max_burst: int | None) -> list[bytes]:
        """The blocks of one window starting at block ``first``."""
        blocks = self.outgoing
        total = len(blocks)
        window = max(1, self.window)
        if max_burst is not None:  # the last block of a shorter window asks for the ack (streaming 0)
            window = max(1, min(window, max_burst // max(1, len(blocks[0]))))
        last_in_window = min(total, first + window - 1)
        out = []
        for number in range(first, last_in_window + 1):
            last = number == total
            out.append(
                GeneralBlockTransfer(
                    last, number != last_in_window, 1, number, self.last_received, blocks[number - 1]
                ).encode()
            )
        if last_in_window == total:
            self.outgoing = []
        return out

    def receive(
        self,
        apdu: bytes,
        max_block_transfer: int,
        max_burst: int | None,
        on_limit: Callable[[str, int], None],
    ) -> list[bytes] | bytes:
        """A received GBT: an acknowledgement (more of our blocks, a list) or part of a request (a list
        of APDUs to send, possibly empty), or the whole reassembled request (bytes)."""
        gbt = decode_request(GeneralBlockTransfer, apdu)
        if gbt.window:
            self.window = gbt.window
        if not gbt.block_data and (self.outgoing or not gbt.last_block):
            return self._acknowledged(gbt, max_burst)
        self.outgoing = []
        if gbt.block_number == 1:
            self.received = bytearray()
        elif gbt.block_number != self.last_received + 1:
            self.received = bytearray()
            raise not_allowed()
        if len(self.received) + len(gbt.block_data) > max_block_transfer:
            on_limit("general-block-transfer", len(self.received) + len(gbt.block_data))
            self.received = bytearray()
            self.last_received = 0
            raise pdu_too_long()
        self.last_received = gbt.block_number
        self.received += gbt.block_data
        if not gbt.last_block:
            if gbt.streaming:
                return []
            return [GeneralBlockTransfer(False, False, 1, 0, gbt.block_number, b"").encode()]
        data = bytes(self.received)
        self.received = bytearray()
        return data

    def _acknowledged(self, gbt: GeneralBlockTransfer, max_burst: int | None) -> list[bytes]:
        if not self.outgoing:
            raise not_allowed()
        self.last_received = gbt.block_number
        first = gbt.block_number_ack + 1
        if not 1 <= first <= len(self.outgoing):
            self.outgoing = []
            raise not_allowed()
        return self.window_from(first, max_burst)
