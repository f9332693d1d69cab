"""The meter (server) side of the DLMS/COSEM application layer, sans-IO, and its asyncio adapters.

* :mod:`.config` -- :class:`AssociationProfile` (what one client SAP may do) and :class:`ServedDevice`
  (a logical device with its side effects and profiles; profiles default to its Association LN objects)
* :mod:`.association` -- :class:`ServerAssociation`: one association, APDU bytes in
  (``receive_apdu``) -> APDU bytes out (``pop_outgoing``)
  (a coordinator over :mod:`.session` -- all per-association state in one
  :class:`~.session.AssociationSession`, replaced on release --, :mod:`.acse_acceptor` -- AARQ/AARE,
  HLS, RLRQ --, :mod:`.protection`, :mod:`.gbt`, :mod:`.blocks`, :mod:`.dispatch` and the services
  :mod:`.services_get`, :mod:`.services_set`, :mod:`.services_action`, :mod:`.services_sn`)
* :mod:`.server` -- :class:`MeterServer`: wrapper frames in -> frames out, routed by wPorts, per TCP
  connection (:class:`ServerConnection`) or UDP peer, with inactivity deadlines (``get_timer()`` /
  ``handle_timer(now)``, expiries as :class:`ConnectionExpired` events); every core follows the sans-IO
  contract of docs/sans-io.md
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
from cosemnet.server.server import (
    DEFAULT_INACTIVITY_TIMEOUT,
    ConnectionExpired,
    Datagram,
    MeterServer,
    ServerConnection,
    ServerEvent,
)

__all__ = [
    "DEFAULT_INACTIVITY_TIMEOUT",
    "DEFAULT_LN_CONFORMANCE",
    "DEFAULT_SN_CONFORMANCE",
    "AssociationProfile",
    "AssociationState",
    "ConnectionExpired",
    "CounterProvider",
    "Datagram",
    "MeterServer",
    "ServedDevice",
    "ServerAssociation",
    "ServerConnection",
    "ServerEvent",
    "ServerLimits",
    "TcpServer",
    "UdpServer",
    "profile_of",
    "profiles_of",
    "serve_tcp",
    "serve_udp",
]
