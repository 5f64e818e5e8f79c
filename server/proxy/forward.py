"""The proxy's catch-all: any method the server does not serve itself goes to a service node.

The target service is the ``micro-service`` metadata, else the method path's package
(``/helloworld.Helloworld/Call`` → ``helloworld``); the namespace is the one the call
boundary decided (``micro-namespace``, else the caller's token's, else ``micro``: the auth
interceptor checked that namespace's rules before this runs) and names the registry domain.
Nodes are taken round robin by the router the framework's client uses too
(:class:`micro.client._router.Router`, with a registry watch per namespace); a node that
refuses the connection (``UNAVAILABLE`` before any reply) is marked down for a few seconds
and the next one is tried. Messages pass as raw
bytes, with the caller's deadline and metadata (hop-by-hop and gRPC-internal keys stripped);
replies, response headers, errors and their trailing metadata (``micro-error``) come back
unchanged.

The caller's own ``authorization`` is never forwarded: a node gets a call token minted for
it (``mint``; see :mod:`server.auth.calls`), or nothing for an anonymous caller.

Core services the server leaves to processes of their own (``core``: ``micro server
--without runtime`` beside ``micro service runtime``) are looked up in the ``micro`` domain
whatever the namespace the call acts in (they register there, and a namespace's own service
of that name must not receive their calls), and their call token has the audience
:func:`~server.auth.calls.core_audience`, which only that core service accepts.

Endpoints the registry knows as unary get a unary handler (cheaper per call); everything
else goes through a stream-stream handler, which carries every streaming kind.

Each forwarded call is counted in the process's routes (:mod:`micro._routes`: requests,
errors, latency per namespace, service and endpoint) for the network view, from the moment
it reaches the proxy to its last reply — except calls the HTTP gateway makes, which the
gateway counts itself. Calls the boundary refused never get here and are not counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, Protocol

import grpc

from micro import errors
from micro._grpc import CHANNEL_OPTIONS, NAMESPACE_KEY, SERVICE_KEY, abort
from micro._routes import ROUTES, RouteStats, RouteTable, passed_gateway
from micro.auth.boundary import Caller
from micro.client._router import MAX_CACHED, Route, Router
from micro.registry import DEFAULT_DOMAIN, Registry, Streaming
from server.auth import context as ctx
from server.auth.calls import core_audience

__all__ = ["ROUTE_TTL", "UNKNOWN_METHOD", "VIA_KEY", "Forwarder", "Mint"]

log = logging.getLogger(__name__)

ROUTE_TTL = 2.0
MAX_CACHED_HANDLERS = MAX_CACHED
VIA_KEY = "micro-via"  # set on forwarded calls, so a call routed back to the proxy ends there
# the route of methods the registry does not list for their service
UNKNOWN_METHOD = "(unknown)"
_DROP_PREFIXES = (":", "grpc-")
_DROP_KEYS = frozenset(
    {"user-agent", "content-type", "te", "host", "connection", VIA_KEY, "authorization", NAMESPACE_KEY}
)


#: how long a node's response headers wait for a reply or status to follow them before they
#: pass on alone (the call is established); a call that ended at once is told apart by it
_SETTLE_SECONDS = 0.05
_ENDED = object()


class Mint(Protocol):
    """The token forwarded for a caller's call to (namespace, service) — for ``audience``
    when given, else that service's in that namespace; None: none."""

    def __call__(
        self, caller: Caller, namespace: str, service: str, *, audience: str | None = None
    ) -> str | None: ...


def _forwarded(metadata: Sequence[Any], namespace: str, token: str | None) -> tuple[tuple[str, Any], ...]:
    """What a node receives: the caller's metadata less hop-by-hop keys and its token, with
    the namespace the call acts in and the hop's own token."""
    kept = [(k, v) for k, v in metadata if k not in _DROP_KEYS and not k.startswith(_DROP_PREFIXES)]
    kept.append((NAMESPACE_KEY, namespace))
    if token:
        kept.append(("authorization", f"Bearer {token}"))
    kept.append((VIA_KEY, "proxy"))
    return tuple(kept)


