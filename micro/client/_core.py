"""The per-event-loop client behind :mod:`micro.client`: routes, channels, node choice, retries.

Nodes of a service come from the registry (through the proxy), cached for
:data:`ROUTE_TTL` seconds; each call takes the next node round robin, skips nodes that just
failed, and retries a call that found its node unavailable once on another node. A call
made while a handler serves one gets at most the time that call has left
(:func:`micro._context.timeout`), resolving its route included. One channel
per node address and one multicallable per method are kept, so a warm call costs little more
than a raw stub call.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
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
from micro.registry import Endpoint, Registry, Service

__all__ = ["ROUTE_TTL", "Client", "Route", "client", "not_found"]

ROUTE_TTL = 10.0
DOWN_SECONDS = 5.0

Serializer = Callable[[Any], bytes] | None
Deserializer = Callable[[bytes], Any] | None
Metadata = Sequence[tuple[str, str | bytes]]

# tests (micro.testing) resolve services in a registry of their own
registry_override: Registry | None = None


def not_found(service: str) -> errors.MicroError:
    return errors.NotImplementedError_(f'service "{service}" not found')


@dataclass
class Route:
    """What is known about one service: its versions, nodes and endpoints."""

    services: list[Service]
    expires: float
    addresses: list[str] = field(default_factory=list)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def of(cls, services: list[Service], ttl: float) -> Route:
        route = cls(services, time.monotonic() + ttl)
        for svc in services:
            route.addresses.extend(n.address for n in svc.nodes if n.address not in route.addresses)
            for ep in svc.endpoints:
                route.endpoints.setdefault(ep.name, ep)
        return route

    def candidates(self, down: dict[str, float]) -> list[str]:
        """Addresses to try, round robin, nodes that failed lately last."""
        n = len(self.addresses)
        if n == 0:
            return []
        start = next(self.counter) % n
        ordered = self.addresses[start:] + self.addresses[:start]
        if not down:
            return ordered
        now = time.monotonic()
        return sorted(ordered, key=lambda a: down.get(a, 0.0) > now)


class Client:
    """Routes and channels of one event loop (see :func:`client`)."""

    def __init__(self, registry: Registry, *, namespace: str, owns_registry: bool) -> None:
        self.registry = registry
        self.namespace = namespace
        self._owns_registry = owns_registry
        self._routes: dict[str, Route] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._callables: dict[tuple[Any, ...], Any] = {}
        self._metadata: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self.down: dict[str, float] = {}
        self.token = _platform.token()
        self.cache: dict[Any, Any] = {}  # call() keeps resolved methods and types here

    async def route(self, service: str) -> Route:
        route = self._routes.get(service)
        if route is not None and route.expires > time.monotonic():
            return route
        lookup = self.registry.get_service(service, domain=self.namespace)
        left = _context.timeout(None)  # a handler's call gets no more than its caller has left
        try:
            services = await (lookup if left is None else asyncio.wait_for(lookup, left))
        except errors.NotFound:
            services = []
        except TimeoutError:
            raise errors.Timeout(f'deadline exceeded while resolving service "{service}"') from None
        route = Route.of(services, ROUTE_TTL)
        if not route.addresses:
            self._routes.pop(service, None)
            raise not_found(service)
        self._routes[service] = route
        return route

    def metadata(self, service: str, extra: Metadata | None) -> Metadata:
        """What a call to ``service`` carries; ``micro-from-service`` names the service whose
        handler makes the call, else this process's service."""
        call = _context.current()
        caller = call.service if call is not None and call.service else _platform.service_name()
        base = self._metadata.get((service, caller))
        if base is None:
            md = [(SERVICE_KEY, service), (NAMESPACE_KEY, self.namespace)]
            if self.token:
                md.append(("authorization", f"Bearer {self.token}"))
            if caller:
                md.append((FROM_SERVICE_KEY, caller))
            base = tuple(md)
            self._metadata[(service, caller)] = base
        return (*base, *extra) if extra else base

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = aio_channel(address)
            self._channels[address] = channel
        return channel

    def _callable(self, kind: str, address: str, method: str, ser: Serializer, de: Deserializer) -> Any:
        key = (kind, address, method, ser, de)
        mc = self._callables.get(key)
        if mc is None:
            factory = getattr(self.channel(address), kind)
            mc = factory(method, request_serializer=ser, response_deserializer=de, _registered_method=True)
            self._callables[key] = mc
        return mc

    def _failed(self, address: str, service: str) -> None:
        self.down[address] = time.monotonic() + DOWN_SECONDS
        self._routes.pop(service, None)  # the node may have gone: ask the registry again

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
        """A unary or client-streaming call (a request iterator is not retried)."""
        route = await self.route(service)
        md = self.metadata(service, metadata)
        candidates = route.candidates(self.down)
        retry = kind == "unary_unary" and len(candidates) > 1
        for attempt, address in enumerate(candidates[:2]):
            mc = self._callable(kind, address, method, ser, de)
            try:
                return await mc(request, timeout=_context.timeout(timeout), metadata=md)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    self._failed(address, service)
                    if retry and attempt == 0:
                        continue
                raise translate(exc, service, address) from exc
        raise not_found(service)  # pragma: no cover - candidates is never empty here

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
        """A server- or bidi-streaming call; a server stream that found its node down is retried."""
        route = await self.route(service)
        md = self.metadata(service, metadata)
        candidates = route.candidates(self.down)
        retry = kind == "unary_stream" and len(candidates) > 1
        for attempt, address in enumerate(candidates[:2]):
            mc = self._callable(kind, address, method, ser, de)
            call = mc(request, timeout=_context.timeout(timeout), metadata=md)
            received = False
            try:
                async for item in call:
                    received = True
                    yield item
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE:
                    self._failed(address, service)
                    if retry and attempt == 0 and not received:
                        continue
                raise translate(exc, service, address) from exc
            finally:
                if not call.done():
                    call.cancel()

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        self._callables.clear()
        for channel in channels.values():
            await channel.close()
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


def client() -> Client:
    """The client of the running event loop, created on first use and closed with the loop."""
    state = _platform.loop_state()
    current = state.values.get("micro.client")
    if current is not None and current.token != _platform.token():
        current = None  # a refreshed token: a new client (the old one closes with the loop)
    if current is None:
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
    return current
