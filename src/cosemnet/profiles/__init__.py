"""Communication profiles: how COSEM APDUs travel over a given network.

* :mod:`cosemnet.profiles.lon` -- IEC 62056-8-8, DLMS/COSEM over ISO/IEC 14908 (LonTalk / OSGP power
  line), with the ISO/IEC 14908-4 CN/IP tunnel.
"""
