"""UDP ports, wPorts and the datagram budget of the mesh profile (IEC TS 62056-8-20, 6.3 and 6.4).

Facts:

* [pinned] IANA port 4059 (UDP and TCP) for DLMS/COSEM; 62056-4-7 wrapper, 8 bytes, one APDU per
  UDP datagram.
* [pinned] RFC 6282 (6LoWPAN NHC for UDP) compresses a port pair to 4 bits each when both ports are
  in 0xF0B0..0xF0BF (one byte for both), and one port to 8 bits when it is in 0xF000..0xF0FF (the
  other one carried in full, three bytes); otherwise both ports are carried in full (four bytes).
* [pinned by the TS scope] the profile uses "a specific UDP port that allows efficient UDP header
  compression" (6.3.3).

Design (decision record ``docs/decisions/0020-mesh-udp-port.md``):

* [reconstructed] the default port is **61616 (0xF0B0)**, the first port of the 4-bit range, so a
  datagram between two mesh nodes on the default port carries its two UDP ports in one byte. The TS
  text that names the number is not public; :class:`MeshPortConfig` makes the port selectable and
  4059 (``DLMS_PORT``) is one keyword away, for meters that only listen there (real Wi-SUN DLMS meters
  do).
* wPorts are those of 62056-4-7: client 1 (management) / 16 (public), server 1 (management logical
  device), 127 (all-station, used for group requests). Table 4 of the TS ("Client and server SAPs")
  is not public; the defaults follow 4-7 and every one is configurable.
* [design] datagram budget: an APDU travels in one datagram when ``8 + len(apdu)`` fits
  ``ipv6_mtu - 40 - 8`` (IPv6 and UDP headers; 6LoWPAN fragmentation below IPv6 makes 1280 the
  guaranteed MTU). Larger APDUs go with general-block-transfer blocks of at most that size.
* [design] the UDP destination of a Push setup (``send_destination_and_method.destination``) is the
  visible text ``[IPv6 address]:port`` (``:port`` optional, the profile default port then applies).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from cosemnet.codec.axdr import Buffer
from cosemnet.codec.wrapper import (
    DLMS_PORT,
    HEADER_SIZE,
    WPORT_ALL_STATION,
    WPORT_MANAGEMENT_CLIENT,
    WPORT_MANAGEMENT_LOGICAL_DEVICE,
    WPORT_NO_STATION,
    WPORT_PUBLIC_CLIENT,
)
from cosemnet.errors import DecodeError, EncodeError

__all__ = [
    "DLMS_PORT",
    "IPV6_HEADER_SIZE",
    "IPV6_MIN_MTU",
    "MESH_UDP_PORT",
    "UDP_HEADER_SIZE",
    "WPORT_ALL_STATION",
    "WPORT_MANAGEMENT_CLIENT",
    "WPORT_MANAGEMENT_LOGICAL_DEVICE",
    "WPORT_NO_STATION",
    "WPORT_PUBLIC_CLIENT",
    "MeshPortConfig",
    "apdu_budget",
    "compressed_udp_ports_size",
    "format_udp_destination",
    "needs_block_transfer",
    "parse_udp_destination",
]

MESH_UDP_PORT: Final = 0xF0B0
"""61616: the profile's default UDP port ([reconstructed], see the module docstring)."""

IPV6_MIN_MTU: Final = 1280
"""RFC 8200 minimum link MTU; 6LoWPAN fragmentation provides it over 127-byte 802.15.4 frames."""
IPV6_HEADER_SIZE: Final = 40
UDP_HEADER_SIZE: Final = 8


def _check_port(port: int, what: str) -> int:
    if type(port) is not int or not 1 <= port <= 0xFFFF:
        raise EncodeError(f"{what} must be a UDP port 1..65535, got {port!r}")
    return port


def _check_wport(wport: int, what: str) -> int:
    if type(wport) is not int or not 0 <= wport <= 0xFFFF:
        raise EncodeError(f"{what} must be a wPort 0..65535, got {wport!r}")
    return wport


