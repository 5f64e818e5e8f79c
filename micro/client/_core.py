"""The per-event-loop client behind :mod:`micro.client`: metadata, deadlines, retries.

Nodes of a service come from the registry (through the proxy) by way of a
:class:`~micro.client._router.Router` (the proxy's too), routes cached for :data:`ROUTE_TTL`
seconds; each call takes the next node round robin, skips nodes that just failed, and
retries a call that found its node unavailable once on another node. A call made while a
handler serves one gets at most the time that call has left (:func:`micro._context.timeout`),
resolving its route included. Every call is counted in the process's routes
(:data:`micro._routes.ROUTES`), which the network view reads through ``Debug.Stats``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from micro import _context, _platform, errors
from micro._grpc import (
    ERROR_KEY,
    FROM_SERVICE_KEY,
    NAMESPACE_KEY,
    SERVICE_KEY,
    aio_channel,
    from_rpc_error,
    metadata_value,
)
from micro._routes import ROUTES
from micro.client._router import Deserializer, Route, Router, Serializer, bounded_put, not_found
from micro.registry import Registry

__all__ = ["ROUTE_TTL", "Client", "Deserializer", "Route", "Serializer", "client", "not_found"]

ROUTE_TTL = 10.0

Metadata = Sequence[tuple[str, str | bytes]]

# tests (micro.testing) resolve services in a registry of their own
registry_override: Registry | None = None


class Client:
    """Routes and channels of one event loop (see :func:`client`)."""

    def __init__(self, registry: Registry, *, namespace: str, owns_registry: bool) -> None:
        self.registry = registry
        self.namespace = namespace
        self._owns_registry = owns_registry
        self.router = Router(registry, ttl=ROUTE_TTL, connect=aio_channel)
        self._metadata: dict[tuple[str, str], grpc.aio.Metadata] = {}
        self.token = _platform.token()
        self.closed = False
        self.cache: dict[Any, Any] = {}  # call() keeps resolved methods and types here (bounded_put)

    async def route(self, service: str) -> Route:
        route = self.router.cached(self.namespace, service)
        if route is not None and route.expires > time.monotonic():
            return route
        # a handler's call gets no more than its caller has left
        return await self.router.resolve(self.namespace, service, timeout=_context.timeout(None))

    def metadata(self, service: str, extra: Metadata | None) -> grpc.aio.Metadata:
        """What a call to ``service`` carries; ``micro-from-service`` names the service whose
        handler makes the call, else this process's service. A ``grpc.aio.Metadata``, kept
        per service: grpc turns pairs into one on every call (~3 µs a call)."""
        call = _context.current()
        caller = call.service if call is not None and call.service else _platform.service_name()
        base = self._metadata.get((service, caller))
        if base is None:
            md = [(SERVICE_KEY, service), (NAMESPACE_KEY, self.namespace)]
            if self.token:
                md.append(("authorization", f"Bearer {self.token}"))
            if caller:
                md.append((FROM_SERVICE_KEY, caller))
            base = bounded_put(self._metadata, (service, caller), grpc.aio.Metadata(*md))
        return grpc.aio.Metadata(*base, *extra) if extra else base

    def channel(self, address: str) -> grpc.aio.Channel:
        return self.router.channel(address)

    async def unary(
        self,
        kind: str,
        service: str,
        method: str,
        request: Any,
        *,
        ser: Serializer,
        de: Deserializer,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> Any:
        """A unary or client-streaming call (a request iterator is not retried), counted in
        the process's routes (:mod:`micro._routes`) from first to last byte, resolving the
        route included."""
        start = time.perf_counter()
        failed = True
        try:
            router = self.router
            route = router.cached(self.namespace, service)
            if route is None or route.expires <= time.monotonic():
                route = await self.route(service)
            md = self.metadata(service, metadata)
            candidates = router.candidates(route)
            retry = kind == "unary_unary" and len(candidates) > 1
            for attempt, address in enumerate(candidates[:2]):
                mc = router.callable(kind, address, method, ser, de)
                try:
                    reply = await mc(request, timeout=_context.timeout(timeout), metadata=md)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.UNAVAILABLE:
                        router.mark_down(self.namespace, service, address)
                        if retry and attempt == 0:
                            continue
                    raise translate(exc, service, address) from exc
                failed = False
                return reply
            raise not_found(service)  # pragma: no cover - candidates is never empty here
        finally:
            stats = ROUTES.route(self.namespace, service, method)
            if stats is not None:
                stats.observe(time.perf_counter() - start, failed)

    async def stream(
        self,
        kind: str,
        service: str,
        method: str,
        request: Any,
        *,
        ser: Serializer,
        de: Deserializer,
        timeout: float | None,
        metadata: Metadata | None,
    ) -> AsyncIterator[Any]:
        """A server- or bidi-streaming call; a server stream that found its node down is
        retried. Counted in the process's routes when it ends (a stream the caller stops
        reading is not an error)."""
        start = time.perf_counter()
        failed = True
        try:
            route = await self.route(service)
            md = self.metadata(service, metadata)
            router = self.router
            candidates = router.candidates(route)
            retry = kind == "unary_stream" and len(candidates) > 1
            for attempt, address in enumerate(candidates[:2]):
                mc = router.callable(kind, address, method, ser, de)
                call = mc(request, timeout=_context.timeout(timeout), metadata=md)
                received = False
                try:
                    async for item in call:
                        received = True
                        yield item
                    failed = False
                    return
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.UNAVAILABLE:
                        router.mark_down(self.namespace, service, address)
                        if retry and attempt == 0 and not received:
                            continue
                    raise translate(exc, service, address) from exc
                except GeneratorExit:
                    failed = False
                    raise
                finally:
                    if not call.done():
                        call.cancel()
        finally:
            stats = ROUTES.route(self.namespace, service, method)
            if stats is not None:
                stats.observe(time.perf_counter() - start, failed)

    async def close(self) -> None:
        global _last
        self.closed = True
        if _last[1] is self:
            _last = (None, None)  # holds no closed loop
        self.cache.clear()
        await self.router.close()
        if self._owns_registry:
            await self.registry.close()


def translate(exc: grpc.aio.AioRpcError, service: str, address: str) -> errors.MicroError:
    """The MicroError a failed call to ``service`` at ``address`` stands for."""
    if (
        exc.code() == grpc.StatusCode.UNAVAILABLE
        and metadata_value(exc.trailing_metadata(), ERROR_KEY) is None
    ):
        return errors.Unavailable(f'service "{service}" is unavailable at {address}')
    return from_rpc_error(exc, address=address)


# the last loop's client: the common case without the loop state's weak mapping
_last: tuple[Any, Client | None] = (None, None)


def client() -> Client:
    """The client of the running event loop, created on first use and closed with the loop."""
    global _last
    loop = asyncio.get_running_loop()
    last_loop, current = _last
    if last_loop is not loop or current is None or current.closed:
        current = _platform.loop_state().values.get("micro.client")
    if current is not None and current.token != _platform.token():
        current = None  # a refreshed token: a new client (the old one closes with the loop)
    if current is None:
        state = _platform.loop_state()
        if registry_override is not None:
            current = Client(registry_override, namespace=_platform.namespace(), owns_registry=False)
        else:
            from micro.registry.grpc import GrpcRegistry

            registry = GrpcRegistry(
                _platform.proxy_address(), namespace=_platform.namespace(), token=_platform.token()
            )
            current = Client(registry, namespace=_platform.namespace(), owns_registry=True)
        state.values["micro.client"] = current
        state.on_close(current.close)
    assert isinstance(current, Client)
    _last = (loop, current)
    return current
