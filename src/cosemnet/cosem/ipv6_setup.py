"""IPv6 setup (class_id 48, version 0).

Attributes: 2 DL_reference octet-string, 3 address_config_mode enum (0 auto-configuration, 1 DHCPv6,
2 manual, 3 neighbour discovery), 4 unicast_IPv6_addresses, 5 multicast_IPv6_addresses,
6 gateway_IPv6_addresses (arrays of octet-string(16)), 7 primary_DNS_address, 8 secondary_DNS_address
(octet-string(16), empty when none), 9 traffic_class unsigned, 10 neighbor_discovery_setup (array of
{max_retry unsigned, retry_wait_time long-unsigned, send_period double-long-unsigned}).
Methods: 1 add_IPv6_address (x + 0x60), 2 remove_IPv6_address (x + 0x68), parameter structure
{address_type enum (0 unicast, 1 multicast, 2 gateway), IPv6_address octet-string(16)}.

Design choices: adding an address already present does nothing; removing an absent one fails with
other-reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar

from cosemnet.codec.obis import Obis
from cosemnet.codec.types import DataValue, DoubleLongUnsigned, Enumerated, LongUnsigned, Unsigned
from cosemnet.cosem.base import LOGICAL_NAME_DEF, AttributeDef, InterfaceClass, MethodDef, SelectiveAccess
from cosemnet.cosem.context import AccessContext
from cosemnet.cosem.results import ActionResult, CosemAccessError, type_unmatched
from cosemnet.cosem.values import as_array, as_int, as_octet_string, as_struct


class AddressConfigMode(IntEnum):
    AUTO_CONFIGURATION = 0
    DHCPV6 = 1
    MANUAL = 2
    NEIGHBOUR_DISCOVERY = 3


class AddressType(IntEnum):
    UNICAST = 0
    MULTICAST = 1
    GATEWAY = 2


@dataclass(frozen=True, slots=True)
class NeighborDiscoverySetup:
    max_retry: int
    retry_wait_time: int
    send_period: int

    def to_data(self) -> DataValue:
        return (
            Unsigned(self.max_retry),
            LongUnsigned(self.retry_wait_time),
            DoubleLongUnsigned(self.send_period),
        )

    @classmethod
    def from_data(cls, value: DataValue) -> NeighborDiscoverySetup:
        a, b, c = as_struct(value, 3, "neighbor_discovery_setup")
        return cls(
            as_int(a, Unsigned, "max_retry"),
            as_int(b, LongUnsigned, "retry_wait_time"),
            as_int(c, DoubleLongUnsigned, "send_period"),
        )


def _address(value: DataValue, what: str) -> bytes:
    return as_octet_string(value, 16, what)


def _addresses(value: DataValue, what: str) -> list[bytes]:
    return [_address(v, what) for v in as_array(value, what)]


def _optional_address(value: DataValue, what: str) -> bytes:
    raw = as_octet_string(value, what=what)
    if len(raw) not in (0, 16):
        raise type_unmatched(f"{what} must be empty or 16 bytes")
    return raw


class Ipv6Setup(InterfaceClass):
    """IPv6 setup."""

    CLASS_ID: ClassVar[int] = 48
    VERSION: ClassVar[int] = 0
    ATTRIBUTES: ClassVar[tuple[AttributeDef, ...]] = (
        LOGICAL_NAME_DEF,
        AttributeDef(2, "DL_reference", True, 0x08),
        AttributeDef(3, "address_config_mode", True, 0x10),
        AttributeDef(4, "unicast_IPv6_addresses", False, 0x18),
        AttributeDef(5, "multicast_IPv6_addresses", False, 0x20),
        AttributeDef(6, "gateway_IPv6_addresses", False, 0x28),
        AttributeDef(7, "primary_DNS_address", True, 0x30),
        AttributeDef(8, "secondary_DNS_address", True, 0x38),
        AttributeDef(9, "traffic_class", True, 0x40),
        AttributeDef(10, "neighbor_discovery_setup", True, 0x48),
    )
    METHODS: ClassVar[tuple[MethodDef, ...]] = (
        MethodDef(1, "add_IPv6_address", 0x60),
        MethodDef(2, "remove_IPv6_address", 0x68),
    )

    def __init__(
        self,
        logical_name: Obis | str | bytes = "0-0:25.7.0*255",
        dl_reference: bytes = bytes(6),
        address_config_mode: AddressConfigMode = AddressConfigMode.AUTO_CONFIGURATION,
        unicast: Sequence[ipaddress.IPv6Address | bytes] = (),
        multicast: Sequence[ipaddress.IPv6Address | bytes] = (),
        gateway: Sequence[ipaddress.IPv6Address | bytes] = (),
        *,
        base_name: int | None = None,
    ) -> None:
        super().__init__(logical_name, base_name=base_name)
        self.dl_reference = dl_reference
        self.address_config_mode = address_config_mode
        self.addresses: dict[AddressType, list[bytes]] = {
            AddressType.UNICAST: [_packed(a) for a in unicast],
            AddressType.MULTICAST: [_packed(a) for a in multicast],
            AddressType.GATEWAY: [_packed(a) for a in gateway],
        }
        self.primary_dns = b""
        self.secondary_dns = b""
        self.traffic_class = 0
        self.neighbor_discovery_setup: list[NeighborDiscoverySetup] = []

    def _get(self, index: int, ctx: AccessContext, selective_access: SelectiveAccess | None) -> DataValue:
        if index == 2:
            return self.dl_reference
        if index == 3:
            return Enumerated(self.address_config_mode)
        if index in (4, 5, 6):
            return list(self.addresses[AddressType(index - 4)])
        if index == 7:
            return self.primary_dns
        if index == 8:
            return self.secondary_dns
        if index == 9:
            return Unsigned(self.traffic_class)
        return [n.to_data() for n in self.neighbor_discovery_setup]

    def _set(self, index: int, value: DataValue, ctx: AccessContext) -> None:
        if index == 2:
            self.dl_reference = as_octet_string(value, 6, "DL_reference")
        elif index == 3:
            try:
                self.address_config_mode = AddressConfigMode(as_int(value, Enumerated, "address_config_mode"))
            except ValueError:
                raise type_unmatched("address_config_mode must be 0..3") from None
        elif index in (4, 5, 6):
            self.addresses[AddressType(index - 4)] = _addresses(value, self.ATTRIBUTES[index - 1].name)
        elif index == 7:
            self.primary_dns = _optional_address(value, "primary_DNS_address")
        elif index == 8:
            self.secondary_dns = _optional_address(value, "secondary_DNS_address")
        elif index == 9:
            self.traffic_class = as_int(value, Unsigned, "traffic_class")
        else:
            self.neighbor_discovery_setup = [
                NeighborDiscoverySetup.from_data(v) for v in as_array(value, "neighbor_discovery_setup")
            ]

    def _action(self, index: int, parameter: DataValue, ctx: AccessContext) -> DataValue | None:
        kind, address = as_struct(parameter, 2, "IPv6 address")
        try:
            address_type = AddressType(as_int(kind, Enumerated, "address_type"))
        except ValueError:
            raise type_unmatched("address_type must be 0..2") from None
        raw = _address(address, "IPv6_address")
        table = self.addresses[address_type]
        if index == 1:
            if raw not in table:
                table.append(raw)
        else:
            if raw not in table:
                raise CosemAccessError(ActionResult.OTHER_REASON, "address not configured")
            table.remove(raw)
        return None


def _packed(address: ipaddress.IPv6Address | bytes) -> bytes:
    if isinstance(address, ipaddress.IPv6Address):
        return address.packed
    if len(address) != 16:
        raise ValueError("an IPv6 address has 16 bytes")
    return bytes(address)


__all__ = ["AddressConfigMode", "AddressType", "Ipv6Setup", "NeighborDiscoverySetup"]
