"""Tests of cosemnet.trace (named capture: a package "trace" would shadow the standard library): pcap captures and the Wireshark dissector."""
