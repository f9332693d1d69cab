"""Hypothesis strategies for the mesh profile structures."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from cosemnet.codec.datetime import CosemDateTime
from cosemnet.profiles.mesh.registration import (
    AddressConfirmation,
    AddressEntry,
    AddressRegistrationData,
    AddressScope,
    AddressUpdateData,
    ConfirmationStatus,
    RegistrationReason,
)

system_titles = st.binary(min_size=8, max_size=8)
u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 0xFFFF)
ipv6 = st.binary(min_size=16, max_size=16).map(ipaddress.IPv6Address)

date_times = st.builds(
    CosemDateTime,
    year=st.integers(2000, 2100) | st.just(0xFFFF),
    month=st.integers(1, 12) | st.just(0xFF),
    day=st.integers(1, 28) | st.sampled_from([0xFD, 0xFE, 0xFF]),
    day_of_week=st.integers(1, 7) | st.just(0xFF),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    second=st.integers(0, 59),
    hundredths=st.integers(0, 99) | st.just(0xFF),
    deviation=st.integers(-720, 720) | st.just(-0x8000),
    clock_status=st.integers(0, 255),
)

address_entries = st.builds(AddressEntry, ipv6, st.integers(0, 128), st.sampled_from(list(AddressScope)))


def _entries(min_size: int) -> st.SearchStrategy[tuple[AddressEntry, ...]]:
    return st.lists(address_entries, min_size=min_size, max_size=4).map(tuple)


registrations = st.builds(
    AddressRegistrationData,
    system_title=system_titles,
    addresses=_entries(1),
    sequence_number=u32,
    reason=st.sampled_from(list(RegistrationReason)),
    wport=u16,
    udp_port=st.integers(1, 0xFFFF),
    timestamp=st.none() | date_times,
    border_router=st.none() | ipv6,
)

updates = st.builds(
    AddressUpdateData,
    system_title=system_titles,
    previous_addresses=_entries(0),
    addresses=_entries(1),
    sequence_number=u32,
    reason=st.sampled_from(list(RegistrationReason)),
    wport=u16,
    udp_port=st.integers(1, 0xFFFF),
    timestamp=st.none() | date_times,
    border_router=st.none() | ipv6,
)

confirmations = st.builds(
    AddressConfirmation,
    system_title=system_titles,
    sequence_number=u32,
    status=st.sampled_from(list(ConfirmationStatus)),
    last_sequence=u32,
    head_end_time=st.none() | date_times,
    periodic_interval=u32,
)
