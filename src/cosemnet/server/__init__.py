"""The meter (server) side of the DLMS/COSEM application layer, sans-IO, and its asyncio adapters.

* :mod:`.config` -- :class:`AssociationProfile` (what one client SAP may do) and :class:`ServedDevice`
  (a logical device with its side effects and profiles; profiles default to its Association LN objects)
* :mod:`.association` -- :class:`ServerAssociation`: one association, APDU bytes in -> APDU bytes out
  (a coordinator over :mod:`.session` -- all per-association state in one
  :class:`~.session.AssociationSession`, replaced on release --, :mod:`.acse_acceptor` -- AARQ/AARE,
  HLS, RLRQ --, :mod:`.protection`, :mod:`.gbt`, :mod:`.blocks`, :mod:`.dispatch` and the services
  :mod:`.services_get`, :mod:`.services_set`, :mod:`.services_action`, :mod:`.services_sn`)
* :mod:`.server` -- :class:`MeterServer`: wrapper frames in -> frames out, routed by wPorts, per TCP
  connection or UDP peer, with inactivity deadlines (``next_deadline()`` / ``handle_timeout(now)``)
* :mod:`.asyncio_server` -- :func:`serve_tcp` / :func:`serve_udp`: thin asyncio transports

Quick start::

    server = MeterServer([device])                      # a cosemnet.cosem.LogicalDevice
    running = await serve_tcp(server, "127.0.0.1", 4059)
    ...
    await running.close()

Time is POSIX seconds (float) everywhere; the adapters take a ``clock`` function (default
``time.time``) so tests can run in simulated time.
"""

from cosemnet.server.association import AssociationState, CounterProvider, ServerAssociation
from cosemnet.server.asyncio_server import TcpServer, UdpServer, serve_tcp, serve_udp
from cosemnet.server.config import (
    DEFAULT_LN_CONFORMANCE,
    DEFAULT_SN_CONFORMANCE,
    AssociationProfile,
    ServedDevice,
    ServerLimits,
    profile_of,
    profiles_of,
)
from cosemnet.server.server import DEFAULT_INACTIVITY_TIMEOUT, MeterServer, ServerConnection

__all__ = [
    "DEFAULT_INACTIVITY_TIMEOUT",
    "DEFAULT_LN_CONFORMANCE",
    "DEFAULT_SN_CONFORMANCE",
    "AssociationProfile",
    "AssociationState",
    "CounterProvider",
    "MeterServer",
    "ServedDevice",
    "ServerAssociation",
    "ServerConnection",
    "ServerLimits",
    "TcpServer",
    "UdpServer",
    "profile_of",
    "profiles_of",
    "serve_tcp",
    "serve_udp",
]
