"""Dynamic calls as raw bytes through the proxy (or to a node): JSON in, JSON out, a stale
cached schema refreshed from the registry when the request or the response does not fit it."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from micro import errors
from micro.client.dynamic._cache import Schemas
from micro.client.dynamic._codec import decode, encode, has_unknown_fields
from micro.client.dynamic._schema import Guard, Method, endpoint_not_found
from micro.registry import Streaming

__all__ = ["ReplyMetadata", "call", "invoke", "invoke_stream", "stream"]

_ENDPOINT_KEY = "micro-endpoint"


@dataclass
class ReplyMetadata:
    """The metadata a call's reply carried, filled in as the call ends (also when it fails):
    what a caller that shows them (the workspace's Headers pane) passes to :func:`call` or
    :func:`stream`. Binary (``-bin``) values are left out."""

    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)


async def _collect(call: Any, into: ReplyMetadata | None) -> None:
    """Copy ``call``'s initial and trailing metadata into ``into`` (when the call has them)."""
    if into is None:
        return
    for target, read in ((into.headers, call.initial_metadata), (into.trailers, call.trailing_metadata)):
        try:
            found = await read()
        except Exception:  # a call cancelled before any metadata arrived has none
            continue
        for key, value in found or ():
            if isinstance(value, str):
                target[key] = value


def _metadata(
    method: Method, *, namespace: str, token: str | None, metadata: Mapping[str, str] | None
) -> tuple[tuple[str, str], ...]:
    from micro._grpc import call_metadata

    pairs = list(call_metadata(namespace=namespace or None, token=token, service=method.service))
    pairs.append((_ENDPOINT_KEY, method.name))
    for key, value in (metadata or {}).items():
        lowered = key.strip().lower()
        if not lowered or any(not (ch.isalnum() or ch in "-_.") for ch in lowered):
            raise errors.BadRequest(f"invalid metadata key {key!r}")
        pairs.append((lowered, value))
    return tuple(pairs)


# what grpc answers for a method a server does not serve, and the proxy's own line for it
_NO_METHOD = ("method not found!", "endpoint /")


def _not_found_detail(exc: errors.MicroError, method: Method) -> errors.MicroError:
    """A node or proxy without the method (grpc's "Method not found!") as micro's line.

    Any other 501 keeps its detail: the proxy's ``service "X" not found`` (a service that
    left since its schema was cached), or one a handler raised or relayed itself.
    """
    if isinstance(exc, errors.NotImplementedError_) and exc.detail.lower().startswith(_NO_METHOD):
        return endpoint_not_found(method.service, method.name)
    return exc


async def invoke(
    channel: Any,
    method: Method,
    request: bytes,
    *,
    address: str = "",
    namespace: str = "",
    token: str | None = None,
    metadata: Mapping[str, str] | None = None,
    timeout: float | None = None,
    reply_metadata: ReplyMetadata | None = None,
) -> bytes:
    """One unary call of ``method`` with request bytes; returns the response bytes."""
    from micro._grpc import rpc_errors

    md = _metadata(method, namespace=namespace, token=token, metadata=metadata)
    call = channel.unary_unary(method.path)(request, metadata=md, timeout=timeout)
    try:
        with rpc_errors(address):
            try:
                response: bytes = await call
            finally:
                await _collect(call, reply_metadata)
    except errors.MicroError as exc:
        raised = _not_found_detail(exc, method)
        if raised is exc:
            raise
        raise raised from exc
    return response


async def invoke_stream(
    channel: Any,
    method: Method,
    request: bytes,
    *,
    address: str = "",
    namespace: str = "",
    token: str | None = None,
    metadata: Mapping[str, str] | None = None,
    timeout: float | None = None,
    requests: AsyncIterable[bytes] | None = None,
    reply_metadata: ReplyMetadata | None = None,
) -> AsyncIterator[bytes]:
    """Response bytes of a streaming ``method`` as they arrive.

    A server stream gets the one request. A client or bidi stream sends each of
    ``requests`` as it comes and closes its sending side when they end; without
    ``requests`` it sends ``request`` as its only message.
    """
    from micro._grpc import rpc_errors

    md = _metadata(method, namespace=namespace, token=token, metadata=metadata)

    async def one() -> AsyncIterator[bytes]:
        yield request

    if method.streaming in (Streaming.UNARY, Streaming.SERVER):
        call = channel.unary_stream(method.path)(request, metadata=md, timeout=timeout)
    else:
        messages = requests if requests is not None else one()
        call = channel.stream_stream(method.path)(messages, metadata=md, timeout=timeout)
    try:
        with rpc_errors(address):
            try:
                async for item in call:
                    yield item
            finally:
                if call.done():
                    await _collect(call, reply_metadata)
    except errors.MicroError as exc:
        raised = _not_found_detail(exc, method)
        if raised is exc:
            raise
        raise raised from exc
    finally:
        call.cancel()


def _channel(address: str) -> Any:
    from micro._grpc import aio_channel

    return aio_channel(address)


async def _prepare(
    schemas: Schemas,
    service: str,
    endpoint: str,
    request: str | Mapping[str, Any],
    domain: str,
    guard: Guard | None = None,
) -> tuple[Method, bytes]:
    method = await schemas.method(service, endpoint, domain=domain)
    if guard is not None:
        method = await _guarded(schemas, method, guard, domain)
    try:
        return method, encode(method, request)
    except errors.BadRequest:
        if schemas.is_fresh(service, domain=domain):
            raise
    # the cached schema may predate a field the request uses
    await schemas.get(service, domain=domain, refresh=True)
    method = await schemas.method(service, endpoint, domain=domain)
    if guard is not None:
        guard(method.endpoint)
    return method, encode(method, request)


async def _guarded(schemas: Schemas, method: Method, guard: Guard, domain: str) -> Method:
    """``method`` once ``guard`` lets it through; a cached schema it refuses is replaced by
    the registry's first (it may predate the endpoint's side-effect-free mark). When the
    registry cannot say, the refusal stands."""
    try:
        guard(method.endpoint)
        return method
    except errors.MicroError as exc:
        if schemas.is_fresh(method.service, domain=domain):
            raise
        refused = exc
    try:
        await schemas.get(method.service, domain=domain, refresh=True)
        method = await schemas.method(method.service, method.name, domain=domain)
    except errors.MicroError:
        raise refused from None
    guard(method.endpoint)
    return method


async def _decoded(schemas: Schemas, method: Method, data: bytes, domain: str) -> dict[str, Any]:
    if not schemas.is_fresh(method.service, domain=domain) and has_unknown_fields(method, data):
        # a field the cached schema does not know: the service's schema changed
        await schemas.get(method.service, domain=domain, refresh=True)
        method = await schemas.method(method.service, method.name, domain=domain)
    return decode(method, data)


async def call(
    address: str,
    service: str,
    endpoint: str,
    request: str | Mapping[str, Any] = "{}",
    *,
    namespace: str = "",
    token: str | None = None,
    metadata: Mapping[str, str] | None = None,
    timeout: float | None = None,
    node: str | None = None,
    domain: str = "",
    schemas: Schemas | None = None,
    guard: Guard | None = None,
    reply_metadata: ReplyMetadata | None = None,
) -> dict[str, Any]:
    """Call ``service``'s unary ``endpoint`` with a JSON request; returns the JSON response.

    The call goes through the server at ``address`` (its proxy) unless ``node`` names a node
    address to call directly. ``domain`` is the registry namespace holding the service
    (default: the caller's); the call is routed there (``micro-namespace``). ``guard`` may
    refuse the endpoint before anything is sent; ``reply_metadata`` receives the reply's
    headers and trailers.
    """
    own = schemas is None
    schemas = schemas or Schemas(address, namespace=namespace, token=token)
    try:
        method, payload = await _prepare(schemas, service, endpoint, request, domain, guard)
        if method.streaming is not Streaming.UNARY:
            raise errors.BadRequest(
                f"Endpoint {method.name} is a {method.streaming.value} stream: use micro stream"
            )
        target = node or address
        async with _channel(target) as channel:
            data = await invoke(
                channel, method, payload, address=target, namespace=domain or namespace,
                token=token, metadata=metadata, timeout=timeout, reply_metadata=reply_metadata,
            )  # fmt: skip
        return await _decoded(schemas, method, data, domain)
    finally:
        if own:
            await schemas.close()


async def stream(
    address: str,
    service: str,
    endpoint: str,
    request: str | Mapping[str, Any] = "{}",
    *,
    namespace: str = "",
    token: str | None = None,
    metadata: Mapping[str, str] | None = None,
    timeout: float | None = None,
    node: str | None = None,
    domain: str = "",
    schemas: Schemas | None = None,
    requests: AsyncIterable[str | Mapping[str, Any]] | None = None,
    guard: Guard | None = None,
    reply_metadata: ReplyMetadata | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Call a streaming ``endpoint``; yields each JSON response as it arrives.

    For a client or bidi stream, ``requests`` (JSON objects, as text or parsed) are sent
    one by one as they come, and the sending side is closed when they end; without it,
    ``request`` is the only message. ``guard`` may refuse the endpoint before anything is
    sent; ``reply_metadata`` receives the reply's headers and trailers when the stream ends.
    """
    own = schemas is None
    schemas = schemas or Schemas(address, namespace=namespace, token=token)
    try:
        method, payload = await _prepare(schemas, service, endpoint, request, domain, guard)
        encoded = None if requests is None else _encoded(method, requests)
        target = node or address
        async with _channel(target) as channel:
            async for data in invoke_stream(
                channel, method, payload, address=target, namespace=domain or namespace,
                token=token, metadata=metadata, timeout=timeout, requests=encoded,
                reply_metadata=reply_metadata,
            ):  # fmt: skip
                yield await _decoded(schemas, method, data, domain)
    finally:
        if own:
            await schemas.close()


async def _encoded(method: Method, requests: AsyncIterable[str | Mapping[str, Any]]) -> AsyncIterator[bytes]:
    async for request in requests:
        yield encode(method, request)
