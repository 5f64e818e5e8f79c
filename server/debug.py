"""The server's own ``debug.Debug``: Health and Stats of the process hosting the core services.

Every core service's node is this process, so ``micro health store`` and ``micro stats
store`` ask it. Requests and errors are counted for the core services' methods only: calls
the proxy forwards are counted by the services that serve them.
"""

from __future__ import annotations

import grpc

from micro._debug import Counters, DebugHandler
from micro.proto.debug import debug_pb2_grpc

__all__ = ["CORE_PACKAGES", "DebugService", "is_core"]

# proto packages served by the server itself (user services cannot take these names)
CORE_PACKAGES = frozenset(
    {"auth", "broker", "config", "debug", "events", "network", "registry", "runtime", "store"}
)


def is_core(method: str) -> bool:
    """Whether ``method`` is one of the core services' (counted for ``Stats``)."""
    service = method[1:].partition("/")[0]
    return service.partition(".")[0] in CORE_PACKAGES


class DebugService:
    """The server's Debug servicer and its counters (fed by the handlers' wrappers, for
    the methods :func:`is_core` names; see :mod:`server.serving`)."""

    def __init__(self) -> None:
        self.counters = Counters()

    def add(self, server: grpc.aio.Server) -> None:
        debug_pb2_grpc.add_DebugServicer_to_server(DebugHandler(self.counters), server)
