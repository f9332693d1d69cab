"""APDU tags: the first byte of every xDLMS and ACSE APDU, in one registry (IEC 62056-5-3, 9.5).

:class:`ApduTag` names each tag as the standard does; :attr:`ApduTag.standard_name` gives the label
the standard uses (``get-request``, ``AARQ``...). The 32 service-specific ciphered tags (glo-/ded-) are
listed by :data:`cosemnet.codec.ciphered.CIPHERED_TO_PLAIN`, not here.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ApduTag"]

_ACSE: frozenset[str] = frozenset({"AARQ", "AARE", "RLRQ", "RLRE"})


class ApduTag(IntEnum):
    """First byte of an APDU."""

    INITIATE_REQUEST = 0x01
    READ_REQUEST = 0x05
    WRITE_REQUEST = 0x06
    INITIATE_RESPONSE = 0x08
    READ_RESPONSE = 0x0C
    WRITE_RESPONSE = 0x0D
    CONFIRMED_SERVICE_ERROR = 0x0E
    DATA_NOTIFICATION = 0x0F
    UNCONFIRMED_WRITE_REQUEST = 0x16
    INFORMATION_REPORT_REQUEST = 0x18
    AARQ = 0x60
    AARE = 0x61
    RLRQ = 0x62
    RLRE = 0x63
    GET_REQUEST = 0xC0
    SET_REQUEST = 0xC1
    EVENT_NOTIFICATION_REQUEST = 0xC2
    ACTION_REQUEST = 0xC3
    GET_RESPONSE = 0xC4
    SET_RESPONSE = 0xC5
    ACTION_RESPONSE = 0xC7
    EXCEPTION_RESPONSE = 0xD8
    ACCESS_REQUEST = 0xD9
    ACCESS_RESPONSE = 0xDA
    GENERAL_GLO_CIPHERING = 0xDB
    GENERAL_DED_CIPHERING = 0xDC
    GENERAL_CIPHERING = 0xDD
    GENERAL_SIGNING = 0xDF
    GENERAL_BLOCK_TRANSFER = 0xE0

    @property
    def standard_name(self) -> str:
        """The APDU's name in the standard: ``get-request``, ``general-block-transfer``, ``AARQ``."""
        if self.name in _ACSE:
            return self.name
        return self.name.lower().replace("_", "-")
