"""The server's own ``debug.Debug``: Health and Stats of the process hosting the core services.

Every core service's node is this process, so ``micro health store`` and ``micro stats
store`` ask it. Requests and errors are counted for the core services' methods only: calls
the proxy forwards are counted by the services that serve them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from micro._debug import Counters, DebugHandler, counted
from micro._grpc import MethodCache
from micro.proto.debug import debug_pb2_grpc

__all__ = ["CORE_PACKAGES", "CountingInterceptor", "DebugService"]

# proto packages served by the server itself (user services cannot take these names)
CORE_PACKAGES = frozenset(
    {"auth", "broker", "config", "debug", "events", "network", "registry", "runtime", "store"}
)


def _is_core(method: str) -> bool:
    service = method[1:].partition("/")[0]
    return service.partition(".")[0] in CORE_PACKAGES


class CountingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts the core services' requests and errors for ``Stats`` (inside the error boundary).

    Wrapped handlers are cached per method in a bounded cache: a caller chooses the method
    name, and made-up ones (``/store.X1/Y``, ``/store.X2/Y``…) must not grow the server.
    """

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self._cache = MethodCache()

    async def intercept_service(self, continuation: Callable[..., Awaitable[Any]], details: Any) -> Any:
        method: str = details.method
        handler = await continuation(details)
        if handler is None or not _is_core(method):
            return handler
        return self._cache.get(method, handler, lambda inner: counted(inner, self.counters))

    def cache_size(self) -> int:
        """Methods whose wrapped handler is cached (for tests of the bound)."""
        return len(self._cache)


class DebugService:
    """The server's Debug servicer and the interceptor feeding its counters."""

    def __init__(self) -> None:
        self.counters = Counters()
        self.interceptor = CountingInterceptor(self.counters)

    def add(self, server: grpc.aio.Server) -> None:
        debug_pb2_grpc.add_DebugServicer_to_server(DebugHandler(self.counters), server)
