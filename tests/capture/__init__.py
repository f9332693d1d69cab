"""Tests of cosemnet.trace: pcap captures and the Wireshark dissector.

Named capture: a test package named trace would shadow the standard library module.
"""
