"""The one boundary between gRPC and micro's errors, plus shared channel/server options.

Servers raise :class:`~micro.errors.MicroError` from handlers; :class:`ErrorInterceptor`
turns it into a gRPC status whose message is the detail (readable by grpcurl) and puts the
whole error JSON in the ``micro-error`` trailing metadata. Clients wrap calls in
:func:`rpc_errors`, which turns an ``AioRpcError`` back into the same error class.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from micro import errors

__all__ = [
    "CHANNEL_OPTIONS",
    "ERROR_KEY",
    "MAX_MESSAGE_BYTES",
    "NAMESPACE_KEY",
    "SERVER_OPTIONS",
    "ErrorInterceptor",
    "MethodCache",
    "abort",
    "call_metadata",
    "from_rpc_error",
    "map_handler",
    "metadata_value",
    "rpc_errors",
    "status_for",
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
def rpc_errors(address: str = "") -> Iterator[None]:
    """Translate gRPC failures raised inside the block into MicroError."""
    try:
        yield
    except grpc.RpcError as exc:
        raise from_rpc_error(exc, address=address) from exc


async def abort(context: Any, err: errors.MicroError) -> None:
    """End the current RPC with ``err`` (never returns)."""
    context.set_trailing_metadata(((ERROR_KEY, err.to_json()),))
    await context.abort(status_for(err), err.detail)


def _internal(exc: BaseException, method: str) -> errors.MicroError:
    log.exception("unexpected error in %s", method, exc_info=exc)
    return errors.InternalServerError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _wrap_unary(behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def wrapper(request: Any, context: Any) -> Any:
        try:
            reply = await behavior(request, context)
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
    behavior: Callable[..., AsyncIterator[Any]], method: str
) -> Callable[..., AsyncIterator[Any]]:
    async def wrapper(request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for item in behavior(request, context):
                yield item
        except errors.MicroError as err:
            await abort(context, err)
        except (Exception, SystemExit) as exc:  # sys.exit() in a handler: grpc's loop would die
            if _is_abort(exc):
                raise
            await abort(context, _internal(exc, method))

    return wrapper


def _is_abort(exc: BaseException) -> bool:
    # context.abort raises an internal exception that must pass through untouched
    return type(exc).__name__ == "AbortError" or isinstance(exc, grpc.RpcError)


Unary = Callable[..., Awaitable[Any]]
Stream = Callable[..., AsyncIterator[Any]]


def map_handler(handler: Any, unary: Callable[[Unary], Unary], stream: Callable[[Stream], Stream]) -> Any:
    """A copy of an ``RpcMethodHandler`` whose behaviour is wrapped: ``unary`` wraps
    behaviours that return one reply (unary-unary, stream-unary), ``stream`` those that
    yield replies (unary-stream, stream-stream)."""
    kwargs = {
        "request_deserializer": handler.request_deserializer,
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
    (services' handlers are; the proxy's per-call handlers are not, and are wrapped anew)."""

    def __init__(self, limit: int = 4096) -> None:
        self._entries: dict[str, tuple[Any, Any]] = {}
        self._limit = limit

    def get(self, method: str, inner: Any, wrap: Callable[[Any], Any]) -> Any:
        entry = self._entries.get(method)
        if entry is not None and entry[0] is inner:
            return entry[1]
        wrapped = wrap(inner)
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[method] = (inner, wrapped)
        return wrapped


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


def wrap_handler(handler: Any, method: str) -> Any:
    """A copy of ``handler`` whose behaviour translates errors."""
    return map_handler(
        handler,
        lambda behavior: _wrap_unary(behavior, method),
        lambda behavior: _wrap_stream(behavior, method),
    )
