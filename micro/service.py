"""``micro.Service``: a gRPC service that registers itself on the micro platform.

::

    service = micro.Service("helloworld")
    service.handle(Helloworld())      # an instance of a generated *Servicer subclass
    service.run()

``run`` reads ``MICRO_*`` (see :mod:`micro._platform`), starts a ``grpc.aio`` server on a
free port, serves the handlers plus ``debug.Debug`` (Health, Stats), gRPC health and server
reflection, registers itself with its endpoints and schemas in the namespace's registry
domain, re-registers every :data:`HEARTBEAT_SECONDS` (TTL :data:`TTL_SECONDS`), logs
``Listening on <addr>``, and deregisters on SIGTERM/SIGINT before stopping. The server's core
services do the same through the same pieces (:mod:`micro._node`). Without a
reachable server it fails fast with one line.

Every call to the service's endpoints, direct or forwarded by the proxy, is checked against
the token it carries and the namespace's rules (:mod:`micro.auth.guard`; calls that arrive
before the public key is read wait for it). On a server without auth the service serves
unchecked, with one warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import types
from collections.abc import Callable
from typing import Any

import grpc

from micro import _platform, errors, settings
from micro._debug import Counters, ServiceHandlers
from micro._grpc import SERVER_OPTIONS, WrappingServer
from micro._node import TTL_SECONDS, NodeServices, Registrar
from micro.auth.guard import ServiceGuard
from micro.registry import Registry
from micro.registry import Service as RegistryService

__all__ = ["HEARTBEAT_SECONDS", "TTL_SECONDS", "Service"]

log = logging.getLogger("micro.service")

HEARTBEAT_SECONDS = TTL_SECONDS / 3
# seconds between attempts to resubscribe a @service.subscribe handler
RETRY_MIN = 0.1
RETRY_MAX = 5.0


def _generated(servicer: object) -> tuple[Callable[[Any, Any], None], Any]:
    """The ``add_XServicer_to_server`` function and ``ServiceDescriptor`` of a servicer."""
    for base in type(servicer).__mro__:
        module = sys.modules.get(base.__module__)
        if (
            module is None
            or not base.__name__.endswith("Servicer")
            or not base.__module__.endswith("_pb2_grpc")
        ):
            continue
        add = getattr(module, f"add_{base.__name__}_to_server", None)
        name = base.__name__[: -len("Servicer")]
        for value in vars(module).values():
            file = getattr(value, "DESCRIPTOR", None) if isinstance(value, types.ModuleType) else None
            descriptor = getattr(file, "services_by_name", {}).get(name) if file is not None else None
            if add is not None and descriptor is not None:
                return add, descriptor
    raise TypeError(
        f"{type(servicer).__name__} is not a generated servicer: "
        "subclass the <Name>Servicer class of a *_pb2_grpc module"
    )


class _Subscriber:
    """One ``@service.subscribe`` handler and the loop that feeds it."""

    def __init__(
        self,
        topic: str,
        group: str,
        fn: Callable[..., Any],
        ack_wait: float | None,
        retry_limit: int | None,
    ) -> None:
        self.topic = topic
        self.group = group
        self.fn = fn
        self.options: dict[str, Any] = {}
        if ack_wait is not None:
            self.options["ack_wait"] = ack_wait
        if retry_limit is not None:
            self.options["retry_limit"] = retry_limit

    async def run(self) -> None:
        """Consume until cancelled: reconnects with backoff when the stream fails or ends."""
        import inspect

        from micro import events

        backoff = RETRY_MIN
        while True:
            try:
                subscription = await events.consume(
                    self.topic, group=self.group, manual_ack=True, **self.options
                )
                backoff = RETRY_MIN
                async with subscription:
                    async for event in subscription:
                        try:
                            result = self.fn(event)
                            if inspect.isawaitable(result):
                                await result
                        except Exception:
                            log.exception("handling event %s of %s failed", event.offset, self.topic)
                            await subscription.nack(event)
                        else:
                            await subscription.ack(event)
            except errors.MicroError as exc:
                log.warning("consuming %s failed: %s", self.topic, exc.detail)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX)


class Service:
    """A service of the micro platform.

    Args:
        name: the registered name (``MICRO_SERVICE_NAME`` overrides it).
        version: the registered version (``MICRO_SERVICE_VERSION`` overrides it).
        address: where to listen; port 0 picks a free port.
        metadata: registered with the service.
    """

    def __init__(
        self,
        name: str,
        version: str = "latest",
        *,
        address: str = "127.0.0.1:0",
        metadata: dict[str, str] | None = None,
    ) -> None:
        told = settings.service()
        self.name = told.name or name
        self._code_name = name  # the runtime names a service after its folder or --name
        self.version = told.version or version
        self.metadata = dict(metadata or {})
        self.listen = address
        self.address = ""  # the bound address, once started
        self.counters = Counters()
        self._handlers: list[tuple[object, Callable[[Any, Any], None], Any]] = []
        self._server: grpc.aio.Server | None = None
        self._registry: Any = None  # micro.registry.grpc.GrpcRegistry, made again for a new token
        self._registry_token: str | None = None
        self._registrar: Registrar | None = None
        self._stop = asyncio.Event()
        self._guard: ServiceGuard | None = None
        self._subscriptions: list[_Subscriber] = []
        self._consumers: list[asyncio.Task[None]] = []

    def handle(self, servicer: object) -> None:
        """Serve a generated servicer's methods (call before :meth:`run`)."""
        add, descriptor = _generated(servicer)
        self._handlers.append((servicer, add, descriptor))

    def subscribe(
        self,
        topic: str,
        *,
        group: str = "",
        ack_wait: float | None = None,
        retry_limit: int | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Run the decorated handler (``fn(event)``, plain or async) per event of ``topic``
        while the service runs.

        With a ``group`` the service's instances (and other members of the group) share the
        events and the group's position is kept; without one each instance gets every new
        event. An event is acked when the handler returns and nacked when it raises, so it
        comes back (after ``ack_wait``, up to ``retry_limit`` times, then to
        ``<topic>.dead``). A lost connection is retried with backoff.
        """
        from micro.events import check_group, check_topic

        check_topic(topic)
        check_group(group)

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._subscriptions.append(_Subscriber(topic, group, fn, ack_wait, retry_limit))
            return fn

        return decorator

    @property
    def namespace(self) -> str:
        return _platform.namespace()

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT; exits with one line on stderr when it cannot start."""
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        try:
            asyncio.run(self.serve())
        except errors.MicroError as err:
            print(f"Error: {err.detail}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            pass

    async def serve(self) -> None:
        """Start, then serve until SIGTERM/SIGINT (or :meth:`request_stop`), then stop."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._stop.set)
                installed.append(sig)
        try:
            await self.start()
            await self._stop.wait()
            log.info("Stopping")
        finally:
            await self.stop()
            for sig in installed:
                loop.remove_signal_handler(sig)

    def request_stop(self) -> None:
        self._stop.set()

    async def start(self) -> str:
        """Bind, serve and register; returns the bound address.

        Raises:
            micro.errors.Unavailable: no micro server answers at ``MICRO_PROXY``.
        """
        if not self._handlers:
            log.warning("service %s has no handlers", self.name)
        guard = self._guard = ServiceGuard(self.name, self.namespace)
        node = NodeServices(self.counters)
        server = WrappingServer(
            grpc.aio.server(options=SERVER_OPTIONS), ServiceHandlers(self.counters, guard).wrap
        )
        for servicer, add, _ in self._handlers:
            add(servicer, server)
        names = [d.full_name for _, _, d in self._handlers]
        node.add_to(server, reflection=names)
        try:
            port = server.add_insecure_port(self.listen)
        except RuntimeError as exc:
            raise errors.Unavailable(f"cannot listen on {self.listen}") from exc
        await server.start()
        self._server = server
        host = self.listen.rsplit(":", 1)[0] or "127.0.0.1"
        self.address = f"{host}:{port}"
        await node.serving([self.name, *names])
        try:
            await self._register_first()
            await guard.start()
        except BaseException:
            await server.stop(0)
            self._server = None
            if self._registrar is not None:  # registered, but the guard could not start
                await self._registrar.stop()
                self._registrar = None
            await self._close_registry()
            await self._close_guard()
            raise
        _platform.set_service_name(self.name)
        self._consumers = [asyncio.create_task(sub.run()) for sub in self._subscriptions]
        if self.name != self._code_name:
            log.info("Registered as %s (MICRO_SERVICE_NAME) instead of %s", self.name, self._code_name)
        log.info("Listening on %s", self.address)
        return self.address

    def _describe(self) -> RegistryService:
        from micro.registry.schema import describe

        return describe(
            self.name,
            [d for _, _, d in self._handlers],
            address=self.address,
            version=self.version,
            metadata=self.metadata,
        )

    async def _registry_now(self) -> Registry:
        """The registry client for the next registration, with a fresh token when the
        service has credentials."""
        from micro.registry.grpc import GrpcRegistry

        await _platform.authenticate()
        token = _platform.token()
        if self._registry is None or self._registry_token != token:
            if self._registry is not None:
                await self._registry.close()
            self._registry = GrpcRegistry(
                _platform.proxy_address(), namespace=self.namespace, token=token, timeout=10.0
            )
            self._registry_token = token
        registry: Registry = self._registry
        return registry

    async def _register_first(self) -> None:
        proxy = _platform.proxy_address()
        registrar = Registrar([self._describe()], self._registry_now, ttl=TTL_SECONDS, domain=self.namespace)
        try:
            await registrar.start()
        except errors.Unavailable as exc:
            raise errors.Unavailable(
                f"cannot reach a micro server at {proxy} (MICRO_PROXY): start one with `micro server`"
            ) from exc
        except errors.MicroError as exc:
            raise type(exc)(f"cannot register {self.name} at {proxy}: {exc.detail}") from exc
        self._registrar = registrar

    async def _close_guard(self) -> None:
        if self._guard is not None:
            await self._guard.close()
            self._guard = None

    async def _close_registry(self) -> None:
        if self._registry is not None:
            await self._registry.close()
            self._registry = None

    async def stop(self, grace: float = 1.0, *, deregister: bool = True) -> None:
        """Deregister, then stop serving (in-flight calls get ``grace`` seconds).

        ``deregister=False`` leaves the registration to lapse, as a crash would (for tests
        of what callers do with a dead node).
        """
        consumers, self._consumers = self._consumers, []
        for task in consumers:
            task.cancel()
        for task in consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._registrar is not None:
            await self._registrar.stop(deregister=deregister)
            self._registrar = None
        await self._close_registry()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        await self._close_guard()
        if _platform.service_name() == self.name:
            _platform.set_service_name("")
