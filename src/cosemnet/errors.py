"""Exception families shared by every layer.

Every decoder in cosemnet raises :class:`DecodeError` (or a subclass) on bad input and nothing else.
Encoders raise :class:`EncodeError` when a Python value cannot be represented.
"""

from __future__ import annotations


class CosemnetError(Exception):
    """Base class of every exception cosemnet raises on purpose."""


class DecodeError(CosemnetError, ValueError):
    """Input bytes do not form what was expected.

    ``offset`` is the byte offset (into the outermost buffer handed to the decoder) where decoding
    failed and ``expected`` says what the decoder was looking for there.
    """

    def __init__(self, reason: str, offset: int = 0, expected: str = "") -> None:
        self.reason = reason
        self.offset = offset
        self.expected = expected
        text = f"{reason} at offset {offset}"
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly description (used by ``cosemnet decode --json``)."""
        return {"reason": self.reason, "offset": self.offset, "expected": self.expected}


class EncodeError(CosemnetError, ValueError):
    """A Python value cannot be encoded as requested."""