def _trailers(metadata: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((k, v) for k, v in metadata or () if not k.startswith(_DROP_PREFIXES))


def target_of(method: str, metadata: Sequence[Any]) -> tuple[str, str]:
    """The (namespace, service) a call is for."""
    service = namespace = ""
    for k, v in metadata:
        if k == SERVICE_KEY:
            service = v.decode() if isinstance(v, bytes) else v
        elif k == NAMESPACE_KEY:
            namespace = v.decode() if isinstance(v, bytes) else v
    if not service:
        # "/helloworld.Helloworld/Call" → "helloworld"; "/a.b.Svc/M" → "a.b"
        service = method.lstrip("/").split("/", 1)[0].rpartition(".")[0]
    return namespace or DEFAULT_DOMAIN, service


class Forwarder(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A generic handler forwarding every method it is asked about (add it last)."""

    def __init__(
        self,
        registry: Registry,
        *,
        mint: Mint | None = None,
        routes: RouteTable = ROUTES,
        core: frozenset[str] = frozenset(),
    ) -> None:
        self.registry = registry
        self.mint = mint
        self.core = core  # core services served by processes of their own
        self.routes = routes  # where forwarded calls are counted (the network view)
        # nodes are dialled in plaintext (loopback or a private network), method names are
        # any caller's choice (not registered with the channel), routes follow the registry
        self.router = Router(registry, ttl=ROUTE_TTL, connect=_connect, watch=True, register_methods=False)
        self._handlers: dict[tuple[str, bool], grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        namespace, service = target_of(method, handler_call_details.invocation_metadata or ())
        route = self.router.cached(namespace, service)
        unary = route is not None and route.kinds.get(method) is Streaming.UNARY
        # handlers close over the method only (interceptors may cache them per method);
        # the metadata of each call is read from its context
        key = (method, unary)
        handler = self._handlers.get(key)
        if handler is None:
            handler = self._handler(method, unary)
            if len(self._handlers) < MAX_CACHED_HANDLERS:
                self._handlers[key] = handler
        return handler

    def _handler(self, method: str, unary: bool) -> grpc.RpcMethodHandler:
        if unary:

            async def forward_unary(request: bytes, context: Any) -> bytes:
                return await self._unary(method, request, context)

            return grpc.unary_unary_rpc_method_handler(forward_unary)

        def forward_stream(request_iterator: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
            return self._stream(method, request_iterator, context)

        return grpc.stream_stream_rpc_method_handler(forward_stream)

    async def _route(
        self, method: str, metadata: Sequence[Any]
    ) -> tuple[str, str, Route, tuple[tuple[str, Any], ...]]:
        """(registry domain, service, route, metadata to forward) of a call."""
        namespace, service = target_of(method, metadata)
        if any(k == VIA_KEY for k, _ in metadata):
            # routed back to us: the server serves this service but not this method
            raise errors.NotImplementedError_(f"endpoint {method} not found")
        caller = ctx.current()
        token = None
        core = service in self.core
        if caller is not None:
            namespace = caller.namespace  # the one the boundary checked
            if self.mint is not None:
                audience = core_audience(service) if core else None
                token = self.mint(caller, namespace, service, audience=audience)
        domain = DEFAULT_DOMAIN if core else namespace
        route = await self.router.resolve(domain, service)
        return domain, service, route, _forwarded(metadata, namespace, token)

    def _failed(self, namespace: str, service: str, address: str) -> None:
        log.info("node %s of %s is unavailable", address, service)
        self.router.mark_down(namespace, service, address)

    async def _addresses(self, namespace: str, service: str, route: Route) -> AsyncIterator[str]:
        """Nodes to try in turn: the route's, then (all failed) any new ones the registry knows."""
        tried: set[str] = set()
        for address in self.router.candidates(route):
            tried.add(address)
            yield address
        self.router.forget(namespace, service)
        try:
            fresh = await self.router.resolve(namespace, service)
        except errors.MicroError:
            return
        for address in self.router.candidates(fresh):
            if address not in tried:
                yield address

    def _counter(self, namespace: str, service: str, route: Route, method: str) -> RouteStats | None:
        """Where a forwarded call is counted (None: not here — the gateway counts the calls it
        makes, and a full table counts no new route). Methods the registry does not list for
        the service share one route: callers choose method names."""
        if passed_gateway.get():
            return None
        return self.routes.route(namespace, service, method if method in route.kinds else UNKNOWN_METHOD)

    async def _unary(self, method: str, request: bytes, context: Any) -> bytes:
        start = time.perf_counter()
        metadata = context.invocation_metadata() or ()
        namespace, service, route, forwarded = await self._route(method, metadata)
        stats = self._counter(namespace, service, route, method)
        if stats is None:
            return await self._unary_routed(method, request, context, namespace, service, route, forwarded)
        failed = True
        try:
            reply = await self._unary_routed(method, request, context, namespace, service, route, forwarded)
            failed = False
            return reply
        finally:
            stats.observe(time.perf_counter() - start, failed)

    async def _unary_routed(
        self,
        method: str,
        request: bytes,
        context: Any,
        namespace: str,
        service: str,
        route: Route,
        forwarded: tuple[tuple[str, Any], ...],
    ) -> bytes:
        timeout = context.time_remaining()
        # the usual case without the generator below: the next node answers
        first = self.router.candidates(route)[0]
        try:
            return await self._unary_to(first, method, request, forwarded, timeout, context)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or _from_service(exc):
                await _relay(context, exc)
            self._failed(namespace, service, first)
        async for address in self._addresses(namespace, service, route):
            if address == first:
                continue
            try:
                return await self._unary_to(address, method, request, forwarded, timeout, context)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or _from_service(exc):
                    await _relay(context, exc)
                self._failed(namespace, service, address)
        await _no_node(context, service)
        raise AssertionError("unreachable")  # pragma: no cover - _no_node raises

    async def _unary_to(
        self, address: str, method: str, request: bytes, metadata: Any, timeout: float | None, context: Any
    ) -> bytes:
        mc = self.router.callable("unary_unary", address, method)
        call = mc(request, metadata=metadata, timeout=timeout)
        reply: bytes = await call
        await _pass_headers(context, call)
        trailers = await call.trailing_metadata()
        if trailers:
            context.set_trailing_metadata(_trailers(trailers))
        return reply

    async def _stream(
        self, method: str, request_iterator: AsyncIterator[bytes], context: Any
    ) -> AsyncIterator[bytes]:
        start = time.perf_counter()
        metadata = context.invocation_metadata() or ()
        namespace, service, route, forwarded = await self._route(method, metadata)
        stats = self._counter(namespace, service, route, method)
        replies = self._stream_routed(method, request_iterator, context, namespace, service, route, forwarded)
        failed = True
        try:
            async for reply in replies:
                yield reply
            failed = False
        except GeneratorExit:  # the caller went away: not the route's failure
            failed = False
            raise
        finally:
            await replies.aclose()  # the node's call is cancelled now, not when collected
            if stats is not None:
                stats.observe(time.perf_counter() - start, failed)

    async def _stream_routed(
        self,
        method: str,
        request_iterator: AsyncIterator[bytes],
        context: Any,
        namespace: str,
        service: str,
        route: Route,
        forwarded: tuple[tuple[str, Any], ...],
    ) -> AsyncGenerator[bytes, None]:
        timeout = context.time_remaining()
        replay = _Replay(request_iterator)
        async for address in self._addresses(namespace, service, route):
            call = self.router.callable("stream_stream", address, method)(
                replay.iterate(), metadata=forwarded, timeout=timeout
            )
            replied = False
            first: asyncio.Future[Any] | None = None
            try:
                # the node's headers as soon as they come, so the caller of a quiet stream
                # learns it is established (the gateway's HTTP status). A call that ended
                # at once (an error before any reply) has empty headers too, just before
                # its status: they pass on only when no reply nor status follows them
                headers = await call.initial_metadata()
                first = asyncio.ensure_future(anext(aiter(call), _ENDED))
                done, _ = await asyncio.wait((first,), timeout=_SETTLE_SECONDS)
                if not done:
                    replied = True
                    replay.stop_buffering()  # the caller has this node's headers: no other
                    await _send_headers(context, headers)
                reply = await first
                if reply is not _ENDED:
                    if not replied:
                        replied = True
                        replay.stop_buffering()
                        await _pass_headers(context, call)
                    yield reply
                    async for reply in call:  # the first reply decided the headers
                        yield reply
                trailers = await call.trailing_metadata()
                if trailers:
                    context.set_trailing_metadata(_trailers(trailers))
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE and not _from_service(exc):
                    self._failed(namespace, service, address)
                    if not replied:
                        continue
                    await _no_node(context, service, f"node {address} went away mid-stream")
                await _relay(context, exc)
            finally:
                if first is not None and not first.done():
                    first.cancel()
                elif first is not None and not first.cancelled():
                    first.exception()  # seen (the caller left while it was pending)
                if not call.done():
                    call.cancel()
        await _no_node(context, service)

    async def close(self) -> None:
        await self.router.close()


def _connect(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)


def _headers(metadata: Any) -> tuple[tuple[str, Any], ...]:
    """A node's response headers less the transport's own keys."""
    return tuple(
        (k, v) for k, v in metadata or () if k not in _DROP_KEYS and not k.startswith(_DROP_PREFIXES)
    )


async def _pass_headers(context: Any, call: Any) -> None:
    """Send the caller the node's response headers (its initial metadata), if any, before
    the first reply."""
    headers = _headers(await call.initial_metadata())
    if headers:
        await context.send_initial_metadata(headers)


async def _send_headers(context: Any, metadata: Any) -> None:
    """Send a stream's caller the node's response headers, even none: that the node sent
    them says the stream is established."""
    await context.send_initial_metadata(_headers(metadata))


def _from_service(exc: grpc.aio.AioRpcError) -> bool:
    """Whether an UNAVAILABLE came from the service itself (it set ``micro-error``)."""
    return any(k == "micro-error" for k, _ in exc.trailing_metadata() or ())


async def _no_node(context: Any, service: str, why: str = "no node answered") -> None:
    """End the caller's RPC when no node of ``service`` answered: the service is unavailable
    (a bare UNAVAILABLE would read as the proxy itself being unreachable)."""
    await abort(context, errors.Unavailable(f'service "{service}" is unavailable: {why}'))


async def _relay(context: Any, exc: grpc.aio.AioRpcError) -> None:
    """End the caller's RPC with the upstream's status, detail and trailers."""
    trailers = _trailers(exc.trailing_metadata())
    if trailers:
        context.set_trailing_metadata(trailers)
    await context.abort(exc.code(), exc.details() or "")


class _Replay:
    """The caller's requests, replayable to a second node until the first reply arrives."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source.__aiter__()
        self._buffer: list[bytes] | None = []

    def stop_buffering(self) -> None:
        self._buffer = None

    async def iterate(self) -> AsyncIterator[bytes]:
        for item in list(self._buffer or ()):
            yield item
        while True:
            try:
                item = await self._source.__anext__()
            except StopAsyncIteration:
                return
            if self._buffer is not None:
                self._buffer.append(item)
            yield item