@dataclass(frozen=True, slots=True)
class MeshPortConfig:
    """Ports used by one head-end or meter. Every field is configurable ([design] defaults)."""

    udp_port: int = MESH_UDP_PORT
    """The meters' UDP port (where requests go)."""
    head_end_udp_port: int = MESH_UDP_PORT
    """The head-end's UDP port (where pushes, registrations and group answers go)."""
    client_wport: int = WPORT_MANAGEMENT_CLIENT
    """The head-end's wPort (source of its requests)."""
    server_wport: int = WPORT_MANAGEMENT_LOGICAL_DEVICE
    """The meter's wPort for unicast requests."""
    group_wport: int = WPORT_ALL_STATION
    """Destination wPort of group (multicast) requests: all-station."""
    push_client_wport: int = WPORT_MANAGEMENT_CLIENT
    """Destination wPort of the meters' pushes (registration, address updates)."""
    ipv6_mtu: int = IPV6_MIN_MTU

    def __post_init__(self) -> None:
        _check_port(self.udp_port, "udp_port")
        _check_port(self.head_end_udp_port, "head_end_udp_port")
        for name in ("client_wport", "server_wport", "group_wport", "push_client_wport"):
            _check_wport(getattr(self, name), name)
        if type(self.ipv6_mtu) is not int or not IPV6_MIN_MTU <= self.ipv6_mtu <= 0xFFFF + IPV6_HEADER_SIZE:
            raise EncodeError(f"ipv6_mtu must be {IPV6_MIN_MTU}..65575, got {self.ipv6_mtu!r}")

    @classmethod
    def iana(cls) -> MeshPortConfig:
        """Everything on the IANA port 4059 instead of 61616."""
        return cls(udp_port=DLMS_PORT, head_end_udp_port=DLMS_PORT)

    @property
    def apdu_budget(self) -> int:
        """The largest APDU that fits one datagram with this MTU."""
        return apdu_budget(self.ipv6_mtu)


def apdu_budget(ipv6_mtu: int = IPV6_MIN_MTU) -> int:
    """Largest APDU carried in one datagram: MTU - IPv6 header - UDP header - wrapper header."""
    budget = ipv6_mtu - IPV6_HEADER_SIZE - UDP_HEADER_SIZE - HEADER_SIZE
    if budget <= 0:
        raise EncodeError(f"MTU {ipv6_mtu} leaves no room for an APDU")
    return min(budget, 0xFFFF)


def needs_block_transfer(apdu_length: int, ipv6_mtu: int = IPV6_MIN_MTU) -> bool:
    """True when an APDU of ``apdu_length`` bytes must go with general-block-transfer."""
    return apdu_length > apdu_budget(ipv6_mtu)


def compressed_udp_ports_size(source_port: int, destination_port: int) -> int:
    """Bytes the two UDP ports take after RFC 6282 UDP next-header compression (1, 3 or 4)."""
    _check_port(source_port, "source_port")
    _check_port(destination_port, "destination_port")
    if source_port >> 4 == 0xF0B and destination_port >> 4 == 0xF0B:
        return 1
    if source_port >> 8 == 0xF0 or destination_port >> 8 == 0xF0:
        return 3
    return 4


def format_udp_destination(address: ipaddress.IPv6Address | str, port: int | None = None) -> bytes:
    """The Push setup destination for UDP: ``b"[2001:db8::1]:61616"`` ([design] text form)."""
    try:
        addr = ipaddress.IPv6Address(address)
    except ValueError as exc:
        raise EncodeError(f"not an IPv6 address: {exc}") from None
    text = f"[{addr.compressed}]"
    if port is not None:
        text += f":{_check_port(port, 'port')}"
    return text.encode("ascii")


def parse_udp_destination(
    data: Buffer, default_port: int = MESH_UDP_PORT, offset: int = 0
) -> tuple[ipaddress.IPv6Address, int]:
    """Parse ``[address]:port`` or ``[address]`` (default port); raises only DecodeError."""
    raw = bytes(data)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("destination is not ASCII", offset, "[IPv6 address]:port") from None
    if not text.startswith("[") or "]" not in text:
        raise DecodeError("destination does not start with '['", offset, "[IPv6 address]:port")
    close = text.index("]")
    host, rest = text[1:close], text[close + 1 :]
    if "%" in host:
        raise DecodeError("zone ids are not allowed in a destination", offset + 1, "IPv6 address")
    try:
        addr = ipaddress.IPv6Address(host)
    except ValueError:
        raise DecodeError("not an IPv6 address", offset + 1, "IPv6 address") from None
    if rest == "":
        return addr, default_port
    if not rest.startswith(":") or not rest[1:].isdigit() or not rest[1:].isascii() or len(rest) > 6:
        raise DecodeError("bad port after the address", offset + close + 1, ":port")
    port = int(rest[1:])
    if not 1 <= port <= 0xFFFF:
        raise DecodeError(f"port {port} out of range", offset + close + 2, "1..65535")
    return addr, port
