"""Testing services without a server: a pytest plugin (registered as ``micro``).

The ``micro_platform`` fixture points the module-level clients (``micro.store``,
``micro.config``, ``micro.events``, ``micro.client``'s registry) at in-memory backends for
one test (``@service.subscribe`` handlers of a started service consume from its events);
:func:`call_handler` calls a handler method with a :class:`FakeContext`::

    async def test_call(micro_platform):
        reply = await call_handler(Helloworld().Call, pb.CallRequest(name="John"))
        assert reply.msg == "Hello John"
        assert await micro.store.read("last")  # written through the fake store

Errors a handler raises (or aborts with) come out of :func:`call_handler` as the
:mod:`micro.errors` class a caller would see.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from micro import errors
from micro._grpc import _CODE_FOR_STATUS, ERROR_KEY, metadata_value
from micro.events import Stream
from micro.registry import Registry
from micro.store import Store

__all__ = ["FakeContext", "Platform", "call_handler", "micro_platform"]


@dataclass
class Platform:
    """The in-memory backends a test runs against."""

    store: Store
    registry: Registry
    events: Stream
    config: Any = None  # micro.config.Config, when the config module is available
    broker: Any = None  # micro.broker.memory.MemoryBroker


@pytest.fixture
def micro_platform() -> Iterator[Platform]:
    """In-memory store, registry, events, config and broker as the module-level defaults for one
    test."""
    import micro.broker
    import micro.client
    import micro.events
    import micro.store
    from micro.broker.memory import MemoryBroker
    from micro.events.memory import MemoryStream
    from micro.registry.memory import MemoryRegistry
    from micro.store.memory import MemoryStore

    platform = Platform(
        store=MemoryStore(), registry=MemoryRegistry(), events=MemoryStream(), broker=MemoryBroker()
    )
    try:
        import micro.config
        from micro.config.memory import MemoryConfig

        platform.config = MemoryConfig()
        micro.config.set_default(platform.config)
    except ImportError:  # pragma: no cover - config is part of the platform
        pass
    micro.store.set_default(platform.store)
    micro.broker.set_default(platform.broker)
    micro.events.set_default(platform.events)
    micro.client.set_registry(platform.registry)
    try:
        yield platform
    finally:
        micro.store.set_default(None)
        micro.broker.set_default(None)
        micro.events.set_default(None)
        micro.client.set_registry(None)
        if platform.config is not None:
            import micro.config

            micro.config.set_default(None)


class HandlerAborted(Exception):
    """Raised by :meth:`FakeContext.abort` (as grpc does) to end the handler."""


class FakeContext:
    """A stand-in for ``grpc.aio.ServicerContext`` that records what the handler did."""

    def __init__(self, metadata: Iterable[tuple[str, str]] = (), *, timeout: float | None = None) -> None:
        self.metadata = tuple(metadata)
        self.timeout = timeout
        self.initial_metadata: tuple[tuple[str, str], ...] = ()
        self.trailing: tuple[tuple[str, str], ...] = ()
        self.status: grpc.StatusCode | None = None
        self.status_details = ""
        self.aborted = False

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    async def send_initial_metadata(self, metadata: Iterable[tuple[str, str]]) -> None:
        self.initial_metadata = tuple(metadata)

    def set_trailing_metadata(self, metadata: Iterable[tuple[str, str]]) -> None:
        self.trailing = tuple(metadata)

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.trailing

    def set_code(self, code: grpc.StatusCode) -> None:
        self.status = code

    def code(self) -> grpc.StatusCode | None:
        return self.status

    def set_details(self, details: str) -> None:
        self.status_details = details

    def details(self) -> str:
        return self.status_details

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        self.aborted = True
        self.status, self.status_details = code, details
        if trailing_metadata:
            self.trailing = tuple(trailing_metadata)
        raise HandlerAborted(details)

    def time_remaining(self) -> float | None:
        return self.timeout

    def peer(self) -> str:
        return "ipv4:127.0.0.1:0"

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False

    def add_done_callback(self, callback: Any) -> None:
        pass

    def auth_context(self) -> dict[str, Any]:
        return {}

    def as_error(self) -> errors.MicroError:
        """The error a caller would receive for this context's abort."""
        raw = metadata_value(self.trailing, ERROR_KEY)
        if raw:
            err = errors.from_json(raw)
            if err is not None:
                return err
        code = _CODE_FOR_STATUS.get(self.status or grpc.StatusCode.UNKNOWN, 500)
        return errors.from_code(code, self.status_details)


async def _aiter(items: Any) -> AsyncIterator[Any]:
    if hasattr(items, "__aiter__"):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def call_handler(
    method: Any,
    request: Any,
    *,
    context: FakeContext | None = None,
    metadata: Iterable[tuple[str, str]] = (),
) -> Any:
    """Call a handler method as gRPC would; streaming replies come back as a list.

    ``request`` is a message, or an iterable / async iterable of messages for client-
    streaming and bidi methods. Errors raised (or aborted with) come out as MicroError.
    """
    ctx = context or FakeContext(metadata)
    if isinstance(request, list | tuple) or inspect.isgenerator(request) or hasattr(request, "__aiter__"):
        request = _aiter(request)
    try:
        if inspect.isasyncgenfunction(method):
            return [item async for item in method(request, ctx)]
        result = method(request, ctx)
        if inspect.isawaitable(result):
            result = await result
        if hasattr(result, "__aiter__"):
            return [item async for item in result]
        return result
    except HandlerAborted:
        raise ctx.as_error() from None
