"""What every service answers about itself: ``debug.Debug/Health`` and ``Stats``.

``Stats`` also reports the process's per-route counters (:mod:`micro._routes`) of the
namespace it is asked in: the framework's client counts the calls a service makes, the
server's proxy and gateway the calls they pass on; ``network.Network/Routes`` merges them.

:class:`ServiceHandlers` wraps each handler of a service once: it counts requests and
errors for ``Stats``, checks callers (:mod:`micro.auth.guard`), sets the call's caller and
deadline for the handler (:mod:`micro._context`) and turns errors raised by handlers,
refusals included, into gRPC status (see :mod:`micro._grpc`).
"""

from __future__ import annotations

import gc
import os
import resource
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from micro import _context, errors
from micro._grpc import NAMESPACE_KEY, map_handler, wrap_handler
from micro._routes import ROUTES, RouteTable
from micro.proto.debug import debug_pb2, debug_pb2_grpc

if TYPE_CHECKING:
    from micro.auth.guard import ServiceGuard

__all__ = ["Counters", "DebugHandler", "ServiceHandlers", "memory_bytes", "route_stats", "thread_count"]


class Counters:
    """Requests served and how many of them failed, since start."""

    def __init__(self) -> None:
        self.started = time.time()
        self.requests = 0
        self.errors = 0


def memory_bytes() -> int:
    """Resident memory of this process in bytes."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        # ru_maxrss is the peak, in KiB on Linux: the best a system without /proc offers
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def thread_count() -> int:
    """OS threads of this process (gRPC's own included), else Python's."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _namespace(context: Any) -> str:
    """The namespace a Stats call acts in: the one its caller was admitted to (the server's
    boundary, a service's guard), else the one it names, else ``micro``."""
    call = _context.current()
    if call is not None and call.namespace:
        return call.namespace
    for key, value in context.invocation_metadata() or ():
        if key == NAMESPACE_KEY and value:
            return str(value)
    return "micro"


def route_stats(table: RouteTable, namespace: str) -> list[debug_pb2.RouteStats]:
    """``namespace``'s routes in ``table`` as Stats reports them."""
    return [
        debug_pb2.RouteStats(
            service=s.service, endpoint=s.endpoint, requests=s.requests, errors=s.errors, buckets=s.buckets
        )
        for s in table.snapshot(namespace)
    ]


class DebugHandler(debug_pb2_grpc.DebugServicer):
    def __init__(self, counters: Counters, routes: RouteTable = ROUTES) -> None:
        self.counters = counters
        self.routes = routes

    async def Health(self, request: debug_pb2.HealthRequest, context: Any) -> debug_pb2.HealthResponse:
        return debug_pb2.HealthResponse(status="ok")

    async def Stats(self, request: debug_pb2.StatsRequest, context: Any) -> debug_pb2.StatsResponse:
        now = time.time()
        c = self.counters
        return debug_pb2.StatsResponse(
            timestamp=int(now),
            started=int(c.started),
            uptime=max(int(now - c.started), 0),
            memory=memory_bytes(),
            threads=thread_count(),
            gc=sum(s.get("collections", 0) for s in gc.get_stats()),
            requests=c.requests,
            errors=c.errors,
            routes=route_stats(self.routes, _namespace(context)),
            process=self.routes.process,
        )

    async def Log(self, request: debug_pb2.LogRequest, context: Any) -> AsyncIterator[debug_pb2.Record]:
        raise errors.NotImplementedError_("logs are kept by the runtime: use micro logs")
        yield  # pragma: no cover - makes this an async generator


def _counted_unary(
    behavior: Callable[..., Awaitable[Any]], counters: Counters
) -> Callable[..., Awaitable[Any]]:
    async def wrapper(request: Any, context: Any) -> Any:
        counters.requests += 1
        try:
            return await behavior(request, context)
        except BaseException:
            counters.errors += 1
            raise

    return wrapper


def _counted_stream(
    behavior: Callable[..., AsyncIterator[Any]], counters: Counters
) -> Callable[..., AsyncIterator[Any]]:
    async def wrapper(request: Any, context: Any) -> AsyncIterator[Any]:
        counters.requests += 1
        try:
            async for item in behavior(request, context):
                yield item
        except BaseException:
            counters.errors += 1
            raise

    return wrapper


def counted(handler: Any, counters: Counters) -> Any:
    """A copy of ``handler`` that counts requests and errors in ``counters``."""
    return map_handler(
        handler,
        lambda behavior: _counted_unary(behavior, counters),
        lambda behavior: _counted_stream(behavior, counters),
    )


class ServiceHandlers:
    """How a service serves each method (``wrap``, for :class:`micro._grpc.WrappingServer`,
    once per method): counts requests and errors, checks callers with ``guard`` (if any),
    sets the call context and translates handler errors, refusals included — no interceptor
    (grpc.aio runs those on every call) and two coroutines per call."""

    def __init__(self, counters: Counters, guard: ServiceGuard | None = None) -> None:
        self.counters = counters
        self.guard = guard

    def wrap(self, handler: Any, method: str) -> Any:
        if self.guard is not None:
            from micro.auth.guard import admission

            admit = admission(method, self.guard)
        else:
            from micro import _platform
            from micro._context import admission as call_admission

            admit = call_admission(None, namespace=_platform.namespace(), service="")
        # counted outside the error translation: a refused or malformed call counts as an error
        return counted(wrap_handler(handler, method, admit=admit), self.counters)
