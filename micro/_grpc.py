"""The one boundary between gRPC and micro's errors, plus shared channel/server options.

Servers raise :class:`~micro.errors.MicroError` from handlers; :class:`ErrorInterceptor`
turns it into a gRPC status whose message is the detail (readable by grpcurl) and puts the
whole error JSON in the ``micro-error`` trailing metadata. Clients open channels with
:func:`aio_channel` / :func:`sync_channel` (TLS where :func:`micro._platform.tls_for` says so;
the deadline of :func:`micro._platform.call_deadline` on unary calls that set none) and wrap
calls in :func:`rpc_errors`, which turns an ``AioRpcError`` back into the same error class.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

import grpc

from micro import _platform, errors

__all__ = [
    "CHANNEL_OPTIONS",
    "ERROR_KEY",
    "INTERNAL_DETAIL",
    "MALFORMED",
    "MAX_MESSAGE_BYTES",
    "NAMESPACE_KEY",
    "SERVER_OPTIONS",
    "Admit",
    "Counter",
    "ErrorInterceptor",
    "MethodCache",
    "WrappingServer",
    "abort",
    "aio_channel",
    "call_metadata",
    "from_rpc_error",
    "hung",
    "map_handler",
    "metadata_value",
    "rpc_errors",
    "safe_deserializer",
    "status_for",
    "sync_channel",
    "wrap_handler",
]

log = logging.getLogger(__name__)

ERROR_KEY = "micro-error"
NAMESPACE_KEY = "micro-namespace"
SERVICE_KEY = "micro-service"
ENDPOINT_KEY = "micro-endpoint"
FROM_SERVICE_KEY = "micro-from-service"

# Requests and replies up to 16 MiB pass; larger ones get RESOURCE_EXHAUSTED.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.enable_retries", 0),
]

SERVER_OPTIONS: list[tuple[str, Any]] = [
    # grpcio lets a second server share the port silently by default
    ("grpc.so_reuseport", 0),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]

_STATUS_FOR_CODE: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.ABORTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}

_CODE_FOR_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.DEADLINE_EXCEEDED: 408,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 413,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
}


def _credentials(ca: str) -> grpc.ChannelCredentials:
    """TLS credentials trusting ``ca`` (a PEM file), or the system's roots when empty."""
    if not ca:
        return grpc.ssl_channel_credentials()
    from micro.environment import read_ca

    return grpc.ssl_channel_credentials(root_certificates=read_ca(ca))


def _seconds(seconds: float) -> str:
    return f"{seconds:g}s"


def hung(address: str, seconds: float | None) -> errors.MicroError:
    """The server at ``address`` took the connection but did not answer in time (it is
    stopped, overloaded or not a gRPC server): the CLI's exit 4, as for a server that is down."""
    waited = f" after {_seconds(seconds)}" if seconds is not None else ""
    return errors.Unavailable(f"timed out{waited} waiting for micro server at {address}")


