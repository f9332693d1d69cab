"""Hypothesis strategies for the ISO/IEC 14908 codecs (shared by the tests of this package)."""

from __future__ import annotations

from hypothesis import strategies as st

from cosemnet.profiles.lon import (
    Address,
    AddressFormat,
    Apdu,
    ApplicationMessage,
    AuthPdu,
    AuthPduType,
    BroadcastAddress,
    ForeignFrame,
    GroupAddress,
    LonFrame,
    MulticastAckAddress,
    NetworkDiagnostic,
    NetworkManagement,
    NetworkVariable,
    Npdu,
    NvDirection,
    Pdu,
    Spdu,
    SpduType,
    SubnetNodeAddress,
    Tpdu,
    TpduType,
    UniqueIdAddress,
)

u8 = st.integers(0, 255)
nodes = st.integers(0, 127)
payloads = st.binary(max_size=40)

broadcast = st.builds(BroadcastAddress, u8, st.booleans())
group = st.builds(GroupAddress, u8, st.booleans())
subnet_node = st.builds(SubnetNodeAddress, u8, nodes, st.booleans())
multicast_ack = st.builds(MulticastAckAddress, u8, nodes, u8, u8, st.booleans())
unique_id = st.builds(UniqueIdAddress, u8, st.binary(min_size=6, max_size=6), st.booleans())
addresses: st.SearchStrategy[Address] = st.one_of(broadcast, group, subnet_node, multicast_ack, unique_id)
domains = st.sampled_from([0, 1, 3, 6]).flatmap(lambda n: st.binary(min_size=n, max_size=n))

apdus: st.SearchStrategy[Apdu] = st.one_of(
    st.builds(ApplicationMessage, st.integers(0x00, 0x3F), payloads),
    st.builds(ForeignFrame, st.integers(0x40, 0x4F), payloads),
    st.builds(NetworkDiagnostic, st.integers(0x50, 0x5F), payloads),
    st.builds(NetworkManagement, st.integers(0x60, 0x7F), payloads),
    st.builds(NetworkVariable, st.integers(0, 0x3FFF), st.sampled_from(NvDirection), payloads),
)
m_lists = st.binary(max_size=8)


def tpdus(transactions: st.SearchStrategy[int]) -> st.SearchStrategy[Tpdu]:
    def build(kind: TpduType) -> st.SearchStrategy[Tpdu]:
        with_apdu = kind in (TpduType.ACKD, TpduType.UNACKD_RPT, TpduType.REM_MSG)
        with_m_list = kind in (TpduType.REMINDER, TpduType.REM_MSG)
        return st.builds(
            Tpdu,
            st.just(kind),
            transactions,
            apdus if with_apdu else st.none(),
            m_lists if with_m_list else st.none(),
            st.booleans(),
        )

    return st.sampled_from(TpduType).flatmap(build)


def spdus(transactions: st.SearchStrategy[int]) -> st.SearchStrategy[Spdu]:
    def build(kind: SpduType) -> st.SearchStrategy[Spdu]:
        with_apdu = kind != SpduType.REMINDER
        with_m_list = kind in (SpduType.REMINDER, SpduType.REM_MSG)
        return st.builds(
            Spdu,
            st.just(kind),
            transactions,
            apdus if with_apdu else st.none(),
            m_lists if with_m_list else st.none(),
            st.booleans(),
        )

    return st.sampled_from(SpduType).flatmap(build)


def auth_pdus(transactions: st.SearchStrategy[int]) -> st.SearchStrategy[AuthPdu]:
    def build(fmt: AddressFormat) -> st.SearchStrategy[AuthPdu]:
        return st.builds(
            AuthPdu,
            st.sampled_from(AuthPduType),
            transactions,
            st.just(fmt),
            st.binary(min_size=8, max_size=8),
            u8 if fmt == AddressFormat.GROUP else st.none(),
        )

    return st.sampled_from(AddressFormat).flatmap(build)


def pdus(enhanced: bool) -> st.SearchStrategy[Pdu]:
    transactions = st.integers(0, 0xFFF if enhanced else 0xF)
    return st.one_of(tpdus(transactions), spdus(transactions), auth_pdus(transactions), apdus)


npdus: st.SearchStrategy[Npdu] = st.integers(0, 3).flatmap(
    lambda version: st.builds(Npdu, u8, nodes, addresses, pdus(version == 2), domains, st.just(version))
)
frames: st.SearchStrategy[LonFrame] = st.builds(
    LonFrame, npdus, st.booleans(), st.booleans(), st.integers(0, 63)
)
