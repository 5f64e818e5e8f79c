"""The HTTP API gateway: HTTP/JSON in front of every service, core and user alike.

A request's path names a service and an endpoint (:mod:`server.api.paths`); the endpoint's
schema comes from the registry (the descriptors the service registered; one descriptor pool
per service version, cached until the registry says the service changed); the JSON body
(merged with the query string) is encoded to protobuf and handed to the server's own
handler for the method — the wrapped handler gRPC calls reach, found through ``dispatch``
— so the call boundary (namespace, caller, rules), the call tokens the proxy mints for
service nodes, Stats and the error mapping are the gRPC side's, not a copy. The reply comes
back as JSON; an error as ``{"id","code","detail","status"}`` with the HTTP status = code.

Namespace: ``Micro-Namespace``, else the token's issuer, else ``micro``. Token:
``Authorization: Bearer …``, else the ``micro-token`` cookie (only for requests another
site's page cannot make: :meth:`Gateway._check_cookie`). Other headers become metadata
(lower-cased; hop-by-hop ones and ``cookie`` are not passed on).

Server-streaming endpoints answer newline-delimited JSON over plain HTTP, each message
flushed as it arrives; the status and headers go as soon as the stream is established — the
handler sent its response headers (``send_initial_metadata``: a watch once it is in place, a
node's headers through the proxy) or its first message — so a client of a quiet stream sees
its 200 at once, and an error before then is still a 4xx/5xx of its own.

``HEAD`` is ``GET`` without the body, for endpoints marked side-effect free; any other
endpoint answers it 405 (a HEAD must not change anything, as a link with the cookie must not:
:meth:`Gateway._check_cookie`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

import micro
from micro import errors
from micro._grpc import _CODE_FOR_STATUS, ERROR_KEY, metadata_value
from micro.auth import DEFAULT_NAMESPACE
from micro.auth.boundary import Verified
from micro.client.dynamic import Method, decode, encode, find_endpoint
from micro.registry import Registry, Streaming
from server.api.context import Aborted, GatewayContext
from server.api.paths import parse_query, resolve
from server.api.schemas import AUTH_OVER_HTTP, SchemaCache, domain_of
from server.network.counting import gateway_handler

__all__ = ["Dispatch", "Gateway", "Identify"]

log = logging.getLogger("micro.api")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# the handler serving a method, as the gRPC server would pick it: (method, metadata) → handler
Dispatch = Callable[[str, Sequence[tuple[str, str]]], Any]
# verifies a bearer value (None: none given) as the call boundary does, once per request:
# the verdict (None: auth is off) says the namespace and is handed to the call's admission;
# raises Unauthorized for a bad token
Identify = Callable[[str | None], Awaitable[Verified | None]]

#: headers never passed on as metadata (hop-by-hop, or carried otherwise)
_NOT_METADATA = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        "content-length",
        "content-type",
        "accept-encoding",
        "cookie",
        "authorization",
        "micro-namespace",
        "micro-via",
        "micro-service",
        "proxy-authorization",
    }
)
#: bytes of a request's headers (431 past it): what h11 buffers is bounded, not what it parses
MAX_HEADER_BYTES = 64 * 1024
#: bytes of the headers passed on as metadata (431 past it): gRPC nodes refuse calls whose
#: metadata passes 8 KiB, and the call's own (token, namespace, service) must fit too
MAX_FORWARDED_BYTES = 4 * 1024
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_DOCUMENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # of / and /openapi.json
_JSON = (b"content-type", b"application/json")
_NDJSON = (b"content-type", b"application/x-ndjson")


@dataclass(frozen=True, slots=True)
class Limits:
    """What one HTTP request may ask of the gateway."""

    max_body: int = 4 * 1024 * 1024  # bytes of a request body (413 over it)
    timeout: float = 30.0  # seconds a unary call may take (408 after)
    read_seconds: float = 10.0  # to send a request's head, and again its body (408 after)


class Gateway:
    """The ASGI application.

    Args:
        registry: where endpoints and their schemas are looked up.
        dispatch: the server's handler of a method.
        identify: verifies a bearer token (the call boundary's check), once per request.
        cors_origins: origins whose browser pages may call with credentials.
    """

    def __init__(
        self,
        registry: Registry,
        dispatch: Dispatch,
        identify: Identify,
        *,
        cors_origins: frozenset[str] = frozenset(),
        limits: Limits = Limits(),
    ) -> None:
        self.registry = registry
        self.dispatch = dispatch
        self.identify = identify
        self.cors_origins = cors_origins
        self.limits = limits
        self.schemas = SchemaCache(registry, changed=self._changed)
        self._documents: dict[str, dict[str, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = _origin_form(scope)
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":  # pragma: no cover - served with lifespan off
            message = await receive()
            await send({"type": f"{message['type']}.complete"})

    # -- HTTP -----------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        cors = self._cors(headers)
        method = scope["method"]
        if sum(len(name) + len(value) for name, value in scope.get("headers", ())) > MAX_HEADER_BYTES:
            flood = errors.MicroError(f"request headers too large (limit {MAX_HEADER_BYTES} bytes)", code=431)
            await _respond(send, 431, flood.to_json().encode(), [*cors, _JSON])
            return
        # / and /openapi.json are documents, not services: read, never called
        document = scope["path"] in ("", "/", "/openapi.json")
        allowed = _DOCUMENT_METHODS if document else _METHODS
        if method not in allowed:
            allow = [*cors, (b"allow", b", ".join(m.encode() for m in sorted(allowed))), _JSON]
            refused = errors.MicroError(f"method {method[:20]} not allowed", code=405)
            await _respond(send, 405, refused.to_json().encode(), allow)
            return
        if method == "OPTIONS":
            await _respond(send, 204, b"", [*cors, (b"access-control-max-age", b"600")])
            return
        tracked = _Tracked(send)
        send = tracked
        try:
            if scope["path"] in ("", "/"):
                await _respond(send, 200, _dumps({"version": micro.__version__}), [*cors, _JSON])
                return
            if scope["path"] == "/openapi.json":
                namespace, verified = await self._namespace(scope, headers)
                await self._may_list(scope, headers, namespace, verified)
                spec = await self.openapi(namespace)
                await _respond(send, 200, _dumps(spec), [*cors, _JSON])
                return
            body = await self._body(headers, receive)
            await self._call(scope, headers, body, receive, send, cors)
        except errors.MicroError as err:
            await _respond(send, err.code, err.to_json().encode(), [*cors, _JSON])
        except _Sent:
            return
        except asyncio.CancelledError:
            # the server is stopping and ends this request's task: nothing left to answer
            return
        except Exception:
            # a gateway bug: logged here, answered with the error JSON (uvicorn's own answer
            # is a text/plain 500), never with the exception's text
            log.exception("HTTP %s %s failed", method, scope["path"][:200])
            if not tracked.started:
                failed = errors.InternalServerError("internal error")
                await _respond(send, 500, failed.to_json().encode(), [*cors, _JSON])

    def _cors(self, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        origin = headers.get("origin", "")
        if not origin or origin not in self.cors_origins:
            return []
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            (b"access-control-allow-headers", b"Content-Type, Authorization, Micro-Namespace"),
            (b"vary", b"Origin"),
        ]

    async def _body(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limits.max_body:
            raise errors.TooLarge(f"request body too large (limit {self.limits.max_body} bytes)")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.limits.read_seconds):  # a slow client goes
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Sent()
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limits.max_body:
                        raise errors.TooLarge(f"request body too large (limit {self.limits.max_body} bytes)")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise errors.Timeout(
                f"the request body did not arrive within {self.limits.read_seconds:g}s"
            ) from None

    async def _call(
        self,
        scope: Scope,
        headers: dict[str, str],
        body: bytes,
        receive: Receive,
        send: Send,
        cors: list[tuple[bytes, bytes]],
    ) -> None:
        method, metadata, handler, verified = await self._prepare(scope, headers)
        head = scope["method"] == "HEAD"
        if head and not method.endpoint.side_effect_free:
            allow = ", ".join(sorted(_METHODS - {"HEAD"})).encode()
            refused = errors.MicroError(
                f"{method.name} changes things: HEAD calls only endpoints marked side-effect free",
                code=405,
            )
            await _respond(send, 405, refused.to_json().encode(), [*cors, (b"allow", allow), _JSON])
            return
        self._check_cookie(scope["method"], headers, method)
        request = _request(method, scope, headers, body)
        if method.streaming is Streaming.UNARY:
            context = GatewayContext(
                metadata, timeout=self.limits.timeout, peer=_peer(scope), verified=verified
            )
            reply = await _unary(handler, request, context, self.limits.timeout)
            await _respond(send, 200, _dumps(_to_json(method, reply)), [*cors, _JSON])
        elif method.streaming is Streaming.SERVER:
            response = _NDJSONResponse(send, cors)
            context = GatewayContext(
                metadata, timeout=None, peer=_peer(scope), verified=verified, established=response.start
            )
            stream = _server_stream(handler, request, context, method, response)
            if head:  # the status and headers say it all: the stream ends once they are sent
                stream = _until_started(response, stream)
            await _until_disconnected(receive, stream)
        else:
            raise errors.BadRequest(
                f"{method.name} streams requests: call it over a WebSocket, not plain HTTP"
            )

    def _check_cookie(self, verb: str, headers: dict[str, str], method: Method) -> None:
        """A browser sends the ``micro-token`` cookie with requests any page makes (a link,
        an image, a form): a call with the cookie's token (no ``Authorization`` header)
        must come from the same site or an allowlisted origin, and a GET or HEAD with it
        may only call an endpoint that changes nothing (a link must not delete a key).

        Raises:
            Forbidden: a request another site's page could have made acts with the cookie.
        """
        if "authorization" in headers or _token(headers) is None:
            return
        origin = headers.get("origin", "")
        allowed = bool(origin) and origin in self.cors_origins
        site = headers.get("sec-fetch-site", "")
        if not allowed and (origin or site in ("cross-site", "same-site")):
            raise errors.Forbidden(
                "a request from another site cannot act with the micro-token cookie: "
                "send the token in the Authorization header"
            )
        if verb in ("GET", "HEAD") and not method.endpoint.side_effect_free:
            raise errors.Forbidden(
                f"{method.name} changes things: with the micro-token cookie call it with "
                "POST, or send the token in the Authorization header"
            )

    async def _prepare(
        self, scope: Scope, headers: dict[str, str]
    ) -> tuple[Method, tuple[tuple[str, str], ...], Any, Verified | None]:
        """The endpoint a request calls, the metadata the call carries, its handler and the
        verdict on its token (for the call's admission: the token is verified once)."""
        target = resolve(scope["path"])
        token = _token(headers)
        namespace, verified = await self._namespace(scope, headers)
        method = await self._method(namespace, target.service, target.endpoint)
        named = namespace if headers.get("micro-namespace") else ""
        metadata = _metadata(headers, token, named, target.service)
        handler = self.dispatch(method.path, metadata)
        if handler is None:
            raise errors.NotFound(f'Service "{target.service}" not found')
        counted = gateway_handler(handler, namespace, target.service, method.path)
        return method, metadata, counted, verified

    # -- WebSocket ------------------------------------------------------------------------
    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Any kind of endpoint over a WebSocket: each text frame a JSON request, each reply
        a text frame; ``null`` (or closing) ends the requests of a client stream. An error is
        a last frame ``{"error": {...}}``, then a close with code 4000 + its HTTP code.

        Browsers send cookies with a WebSocket from any page: a request with an ``Origin``
        not in the allowlist is refused, so a page cannot act with the user's token."""
        headers = _headers(scope)
        if (await receive())["type"] != "websocket.connect":
            return
        origin = headers.get("origin", "")
        if origin and origin not in self.cors_origins:
            await send({"type": "websocket.close", "code": 1008})  # before accepting: HTTP 403
            return
        await send({"type": "websocket.accept"})
        refused: list[errors.MicroError] = []
        try:
            method, metadata, handler, verified = await self._prepare(scope, headers)
            context = GatewayContext(metadata, timeout=None, peer=_peer(scope), verified=verified)
            requests = _frames(method, handler, receive, refused)
            await _socket_call(handler, method, requests, context, send)
        except errors.MicroError as err:
            await _close_with(send, err)
        except Aborted as aborted:
            await _close_with(send, _error(aborted))
        except (_Sent, asyncio.CancelledError):
            if refused:  # a bad frame, read by the handler's own task: the call was cancelled
                await _close_with(send, refused[0])
            return
        else:
            await send({"type": "websocket.close", "code": 1000})

    async def _namespace(self, scope: Scope, headers: dict[str, str]) -> tuple[str, Verified | None]:
        """``Micro-Namespace``, else the token's issuer, else ``micro`` (a bad token is 401
        before anything is looked up), and the verdict on the token.

        Raises:
            BadRequest: ``Micro-Namespace`` given more than once (which one the call acts in
                is not said; the call boundary refuses a repeated ``micro-namespace`` alike).
        """
        named = [value for name, value in scope.get("headers", ()) if name.lower() == b"micro-namespace"]
        if len(named) > 1:
            raise errors.BadRequest("the Micro-Namespace header must be given once")
        verified = await self.identify(_token(headers))
        issuer = verified.account.issuer if verified is not None and verified.account is not None else None
        return headers.get("micro-namespace") or issuer or DEFAULT_NAMESPACE, verified

    async def _may_list(
        self, scope: Scope, headers: dict[str, str], namespace: str, verified: Verified | None
    ) -> None:
        """The document names every endpoint of ``namespace``: it is served to whoever may list
        the namespace's services, decided by the registry's own ``ListServices`` admission
        (micro's public, other namespaces' for their accounts), through the same boundary."""
        method = await self._method(DEFAULT_NAMESPACE, "registry", "Registry.ListServices")
        named = namespace if headers.get("micro-namespace") else ""
        metadata = _metadata(headers, _token(headers), named, "registry")
        handler = self.dispatch(method.path, metadata)
        if handler is None:
            raise errors.Unavailable("the registry is not served here")
        context = GatewayContext(metadata, timeout=self.limits.timeout, peer=_peer(scope), verified=verified)
        request = encode(method, {"options": {"domain": namespace}})
        await _unary(handler, request, context, self.limits.timeout)

    async def openapi(self, namespace: str) -> dict[str, Any]:
        """The OpenAPI document of what ``namespace`` can call here (kept until a service
        it describes changes)."""
        from server.api.openapi import document

        cached = self._documents.get(namespace)
        if cached is not None:
            return cached
        spec = document(
            await self.schemas.namespace(namespace), namespace=namespace, version=micro.__version__
        )
        if self.schemas.watching(DEFAULT_NAMESPACE) and self.schemas.watching(namespace):
            # kept only while a change would drop it (a namespace with no service yet is not
            # followed: its document is made again)
            if len(self._documents) >= 256:
                self._documents.clear()
            self._documents[namespace] = spec
        return spec

    def _changed(self, domain: str) -> None:
        """A service of ``domain`` changed: the documents describing it are stale (micro's
        core services are in every namespace's)."""
        if domain == DEFAULT_NAMESPACE:
            self._documents.clear()
        else:
            self._documents.pop(domain, None)

    async def close(self) -> None:
        """Stop following the registry."""
        await self.schemas.close()

    async def _method(self, namespace: str, service: str, endpoint: str) -> Method:
        # core services serve every namespace and are registered in micro's; the call
        # boundary decides whether the namespace exists and lets the caller in
        if service == "auth" and endpoint not in AUTH_OVER_HTTP:
            raise errors.NotFound(f"Endpoint {endpoint} not found for service auth")
        schemas = await self.schemas.service(domain_of(namespace, service), service)
        try:
            return find_endpoint(schemas, endpoint, service=service)
        except errors.NotImplementedError_ as exc:  # over HTTP an unknown endpoint is a 404
            raise errors.NotFound(exc.detail) from None


class _Tracked:
    """An ASGI ``send`` that remembers whether a response has started (after it, an error can
    no longer be answered with a status)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class _Sent(Exception):
    """The response is already (partly) sent, or the client went away."""


def _origin_form(scope: Scope) -> Scope:
    """The request with its target's path alone: a client talking to the gateway as to a
    proxy sends the absolute form (``GET http://host/foo/bar``), which HTTP/1.1 servers must
    take, and uvicorn leaves the scheme and host in the path (routed as service ``http:``)."""
    path = scope.get("path", "")
    if not path.startswith(("http://", "https://", "ws://", "wss://")):
        return scope
    return {**scope, "path": "/" + path.split("://", 1)[1].partition("/")[2]}


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers, lower-cased names; a repeated header keeps its first value."""
    result: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if name not in result:
            result[name] = raw_value.decode("latin-1")
    return result


def _token(headers: dict[str, str]) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization:
        return authorization
    cookie = headers.get("cookie", "")
    if cookie:
        try:
            jar = SimpleCookie(cookie)
        except CookieError:
            return None
        morsel = jar.get("micro-token")
        if morsel is not None and morsel.value:
            return f"Bearer {morsel.value}"
    return None


def _metadata(
    headers: dict[str, str], token: str | None, namespace: str, service: str
) -> tuple[tuple[str, str], ...]:
    metadata = [
        (name, value)
        for name, value in headers.items()
        if name not in _NOT_METADATA and not name.startswith((":", "grpc-")) and value.isascii()
    ]
    if sum(len(name) + len(value) for name, value in metadata) > MAX_FORWARDED_BYTES:
        raise errors.MicroError(
            f"request headers too large to pass on to the service (limit {MAX_FORWARDED_BYTES} bytes)",
            code=431,
        )
    if token:
        metadata.append(("authorization", token))
    if namespace:
        metadata.append(("micro-namespace", namespace))
    metadata.append(("micro-service", service))  # the proxy routes by it (not the proto package)
    return tuple(metadata)


def _request(method: Method, scope: Scope, headers: dict[str, str], body: bytes) -> bytes:
    """The request: the JSON body (or form fields) merged over the query string."""
    descriptor = method.request.DESCRIPTOR
    data: dict[str, Any] = _coerce(descriptor, parse_query(scope.get("query_string", b"")))
    if body.strip():
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        # curl -d sends JSON labelled as a form: a body that starts like JSON is JSON
        if kind == "application/x-www-form-urlencoded" and not body.lstrip().startswith((b"{", b"[")):
            data.update(_coerce(descriptor, parse_query(body, what="form")))
        else:
            parsed = _json(body)
            if not isinstance(parsed, dict):
                raise errors.BadRequest("the request body must be a JSON object")
            data.update(parsed)
    return encode(method, data)


def _json(text: str | bytes) -> Any:
    """A request's JSON, or a 400 saying what is wrong with it.

    Raises:
        BadRequest: not JSON, or nested past what the parser recurses into (``[[[…]]]`` a
            hundred thousand deep is a client's mistake, not a 500).
    """
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BadRequest(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise errors.BadRequest("malformed JSON: nested too deeply") from None


def _coerce(descriptor: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Query and form values (all text) as the message's fields take them: ``true``/``false``
    for bools, a single value for a repeated field as a list, nested messages alike; the rest
    (numbers as text, enums by name) proto3 JSON parsing accepts as it is."""
    fields = {**descriptor.fields_by_name, **{f.json_name: f for f in descriptor.fields}}
    result: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            result[key] = value  # refused by the codec, naming it
            continue
        repeated = field.is_repeated and not _is_map(field)
        values = value if isinstance(value, list) else [value]
        converted = [_scalar(field, item) for item in values]
        result[key] = converted if repeated else converted[-1]
    return result


def _is_map(field: FieldDescriptor) -> bool:
    message = field.message_type
    return message is not None and message.GetOptions().map_entry


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if isinstance(value, dict) and field.message_type is not None and not _is_map(field):
        return _coerce(field.message_type, value)
    if field.type == FieldDescriptor.TYPE_BOOL and isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "1", ""):
            return True
        if lowered in ("false", "0"):
            return False
    return value


def _to_json(method: Method, reply: bytes) -> dict[str, Any]:
    return decode(method, reply)


def _serialize(handler: Any, data: bytes) -> Any:
    """The request as the handler takes it: its message class, or raw bytes (the proxy)."""
    return handler.request_deserializer(data) if handler.request_deserializer else data


def _reply_bytes(handler: Any, reply: Any) -> bytes:
    if handler.response_serializer is not None:
        return bytes(handler.response_serializer(reply))
    return bytes(reply)


async def _unary(handler: Any, message: bytes, context: GatewayContext, timeout: float) -> bytes:
    request = _serialize(handler, message)
    try:
        async with asyncio.timeout(timeout):
            if handler.unary_unary is not None:
                reply = await handler.unary_unary(request, context)
            else:  # the proxy serves streaming-capable handlers for unknown kinds
                replies = [r async for r in _behavior_stream(handler, request, context)]
                if len(replies) != 1:
                    raise errors.InternalServerError("the service sent no reply")
                reply = replies[0]
    except Aborted as aborted:
        raise _error(aborted) from None
    except TimeoutError:
        raise errors.Timeout(f"the call took longer than {timeout:g}s") from None
    failure = context.failure()
    if failure is not None:
        raise _error(failure)
    return _reply_bytes(handler, reply)


def _behavior_stream(handler: Any, request: Any, context: GatewayContext) -> AsyncIterator[Any]:
    if handler.unary_stream is not None:
        return handler.unary_stream(request, context)  # type: ignore[no-any-return]

    async def one() -> AsyncIterator[Any]:
        yield request

    return handler.stream_stream(one(), context)  # type: ignore[no-any-return]


def _peer(scope: Scope) -> str:
    host, port = scope.get("client") or ("", 0)
    return f"ipv4:{host}:{port}"


async def _frames(
    method: Method, handler: Any, receive: Receive, refused: list[errors.MicroError]
) -> AsyncIterator[Any]:
    """The requests a WebSocket client sends, as the handler takes them.

    A frame that is not a request ends them with a 400, also kept in ``refused``: a handler
    that reads them in a task of its own (the proxy's gRPC call to a node) sees only its
    call cancelled, and the socket must still be closed with the 400."""
    try:
        async for request in _requests(method, handler, receive):
            yield request
    except errors.MicroError as err:
        refused.append(err)
        raise


async def _requests(method: Method, handler: Any, receive: Receive) -> AsyncIterator[Any]:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            raise _Sent()
        if message["type"] != "websocket.receive":
            continue
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
        parsed = _json(text)
        if parsed is None:
            return
        if not isinstance(parsed, dict):
            raise errors.BadRequest("each request must be a JSON object")
        yield _serialize(handler, encode(method, parsed))


async def _socket_call(
    handler: Any, method: Method, requests: AsyncIterator[Any], context: GatewayContext, send: Send
) -> None:
    async def reply(item: Any) -> None:
        text = _dumps(_to_json(method, _reply_bytes(handler, item))).decode()
        await send({"type": "websocket.send", "text": text})

    if handler.unary_unary is not None or handler.unary_stream is not None:
        first = await anext(requests, None)
        if first is None:
            raise errors.BadRequest("no request was sent")
        if handler.unary_unary is not None:
            await reply(await handler.unary_unary(first, context))
        else:
            async for item in handler.unary_stream(first, context):
                await reply(item)
    elif handler.stream_unary is not None:
        await reply(await handler.stream_unary(requests, context))
    else:
        async for item in handler.stream_stream(requests, context):
            await reply(item)
    failure = context.failure()
    if failure is not None:
        raise failure


async def _close_with(send: Send, err: errors.MicroError) -> None:
    await send({"type": "websocket.send", "text": _dumps({"error": err.to_dict()}).decode()})
    code = 4000 + err.code if 400 <= err.code < 600 else 4500
    await send({"type": "websocket.close", "code": code, "reason": err.detail[:120]})


async def _until_disconnected(receive: Receive, stream: Awaitable[None]) -> None:
    """Run ``stream`` until it ends or the client goes away (then it is cancelled: a tail
    or watch the client left must not hold the server's resources)."""
    streaming = asyncio.ensure_future(stream)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait((streaming, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (streaming, watcher):
            task.cancel()
        for task in (streaming, watcher):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if watcher.done() and not watcher.cancelled() and not streaming.done():
        raise _Sent()  # the client left
    if not streaming.cancelled():
        streaming.result()


class _NDJSONResponse:
    """The HTTP response of a server stream: its status and headers sent once, when the
    stream is established (the handler's headers) or its first message comes."""

    def __init__(self, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        self._send = send
        self._cors = cors
        #: the status is sent (or being sent): an error can only be the stream's last line now
        self.committed = False
        self.started = asyncio.Event()  # set once the status and headers are sent

    async def start(self) -> None:
        if not self.committed:
            self.committed = True
            headers = [*self._cors, _NDJSON]
            await self._send({"type": "http.response.start", "status": 200, "headers": headers})
            self.started.set()

    async def line(self, data: Any) -> None:
        await self.start()
        await self._send({"type": "http.response.body", "body": _dumps(data) + b"\n", "more_body": True})

    async def end(self) -> None:
        await self.start()
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_started(response: _NDJSONResponse, stream: Awaitable[None]) -> None:
    """Run ``stream`` until its response has started (then it is cancelled and the response
    ended: a HEAD's answer), or it ends on its own."""
    streaming = asyncio.ensure_future(stream)
    started = asyncio.create_task(response.started.wait())
    try:
        await asyncio.wait((streaming, started), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (streaming, started):
            task.cancel()
        for task in (streaming, started):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not streaming.cancelled():
        streaming.result()  # ended (or failed) before it started: its own answer is sent
    await response.end()
    raise _Sent()


async def _server_stream(
    handler: Any,
    message: bytes,
    context: GatewayContext,
    method: Method,
    response: _NDJSONResponse,
) -> None:
    request = _serialize(handler, message)
    replies = _behavior_stream(handler, request, context)
    try:
        async for reply in replies:
            await response.line(_to_json(method, _reply_bytes(handler, reply)))
        failure = context.failure()
        if failure is not None:
            raise failure
    except Aborted as aborted:
        error = _error(aborted)
        if not response.committed:
            raise error from None
        # headers are gone: the error is the stream's last line
        await response.line({"error": error.to_dict()})
    finally:
        aclose = getattr(replies, "aclose", None)
        if aclose is not None:
            await aclose()
    await response.end()
    raise _Sent()


def _error(aborted: Aborted) -> errors.MicroError:
    """The error a handler's status stands for (its ``micro-error`` trailer when it has one)."""
    raw = metadata_value(aborted.trailers, ERROR_KEY)
    if raw:
        parsed = errors.from_json(raw)
        if parsed is not None:
            return parsed
    return errors.from_code(
        _CODE_FOR_STATUS.get(aborted.code, 500), aborted.details or aborted.code.name.lower()
    )


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})
