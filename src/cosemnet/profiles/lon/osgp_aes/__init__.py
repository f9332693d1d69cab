"""The OSGP-AES-128-PSK security suite of IEC 62056-8-8 Annex D (suite id 1 of the ADP protected form).

* :mod:`.messages`: the security-management messages (Tables D.3-D.6, D.14-D.17);
* :mod:`.keys`: the key hierarchy (Figure D.1, Table D.2) and the concentrator's key file;
* :mod:`.context`: the CryptoContext (D.7.2) and the protected ADP PDU (D.8: nonce, AD, replay window);
* :mod:`.agent`: the meter (LNAP) and concentrator (NNAP) ends: channel set-up (D.7), key management
  (D.10, D.11), error messages (D.12);
* :mod:`.firmware_messages`, :mod:`.firmware`: firmware download (broadcast blocks under the domain key,
  per-meter verification, unicast repair, activation; decision 0049);
* :mod:`.commissioning`: LNAP commissioning of a factory-new meter (D.7.5; decision 0090).

The primitives (OSGP_MAC, OSGP_AE/AD, OSGP_KDF, OSGP_CSPRNG) are in :mod:`cosemnet.security.osgp`.
Layouts and choices: docs/decisions/0042-0049.
"""
