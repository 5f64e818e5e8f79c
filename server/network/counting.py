"""How the HTTP gateway counts its calls for the network view (the proxy counts its own in
:mod:`server.proxy.forward`, the framework's client in :mod:`micro.client._core`).

The gateway hands each request's handler to :func:`gateway_handler`, which wraps it to count
the call in the process's routes (:mod:`micro._routes`) from the handler's start to its
last reply, and marks the request's task as counted: the handler of a user service's method
is the proxy's, which then does not count the call a second time. Calls to core services
are not routes of the namespace (as over gRPC) and are not counted; ``micro stats <core
service>`` shows their load.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from micro._grpc import map_handler
from micro._routes import ROUTES, RouteStats, RouteTable, passed_gateway
from server.debug import CORE_PACKAGES

__all__ = ["gateway_handler"]


def _unary(behavior: Callable[..., Awaitable[Any]], stats: RouteStats) -> Callable[..., Awaitable[Any]]:
    async def counted(request: Any, context: Any) -> Any:
        start = time.perf_counter()
        failed = True
        try:
            reply = await behavior(request, context)
            failed = False
            return reply
        finally:
            stats.observe(time.perf_counter() - start, failed)

    return counted


def _stream(
    behavior: Callable[..., AsyncIterator[Any]], stats: RouteStats
) -> Callable[..., AsyncIterator[Any]]:
    async def counted(request: Any, context: Any) -> AsyncIterator[Any]:
        start = time.perf_counter()
        failed = True
        replies = behavior(request, context)
        try:
            async for reply in replies:
                yield reply
            failed = False
        except GeneratorExit:  # the client went away: not the route's failure
            failed = False
            raise
        finally:
            aclose = getattr(replies, "aclose", None)
            if aclose is not None:
                await aclose()
            stats.observe(time.perf_counter() - start, failed)

    return counted


def gateway_handler(
    handler: Any, namespace: str, service: str, method: str, routes: RouteTable = ROUTES
) -> Any:
    """``handler`` (the server's handler of ``method``), counting the gateway's call to
    ``namespace``'s ``service``; called in the request's task."""
    if service in CORE_PACKAGES:
        return handler
    stats = routes.route(namespace, service, method)
    passed_gateway.set(True)  # this task's calls: the proxy leaves them to the gateway
    if stats is None:
        return handler
    return map_handler(handler, lambda b: _unary(b, stats), lambda b: _stream(b, stats))