class _Deadline(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Gives unary calls without a deadline ``seconds``, and tells a server that never
    answered (the channel never became ready: no HTTP/2 settings, no TLS handshake) from a
    call the server took and did not finish in time (``Request timed out``)."""

    def __init__(self, address: str, seconds: float | None) -> None:
        self.address = address
        self.seconds = seconds
        self.channel: grpc.aio.Channel | None = None

    async def intercept_unary_unary(
        self, continuation: Callable[..., Awaitable[Any]], details: Any, request: Any
    ) -> Any:
        if details.timeout is None and self.seconds is not None:
            details = details._replace(timeout=self.seconds)
        call = await continuation(details, request)
        try:
            await call
        except grpc.aio.AioRpcError as exc:
            if (
                exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                and metadata_value(exc.trailing_metadata(), ERROR_KEY) is None
                and self.channel is not None
                and self.channel.get_state() != grpc.ChannelConnectivity.READY
            ):
                err = hung(self.address, details.timeout)
                raise grpc.aio.AioRpcError(
                    exc.code(),
                    exc.initial_metadata(),
                    grpc.aio.Metadata((ERROR_KEY, err.to_json())),
                    details=err.detail,
                ) from None
            raise
        return call


def aio_channel(address: str, *, options: list[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    """A ``grpc.aio`` channel to a micro server (or the proxy) at ``address``: TLS when
    :func:`micro._platform.tls_for` says so; with a client deadline set
    (:func:`micro._platform.set_call_deadline`) unary calls get it and a server that never
    answers is told apart (:func:`hung`). Services' channels carry no interceptor (hot path).

    Raises:
        micro.errors.BadRequest: the CA file to trust cannot be read.
    """
    opts = options if options is not None else CHANNEL_OPTIONS
    ca = _platform.tls_for(address)
    seconds = _platform.call_deadline()
    deadline = _Deadline(address, seconds) if seconds is not None else None
    interceptors = [deadline] if deadline is not None else None
    if ca is None:
        channel = grpc.aio.insecure_channel(address, options=opts, interceptors=interceptors)
    else:
        channel = grpc.aio.secure_channel(address, _credentials(ca), options=opts, interceptors=interceptors)
    if deadline is not None:
        deadline.channel = channel
    return channel


def sync_channel(address: str) -> grpc.Channel:
    """A synchronous channel to ``address`` (TLS as for :func:`aio_channel`). A server
    stream read from it is polled on the reading thread itself (grpc's
    ``SingleThreadedUnaryStream``): no hand-over from grpc's channel thread per message,
    which was a tenth of a millisecond of ``micro logs -f``'s latency."""
    ca = _platform.tls_for(address)
    opts = [*CHANNEL_OPTIONS, ("SingleThreadedUnaryStream", 1)]
    if ca is None:
        return grpc.insecure_channel(address, options=opts)
    return grpc.secure_channel(address, _credentials(ca), options=opts)


def status_for(err: errors.MicroError) -> grpc.StatusCode:
    return _STATUS_FOR_CODE.get(err.code, grpc.StatusCode.UNKNOWN)


def metadata_value(metadata: Any, key: str) -> str | None:
    """A value from invocation or trailing metadata (a sequence of pairs), or None."""
    for k, v in metadata or ():
        if k == key:
            return v.decode() if isinstance(v, bytes) else str(v)
    return None


def call_metadata(
    *, namespace: str | None = None, token: str | None = None, service: str | None = None
) -> tuple[tuple[str, str], ...]:
    """Metadata every micro client call carries."""
    md: list[tuple[str, str]] = []
    if namespace:
        md.append((NAMESPACE_KEY, namespace))
    if token:
        md.append(("authorization", f"Bearer {token}"))
    if service:
        md.append((SERVICE_KEY, service))
    return tuple(md)


def from_rpc_error(exc: grpc.RpcError, *, address: str = "") -> errors.MicroError:
    """The MicroError a failed call stands for."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    raw = metadata_value(trailing, ERROR_KEY)
    if raw:
        err = errors.from_json(raw)
        if err is not None:
            return err
    details = (exc.details() if hasattr(exc, "details") else None) or ""
    # CANCELLED without a micro error: the server stopped while the call waited (a client's
    # own cancellation raises CancelledError, never this)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return errors.Unavailable(f"failed to connect to micro server at {address}" if address else details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.Timeout("request timed out")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return errors.TooLarge(details or "request too large")
    return errors.from_code(_CODE_FOR_STATUS.get(code, 500), details or code.name.lower())


@contextmanager
def rpc_errors(
    address: str = "", *, channel: grpc.Channel | None = None, timeout: float | None = None
) -> Iterator[None]:
    """Translate gRPC failures raised inside the block into MicroError.

    ``channel``: the synchronous channel of the calls (``timeout`` their deadline), so that a
    server that never answered is told apart as on :func:`aio_channel`'s channels.
    """
    try:
        yield
    except grpc.RpcError as exc:
        if (
            channel is not None
            and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            and metadata_value(exc.trailing_metadata(), ERROR_KEY) is None
            and not _sync_ready(channel)
        ):
            raise hung(address, timeout) from exc
        raise from_rpc_error(exc, address=address) from exc


def _sync_ready(channel: grpc.Channel) -> bool:
    """Whether a synchronous channel is connected (grpc has no public, non-blocking check;
    without one the call counts as answered)."""
    inner = getattr(channel, "_channel", None)
    check = getattr(inner, "check_connectivity_state", None)
    if check is None:
        return True
    from grpc._cython import cygrpc

    return bool(check(False) == cygrpc.ConnectivityState.ready)


async def abort(context: Any, err: errors.MicroError) -> None:
    """End the current RPC with ``err`` (never returns)."""
    context.set_trailing_metadata(((ERROR_KEY, err.to_json()),))
    await context.abort(status_for(err), err.detail)


INTERNAL_DETAIL = "internal server error"


def _internal(exc: BaseException, method: str) -> errors.MicroError:
    """The error a caller sees for a bug: a fixed text (an exception's text may hold paths,
    keys or other callers' data); the traceback goes to the log."""
    log.exception("unexpected error in %s", method, exc_info=exc)
    return errors.InternalServerError(INTERNAL_DETAIL)


class _Malformed:
    """What a request that does not parse becomes (see :func:`safe_deserializer`)."""

    def __repr__(self) -> str:
        return "<malformed request>"


MALFORMED = _Malformed()


def safe_deserializer(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserialize`` that returns :data:`MALFORMED` instead of raising.

    grpc answers a deserializer's exception with UNKNOWN and logs a traceback, before any
    interceptor or handler runs; a request that is not the method's message (truncated bytes,
    invalid UTF-8 in a string field, nesting past protobuf's limit) is the caller's mistake,
    which the handler wrapper answers with INVALID_ARGUMENT ``malformed request``.
    """
    if deserialize is None or getattr(deserialize, "_micro_safe", False):
        return deserialize

    def safe(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception:  # DecodeError, UnicodeDecodeError, RecursionError…: all the caller's
            return MALFORMED

    safe._micro_safe = True  # type: ignore[attr-defined]
    return safe


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if request is MALFORMED:
            raise errors.BadRequest("malformed request")
        yield request


class Counter(Protocol):
    """Requests served and how many failed (:class:`micro._debug.Counters`)."""

    requests: int
    errors: int


# checks a call before its handler runs: (context, request), the request None for a client
# stream; raises MicroError to refuse it (the server's auth boundary, a service's guard)
Admit = Callable[[Any, Any], Awaitable[None]]


def _wrap_unary(
    behavior: Callable[..., Awaitable[Any]],
    method: str,
    *,
    streamed: bool = False,
    counters: Counter | None = None,
    admit: Admit | None = None,
) -> Callable[..., Awaitable[Any]]:
    # one coroutine per call for everything a call goes through (see wrap_handler)
    async def wrapper(request: Any, context: Any) -> Any:
        try:
            if request is MALFORMED:
                raise errors.BadRequest("malformed request")
            if streamed:  # a client stream: check each message as it comes
                request = _checked_stream(request)
            if counters is not None:
                counters.requests += 1
            try:
                if admit is not None:
                    await admit(context, None if streamed else request)
                reply = await behavior(request, context)
            except BaseException:
                if counters is not None:
                    counters.errors += 1
                raise
            if reply is None and context.code() in (None, grpc.StatusCode.OK):
                # grpc would fail to serialize it with a TypeError the caller cannot read
                log.error("%s returned None instead of a reply", method)
                raise errors.InternalServerError(f"{method} returned None instead of a reply")
            return reply
        except errors.MicroError as err:
            await abort(context, err)
        except (Exception, SystemExit) as exc:  # sys.exit() in a handler: grpc's loop would die
            if _is_abort(exc):
                raise
            await abort(context, _internal(exc, method))

    return wrapper


def _wrap_stream(
    behavior: Callable[..., AsyncIterator[Any]],
    method: str,
    *,
    streamed: bool = False,
    counters: Counter | None = None,
    admit: Admit | None = None,
) -> Callable[..., AsyncIterator[Any]]:
    async def wrapper(request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            if request is MALFORMED:
                raise errors.BadRequest("malformed request")
            if streamed:
                request = _checked_stream(request)
            if counters is not None:
                counters.requests += 1
            try:
                if admit is not None:
                    await admit(context, None if streamed else request)
                async for item in behavior(request, context):
                    yield item
            except BaseException:
                if counters is not None:
                    counters.errors += 1
                raise
        except errors.MicroError as err:
            await abort(context, err)
        except (Exception, SystemExit) as exc:  # sys.exit() in a handler: grpc's loop would die
            if _is_abort(exc):
                raise
            await abort(context, _internal(exc, method))

    return wrapper


def _is_abort(exc: BaseException) -> bool:
    # context.abort raises an internal exception that must pass through untouched
    return isinstance(exc, (grpc.aio.AbortError, grpc.RpcError))


Unary = Callable[..., Awaitable[Any]]
Stream = Callable[..., AsyncIterator[Any]]


def map_handler(
    handler: Any,
    unary: Callable[[Unary], Unary],
    stream: Callable[[Stream], Stream],
    *,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Any:
    """A copy of an ``RpcMethodHandler`` whose behaviour is wrapped: ``unary`` wraps
    behaviours that return one reply (unary-unary, stream-unary), ``stream`` those that
    yield replies (unary-stream, stream-stream); ``request_deserializer`` replaces the
    handler's when given."""
    kwargs = {
        "request_deserializer": request_deserializer or handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(stream(handler.unary_stream), **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), **kwargs)
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(stream(handler.stream_stream), **kwargs)
    return handler


class MethodCache:
    """Wrapped handlers per method, reused while the inner handler is the same object
    (services' handlers are; the proxy's per-call handlers are not, and are wrapped anew).

    Bounded: callers choose method names, so past ``limit`` methods the least recently used
    one is dropped (services have far fewer methods; a made-up name only costs a re-wrap)."""

    def __init__(self, limit: int = 1024) -> None:
        self._entries: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._limit = limit

    def get(self, method: str, inner: Any, wrap: Callable[[Any], Any]) -> Any:
        entry = self._entries.get(method)
        if entry is not None and entry[0] is inner:
            self._entries.move_to_end(method)
            return entry[1]
        wrapped = wrap(inner)
        self._entries[method] = (inner, wrapped)
        self._entries.move_to_end(method)
        if len(self._entries) > self._limit:
            self._entries.popitem(last=False)
        return wrapped

    def __len__(self) -> int:
        return len(self._entries)


class ErrorInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Turns MicroError (and unexpected exceptions) raised by handlers into gRPC status."""

    def __init__(self) -> None:
        self._cache = MethodCache()

    async def intercept_service(self, continuation: Callable[..., Awaitable[Any]], details: Any) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        return self._cache.get(method, handler, lambda inner: wrap_handler(inner, method))


def wrap_handler(
    handler: Any, method: str, *, counters: Counter | None = None, admit: Admit | None = None
) -> Any:
    """A copy of ``handler`` whose behaviour translates errors and whose requests that do
    not parse are answered with INVALID_ARGUMENT (see :func:`safe_deserializer`).

    ``counters`` (if any) count the call and whether it failed, ``admit`` (if any) checks it
    before the handler runs; both inside the error translation, as separate wrappers would,
    but in one coroutine per call: a request that does not parse is answered before it is
    counted or checked, and a refusal counts as an error.
    """
    streamed = bool(handler.request_streaming)
    return map_handler(
        handler,
        lambda behavior: _wrap_unary(behavior, method, streamed=streamed, counters=counters, admit=admit),
        lambda behavior: _wrap_stream(behavior, method, streamed=streamed, counters=counters, admit=admit),
        request_deserializer=safe_deserializer(handler.request_deserializer),
    )


# wraps the handler of a method once, when it is added (see WrappingServer)
Wrap = Callable[[Any, str], Any]


class _Methods(grpc.GenericRpcHandler):  # type: ignore[misc]
    """The one generic handler of a :class:`WrappingServer`: its methods' wrapped handlers
    by full name, then the generic handlers added to it (theirs wrapped on first use, in a
    bounded cache: callers choose the method names a generic handler may answer)."""

    def __init__(self, wrap: Wrap) -> None:
        self.wrap = wrap
        self.methods: dict[str, Any] = {}
        self.generic: list[Any] = []
        self.cache = MethodCache()

    def service(self, handler_call_details: Any) -> Any:
        method: str = handler_call_details.method
        wrapped = self.methods.get(method)
        if wrapped is not None:
            return wrapped
        for generic in self.generic:
            handler = generic.service(handler_call_details)
            if handler is not None:
                return self.cache.get(method, handler, lambda inner: self.wrap(inner, method))
        return None


class _CallDetails(NamedTuple):
    """``grpc.HandlerCallDetails`` of an in-process call."""

    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


class WrappingServer(grpc.aio.Server):  # type: ignore[misc]
    """A ``grpc.aio`` server whose handlers are wrapped by ``wrap(handler, method)`` once,
    when they are added, and served through one generic handler.

    Instead of interceptors, which grpc.aio runs on every call (a coroutine each, plus one
    per wrapper they return), and of grpc's registered methods, whose serving loop waits on
    one pending future per registered method for every call (about 60 µs of CPU per call
    with the micro server's fifty methods): finding a method's wrapped handler is one dict
    lookup. Generated ``add_…Servicer_to_server`` functions take it like any server.

    Args:
        server: the server to serve on (``grpc.aio.server()``, without interceptors).
        wrap: returns the handler to serve for a method's handler.
    """

    def __init__(self, server: grpc.aio.Server, wrap: Wrap) -> None:
        self._server = server
        self._methods = _Methods(wrap)
        server.add_generic_rpc_handlers((self._methods,))

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        methods = self._methods
        for name, handler in method_handlers.items():
            method = f"/{service_name}/{name}"
            methods.methods[method] = methods.wrap(handler, method)
        # generated code adds the same handlers as a generic handler too, first: drop it
        methods.generic = [
            g
            for g in methods.generic
            if not (isinstance(g, grpc.ServiceRpcHandler) and g.service_name() == service_name)
        ]

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Any) -> None:
        self._methods.generic.extend(generic_rpc_handlers)

    def handler(self, method: str, metadata: Sequence[tuple[str, str]] = ()) -> Any:
        """The wrapped handler a call of ``method`` with ``metadata`` is served by (None: no
        such method), for callers inside the process (the HTTP gateway) that must go through
        exactly what a gRPC call goes through."""
        return self._methods.service(_CallDetails(method, tuple(metadata)))

    def cache_size(self) -> int:
        """Methods of generic handlers whose wrapped handler is cached (for tests of the bound)."""
        return len(self._methods.cache)

    def add_insecure_port(self, address: str) -> int:
        return int(self._server.add_insecure_port(address))

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return int(self._server.add_secure_port(address, server_credentials))

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float | None) -> None:
        await self._server.stop(grace)

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        return bool(await self._server.wait_for_termination(timeout))
