"""What a node of any service does besides its handlers, written once for the server's core
services and every :class:`micro.Service`.

* :class:`NodeServices`: ``debug.Debug`` (Health; Stats from the node's :class:`Counters`),
  the standard gRPC health service with every served name SERVING, and optionally gRPC
  server reflection.
* :class:`Registrar`: registers the node's entries, registers them again every ``ttl / 3``
  (a registration carries the whole entry and replaces the node's last one, so a registry
  that lost the node — a restarted server, a lapsed TTL, a NotFound on lookup — has it back
  within one beat, with no separate "renew" that could fail for a node it no longer knows),
  and deregisters on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

import grpc

from micro import errors
from micro._debug import Counters, DebugHandler
from micro.registry import DEFAULT_DOMAIN, Registry
from micro.registry import Service as Entry

__all__ = ["DEREGISTER_TIMEOUT", "TTL_SECONDS", "NodeServices", "Registrar"]

log = logging.getLogger(__name__)

TTL_SECONDS = 90.0
DEREGISTER_TIMEOUT = 3.0

RegistryFor = Callable[[], Awaitable[Registry]]


class NodeServices:
    """The services every node serves about itself; see the module docstring.

    Args:
        counters: the requests and errors ``Stats`` reports (new ones by default).
    """

    def __init__(self, counters: Counters | None = None) -> None:
        from grpc_health.v1 import health

        self.counters = counters if counters is not None else Counters()
        self.health = health.aio.HealthServicer()

    def add_to(self, server: grpc.aio.Server, *, reflection: Sequence[str] | None = None) -> None:
        """Serve ``debug.Debug`` and gRPC health on ``server``; with ``reflection`` (the full
        names of the node's own services), server reflection too, listing those and these."""
        from grpc_health.v1 import health, health_pb2_grpc

        from micro.proto.debug import debug_pb2, debug_pb2_grpc

        debug_pb2_grpc.add_DebugServicer_to_server(DebugHandler(self.counters), server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        if reflection is not None:
            from grpc_reflection.v1alpha import reflection as grpc_reflection

            grpc_reflection.enable_server_reflection(
                [
                    *reflection,
                    debug_pb2.DESCRIPTOR.services_by_name["Debug"].full_name,
                    health.SERVICE_NAME,
                    grpc_reflection.SERVICE_NAME,
                ],
                server,
            )

    async def serving(self, names: Iterable[str]) -> None:
        """Report the server as a whole ("") and each of ``names`` SERVING to health checks."""
        from grpc_health.v1 import health_pb2

        for name in ("", *names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)


class Registrar:
    """Keeps ``entries`` registered in a registry while the node runs.

    Args:
        entries: what to register (each with this node among its nodes).
        registry: the registry, or a coroutine function returning the one to use for each
            registration (a service's client is made again when its token is refreshed).
        ttl: each registration lapses after this many seconds; one is made every ``ttl / 3``.
        domain: the registry domain (the namespace).
    """

    def __init__(
        self,
        entries: Sequence[Entry],
        registry: Registry | RegistryFor,
        *,
        ttl: float = TTL_SECONDS,
        domain: str = DEFAULT_DOMAIN,
    ) -> None:
        self.entries = list(entries)
        self.ttl = ttl
        self.domain = domain
        self._registry = registry
        self._beat: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        """Seconds between two registrations."""
        return self.ttl / 3

    async def _target(self) -> Registry:
        if isinstance(self._registry, Registry):
            return self._registry
        return await self._registry()

    async def register(self) -> None:
        """Register every entry now (errors go to the caller)."""
        registry = await self._target()
        for entry in self.entries:
            await registry.register(entry, ttl=self.ttl, domain=self.domain)

    async def start(self) -> None:
        """Register now (a node that cannot register does not start: errors go to the
        caller), then keep registering every :attr:`interval`."""
        await self.register()
        self._beat = asyncio.create_task(self._beating())

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.register()
            except errors.MicroError as exc:  # keep beating: the server may be restarting
                log.warning("re-registering failed: %s", exc.detail)
            except Exception:
                log.exception("re-registering failed")

    async def stop(self, *, deregister: bool = True) -> None:
        """Stop beating and (unless told not to: a crash, for tests) deregister, waiting at
        most :data:`DEREGISTER_TIMEOUT` for a registry that may be gone."""
        if self._beat is None:
            return
        self._beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._beat
        self._beat = None
        if not deregister:
            return
        try:
            async with asyncio.timeout(DEREGISTER_TIMEOUT):
                registry = await self._target()
                for entry in self.entries:
                    await registry.deregister(entry, domain=self.domain)
        except (errors.MicroError, TimeoutError) as exc:
            log.warning("deregistering failed: %s", exc)
