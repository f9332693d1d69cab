"""Data and APDU codecs: A-XDR data, OBIS, ACSE (BER), xDLMS, the 62056-4-7 wrapper."""
