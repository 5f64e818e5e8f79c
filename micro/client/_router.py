"""Node selection, shared by the framework's client and the server's proxy (later the gateway).

A :class:`Router` resolves a service of a namespace in the registry into a :class:`Route`
(its nodes' addresses, its endpoints and their streaming kinds), cached for ``ttl`` seconds;
with ``watch`` on, the first route of a namespace starts a registry watch that forgets a
service's route as soon as the registry changes it (routes still expire should the watch
fail). :meth:`Router.candidates` orders a route's nodes round robin, nodes marked down
(:meth:`Router.mark_down`, for :data:`DOWN_SECONDS`) last. One channel per node address and
one multicallable per (kind, address, method, serializers) are kept, so a warm call costs
little more than a raw stub call.

Method and service names come from callers, so every cache keyed by them is bounded
(:data:`MAX_CACHED`): a full cache is emptied and fills again with what is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc

from micro import errors
from micro.registry import Endpoint, Registry, Service, Streaming

__all__ = ["DOWN_SECONDS", "MAX_CACHED", "Route", "Router", "bounded_put", "not_found"]

log = logging.getLogger(__name__)

DOWN_SECONDS = 5.0
MAX_CACHED = 10_000

Serializer = Callable[[Any], bytes] | None
Deserializer = Callable[[bytes], Any] | None
Connect = Callable[[str], grpc.aio.Channel]

K = TypeVar("K")
V = TypeVar("V")


def bounded_put(cache: dict[K, V], key: K, value: V) -> V:
    """Store ``value`` under ``key``, emptying ``cache`` first when it holds :data:`MAX_CACHED`
    entries (keys chosen by callers must not grow a cache without bound)."""
    if len(cache) >= MAX_CACHED:
        cache.clear()
    cache[key] = value
    return value


def not_found(service: str) -> errors.MicroError:
    return errors.NotImplementedError_(f'service "{service}" not found')


@dataclass
class Route:
    """What the registry knows about one service: its versions, nodes and endpoints (by
    name, ``Handler.Method``) and the streaming kind of each method path."""

    services: list[Service]
    expires: float
    addresses: list[str] = field(default_factory=list)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    kinds: dict[str, Streaming] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    @classmethod
    def of(cls, services: list[Service], ttl: float) -> Route:
        route = cls(services, time.monotonic() + ttl)
        for svc in services:
            route.addresses.extend(n.address for n in svc.nodes if n.address not in route.addresses)
            for ep in svc.endpoints:
                route.endpoints.setdefault(ep.name, ep)
                if ep.method:
                    route.kinds[ep.method] = ep.streaming
        return route


class Router:
    """Routes, node health, channels and multicallables over one registry.

    Args:
        registry: where services are resolved (``domain`` = the namespace).
        ttl: seconds a route is used before the registry is asked again.
        connect: opens the channel to a node address.
        watch: watch each namespace's registry and forget changed routes at once.
        register_methods: register each method with its channel (grpc's faster call path;
            grpc keeps a registration for the channel's life, so not for a proxy, whose
            method names are any caller's choice).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        ttl: float,
        connect: Connect,
        watch: bool = False,
        register_methods: bool = True,
    ) -> None:
        self.registry = registry
        self.ttl = ttl
        self._connect = connect
        self._watch_registry = watch
        self._register = register_methods
        self._routes: dict[tuple[str, str], Route] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._callables: dict[tuple[Any, ...], Any] = {}
        self._down: dict[str, float] = {}
        self._watches: dict[str, asyncio.Task[None]] = {}

    def cached(self, namespace: str, service: str) -> Route | None:
        """The route last resolved for ``service``, fresh or not (None: none)."""
        return self._routes.get((namespace, service))

    async def resolve(self, namespace: str, service: str, *, timeout: float | None = None) -> Route:
        """The route of ``namespace``'s ``service``, from the cache while it is fresh.

        Raises:
            NotImplementedError_: the registry knows no node of ``service``.
            Timeout: the registry did not answer within ``timeout`` seconds.
        """
        key = (namespace, service)
        route = self._routes.get(key)
        if route is not None and route.expires > time.monotonic():
            return route
        services: list[Service] = []
        if service:
            lookup = self.registry.get_service(service, domain=namespace)
            try:
                services = await (lookup if timeout is None else asyncio.wait_for(lookup, timeout))
            except errors.NotFound:
                pass
            except TimeoutError:
                raise errors.Timeout(f'deadline exceeded while resolving service "{service}"') from None
        fresh = Route.of(services, self.ttl)
        if not fresh.addresses:
            self._routes.pop(key, None)
            raise not_found(service)
        if route is not None:
            fresh.counter = route.counter  # round robin goes on where it was
        bounded_put(self._routes, key, fresh)
        if self._watch_registry and namespace not in self._watches:
            self._watches[namespace] = asyncio.create_task(self._watch(namespace))
        return fresh

    def forget(self, namespace: str, service: str) -> None:
        """Ask the registry again on the next :meth:`resolve` of ``service``."""
        self._routes.pop((namespace, service), None)

    async def _watch(self, namespace: str) -> None:
        """Forget a service's route as soon as the registry changes it (nodes come and go)."""
        watcher: Any = self.registry.watch(domain=namespace)
        try:
            async for result in watcher:
                self._routes.pop((namespace, result.service.name), None)
        except errors.MicroError as exc:  # routes still expire after the ttl
            log.warning("watching the registry of %s failed: %s", namespace, exc.detail)
        finally:
            self._watches.pop(namespace, None)
            close = getattr(watcher, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    def candidates(self, route: Route) -> list[str]:
        """The route's addresses to try, round robin, nodes marked down lately last."""
        addresses = route.addresses
        n = len(addresses)
        if n == 0:
            return []
        start = next(route.counter) % n
        ordered = addresses[start:] + addresses[:start] if start else list(addresses)
        down = self._down
        if not down:
            return ordered
        now = time.monotonic()
        return sorted(ordered, key=lambda a: down.get(a, 0.0) > now)

    def mark_down(self, namespace: str, service: str, address: str) -> None:
        """``address`` refused a call: try it last for a while, and ask the registry again
        (the node may have gone)."""
        now = time.monotonic()
        if len(self._down) >= MAX_CACHED:
            self._down = {a: until for a, until in self._down.items() if until > now}
        self._down[address] = now + DOWN_SECONDS
        route = self._routes.get((namespace, service))
        if route is not None:
            route.expires = 0.0

    def channel(self, address: str) -> grpc.aio.Channel:
        """The channel to the node at ``address`` (one per address, kept until :meth:`close`)."""
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = self._connect(address)
        return channel

    def callable(
        self, kind: str, address: str, method: str, ser: Serializer = None, de: Deserializer = None
    ) -> Any:
        """The ``kind`` multicallable (``unary_unary``…) of ``method`` on ``address``'s channel."""
        key = (kind, address, method, ser, de)
        mc = self._callables.get(key)
        if mc is None:
            factory = getattr(self.channel(address), kind)
            mc = factory(
                method, request_serializer=ser, response_deserializer=de, _registered_method=self._register
            )
            bounded_put(self._callables, key, mc)
        return mc

    async def close(self) -> None:
        """Stop the watches and close every channel."""
        watches, self._watches = dict(self._watches), {}
        for task in watches.values():
            task.cancel()
        for task in watches.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        channels, self._channels = self._channels, {}
        self._callables.clear()
        for channel in channels.values():
            await channel.close()
