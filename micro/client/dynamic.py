"""Dynamic calls: JSON in, JSON out, for any registered service, with no stubs.

A service registers, per endpoint, its method path, message type names and streaming kind,
plus the serialized ``FileDescriptorSet`` of its protos. A :class:`Schema` rebuilds one
descriptor pool per service *version* from that set (two versions may register different
schemas under the same file names), :func:`encode` and :func:`decode` turn JSON into request
bytes and response bytes into proto3 JSON (``.proto`` field names, default values included,
int64 as strings), and :func:`call` / :func:`stream` make the call as raw bytes through the
proxy. Used by the CLI, the HTTP gateway and the workspace.

A ``guard`` given to :func:`call` / :func:`stream` sees the endpoint before anything is sent
and raises to refuse it: a read-only environment lets through only endpoints marked
side-effect free (:func:`micro.environment.refuse_unless_side_effect_free`).

Schemas are cached per service version in ``MICRO_HOME/cache`` (:class:`Schemas`), so a
repeated command does not fetch them again; a cached schema that no longer fits (an unknown
endpoint, request field or response field) is refreshed from the registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message

from micro import errors
from micro.registry import Endpoint, Service, Streaming

__all__ = [
    "Guard",
    "InvalidMethodName",
    "Method",
    "Schema",
    "Schemas",
    "call",
    "decode",
    "dumps",
    "encode",
    "find_endpoint",
    "invoke",
    "invoke_stream",
    "stream",
]

log = logging.getLogger(__name__)

_ENDPOINT_KEY = "micro-endpoint"
# how long a cached schema is trusted before the registry is asked again (seconds)
CACHE_SECONDS = 600.0

# sees the endpoint of a call before anything is sent; raises a MicroError to refuse it
Guard = Callable[[Endpoint], None]


class InvalidMethodName(errors.BadRequest):
    """An endpoint name that is not ``Handler.Method``."""

    def __init__(self, name: str) -> None:
        super().__init__(f'Method name "{name}" invalid format. Expecting service.endpoint')
        self.name = name


def service_not_found(service: str) -> errors.MicroError:
    return errors.NotImplementedError_(f'Service "{service}" not found')


def endpoint_not_found(service: str, endpoint: str) -> errors.MicroError:
    return errors.NotImplementedError_(f"Endpoint {endpoint} not found for service {service}")


@dataclass(frozen=True, slots=True)
class Method:
    """One callable endpoint of one service version, with its message classes."""

    service: str
    version: str
    endpoint: Endpoint
    request: type[Message]
    response: type[Message]

    @property
    def name(self) -> str:
        """``Handler.Method``."""
        return self.endpoint.name

    @property
    def path(self) -> str:
        """``/package.Handler/Method``."""
        return self.endpoint.method

    @property
    def streaming(self) -> Streaming:
        return self.endpoint.streaming

    @property
    def request_descriptor(self) -> Descriptor:
        return self.request.DESCRIPTOR  # type: ignore[return-value]


class Schema:
    """The schema of one service version: its endpoints and a descriptor pool of its protos."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._pool: DescriptorPool | None = None
        self._methods: dict[str, Method] = {}

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def version(self) -> str:
        return self.service.version

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.service.endpoints

    @property
    def pool(self) -> DescriptorPool:
        if self._pool is None:
            from micro.registry.schema import pool_from_descriptor_set

            self._pool = pool_from_descriptor_set(self.service.descriptor_set)
        return self._pool

    def endpoint(self, name: str) -> Endpoint | None:
        """The endpoint ``Handler.Method`` (or its path ``/pkg.Handler/Method``), else None."""
        for endpoint in self.service.endpoints:
            if name in (endpoint.name, endpoint.method):
                return endpoint
        return None

    def message_class(self, full_name: str) -> type[Message]:
        try:
            descriptor = self.pool.FindMessageTypeByName(full_name)
        except KeyError as exc:
            raise errors.InternalServerError(
                f"service {self.name} registered no schema for {full_name}"
            ) from exc
        return message_factory.GetMessageClass(descriptor)

    def method(self, name: str) -> Method:
        """The callable endpoint ``name``; ``Endpoint X not found for service Y`` otherwise."""
        found = self._methods.get(name)
        if found is not None:
            return found
        endpoint = self.endpoint(name)
        if endpoint is None:
            raise endpoint_not_found(self.name, name)
        method = Method(
            service=self.name,
            version=self.version,
            endpoint=endpoint,
            request=self.message_class(endpoint.request_type),
            response=self.message_class(endpoint.response_type),
        )
        self._methods[name] = method
        return method


def check_method_name(name: str) -> None:
    """Refuse an endpoint name that is neither ``Handler.Method`` nor a method path."""
    if name.startswith("/"):
        service, _, method = name[1:].partition("/")
        if service and method and "/" not in method:
            return
    else:
        parts = name.split(".")
        if len(parts) == 2 and all(parts):
            return
    raise InvalidMethodName(name)


def find_endpoint(schemas: Sequence[Schema], name: str, *, service: str = "") -> Method:
    """The endpoint ``name`` (``Handler.Method``) in the first version that has it."""
    check_method_name(name)
    for schema in schemas:
        if schema.endpoint(name) is not None:
            return schema.method(name)
    raise endpoint_not_found(service or (schemas[0].name if schemas else "?"), name)


def encode(method: Method, json_text: str | Mapping[str, Any]) -> bytes:
    """The request bytes for ``json_text`` (a JSON object, as text or already parsed).

    Raises:
        micro.errors.BadRequest: ``Error creating request: …`` naming the field or position.
    """
    message = method.request()
    if isinstance(json_text, str) and json_text.strip()[:1] not in ("", "{"):
        raise errors.BadRequest("Error creating request: the request must be a JSON object")
    try:
        if isinstance(json_text, str):
            json_format.Parse(json_text if json_text.strip() else "{}", message)
        else:
            json_format.ParseDict(dict(json_text), message)
    except json_format.ParseError as exc:
        raise errors.BadRequest(f"Error creating request: {_parse_detail(exc)}") from exc
    return message.SerializeToString()


def _parse_detail(exc: Exception) -> str:
    detail = str(exc)
    # protobuf prefixes its messages with "Failed to parse <field> field: "; keep the reason
    return " ".join(detail.replace("Failed to load JSON: ", "").split())  # one line


def decode(method: Method, data: bytes) -> dict[str, Any]:
    """A response as proto3 JSON data: ``.proto`` field names, defaults included, int64 as str."""
    message = _parse(method.response, data)
    return _to_dict(message)


def _parse(cls: type[Message], data: bytes) -> Message:
    message = cls()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise errors.InternalServerError(f"cannot decode {cls.DESCRIPTOR.full_name}: {exc}") from exc
    return message


def _to_dict(message: Message) -> dict[str, Any]:
    data = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    ordered: dict[str, Any] = _in_proto_order(message.DESCRIPTOR, data)  # type: ignore[arg-type]
    return ordered


def _in_proto_order(descriptor: Descriptor, data: Any) -> Any:
    """``data`` (a message's JSON) with its keys in the .proto's field order, as Go's
    protojson prints them (MessageToDict puts the fields that are set first, defaults after)."""
    if not isinstance(data, dict) or descriptor.full_name.startswith("google.protobuf."):
        return data  # well-known types have JSON forms of their own
    ordered: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            values = sub.fields_by_name["value"].message_type
            if values is not None and isinstance(value, dict):
                value = {k: _in_proto_order(values, v) for k, v in value.items()}
        elif sub is not None and field.is_repeated and isinstance(value, list):
            value = [_in_proto_order(sub, item) for item in value]
        elif sub is not None:
            value = _in_proto_order(sub, value)
        ordered[field.name] = value
    for key, value in data.items():  # extensions and anything else, as they came
        ordered.setdefault(key, value)
    return ordered


def has_unknown_fields(method: Method, data: bytes) -> bool:
    """Whether ``data`` holds fields the response schema does not know (a stale schema)."""
    from google.protobuf.unknown_fields import UnknownFieldSet

    message = _parse(method.response, data)
    return _unknown(message, UnknownFieldSet)


def _unknown(message: Message, unknown_set: Any) -> bool:
    if len(unknown_set(message)):
        return True
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = value.values() if field.message_type.fields_by_name["value"].message_type else []
        elif field.is_repeated:
            items = value
        else:
            items = [value]
        if any(_unknown(item, unknown_set) for item in items):
            return True
    return False


def dumps(data: Any, *, compact: bool = False) -> str:
    """JSON as the CLI prints it: 2-space indent, or one compact line (NDJSON)."""
    if compact:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(data, indent=2, ensure_ascii=False)


# --- schemas from the registry, cached per service version ------------------------------


class Schemas:
    """Service schemas from ``MICRO_HOME/cache``, else the registry at ``address``.

    Args:
        address: the micro server (its registry).
        namespace: the caller's namespace (the registry's domain).
        token: an access token for the registry.
        cache: keep schemas in ``MICRO_HOME/cache`` between processes.
    """

    def __init__(
        self, address: str, *, namespace: str = "", token: str | None = None, cache: bool = True
    ) -> None:
        self.address = address
        self.namespace = namespace
        self.token = token
        self._use_cache = cache
        self._memory: dict[tuple[str, str], tuple[list[Schema], bool]] = {}
        self._registry: Any = None

    def _cache(self) -> Any:
        from diskcache import Cache  # type: ignore[import-untyped]

        from micro import _paths

        return Cache(str(_paths.cache_dir() / "schemas"))

    def _index_key(self, service: str, domain: str) -> str:
        where = hashlib.sha256(self.address.encode()).hexdigest()[:12]
        return f"{where}/{domain or self.namespace or 'micro'}/{service}"

    def _registry_client(self) -> Any:
        if self._registry is None:
            from micro.registry.grpc import GrpcRegistry

            self._registry = GrpcRegistry(self.address, namespace=self.namespace, token=self.token)
        return self._registry

    async def close(self) -> None:
        if self._registry is not None:
            await self._registry.close()
            self._registry = None

    def cached(self, service: str, *, domain: str = "") -> list[Schema] | None:
        """The cached schemas of every version of ``service``, or None."""
        if not self._use_cache:
            return None
        from micro.proto.registry import registry_pb2
        from micro.registry._convert import service_from_proto

        try:
            with self._cache() as cache:
                keys = cache.get(self._index_key(service, domain))
                if not isinstance(keys, list):
                    return None
                schemas = []
                for key in keys:
                    raw = cache.get(key)
                    if not isinstance(raw, bytes):
                        return None
                    schemas.append(Schema(service_from_proto(registry_pb2.Service.FromString(raw))))
        except Exception:  # a broken cache is only a slower start
            log.debug("schema cache unreadable", exc_info=True)
            return None
        return schemas or None

    def _store(self, service: str, domain: str, versions: list[Service]) -> None:
        if not self._use_cache:
            return
        from dataclasses import replace

        from micro.registry._convert import service_to_proto

        try:
            with self._cache() as cache:
                keys = []
                for version in versions:
                    raw = service_to_proto(replace(version, nodes=[])).SerializeToString()
                    digest = hashlib.sha256(raw).hexdigest()[:16]
                    key = f"{self._index_key(service, domain)}/{version.version}/{digest}"
                    cache.set(key, raw, expire=CACHE_SECONDS * 6)
                    keys.append(key)
                cache.set(self._index_key(service, domain), keys, expire=CACHE_SECONDS)
        except Exception:
            log.debug("schema cache not writable", exc_info=True)

    async def fetch(self, service: str, *, domain: str = "") -> list[Service]:
        """Every registered version of ``service`` (nodes included), from the registry.

        Raises:
            micro.errors.NotImplementedError_: ``Service "X" not found``.
        """
        try:
            found: list[Service] = await self._registry_client().get_service(service, domain=domain)
        except errors.NotFound as exc:
            raise service_not_found(service) from exc
        if not found:
            raise service_not_found(service)
        self._store(service, domain, found)
        self._memory[(service, domain)] = ([Schema(s) for s in found], True)
        return found

    async def get(self, service: str, *, domain: str = "", refresh: bool = False) -> list[Schema]:
        """The schemas of every version of ``service``, cached unless ``refresh``."""
        if not refresh:
            held = self._memory.get((service, domain))
            if held is not None:
                return held[0]
            cached = self.cached(service, domain=domain)
            if cached is not None:
                self._memory[(service, domain)] = (cached, False)
                return cached
        await self.fetch(service, domain=domain)
        return self._memory[(service, domain)][0]

    def is_fresh(self, service: str, *, domain: str = "") -> bool:
        """Whether the schemas held for ``service`` came from the registry in this process."""
        held = self._memory.get((service, domain))
        return held is not None and held[1]

    async def method(self, service: str, endpoint: str, *, domain: str = "") -> Method:
        """The endpoint ``Handler.Method`` of ``service``; a cached miss asks the registry."""
        check_method_name(endpoint)
        schemas = await self.get(service, domain=domain)
        try:
            return find_endpoint(schemas, endpoint, service=service)
        except errors.NotImplementedError_:
            if self.is_fresh(service, domain=domain):
                raise
        return find_endpoint(await self.get(service, domain=domain, refresh=True), endpoint, service=service)


# --- raw-bytes calls through the proxy --------------------------------------------------


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
) -> bytes:
    """One unary call of ``method`` with request bytes; returns the response bytes."""
    from micro._grpc import rpc_errors

    call = channel.unary_unary(method.path)
    md = _metadata(method, namespace=namespace, token=token, metadata=metadata)
    try:
        with rpc_errors(address):
            response: bytes = await call(request, metadata=md, timeout=timeout)
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
            async for item in call:
                yield item
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
) -> dict[str, Any]:
    """Call ``service``'s unary ``endpoint`` with a JSON request; returns the JSON response.

    The call goes through the server at ``address`` (its proxy) unless ``node`` names a node
    address to call directly. ``domain`` is the registry namespace holding the service
    (default: the caller's); the call is routed there (``micro-namespace``). ``guard`` may
    refuse the endpoint before anything is sent.
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
                token=token, metadata=metadata, timeout=timeout,
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
) -> AsyncIterator[dict[str, Any]]:
    """Call a streaming ``endpoint``; yields each JSON response as it arrives.

    For a client or bidi stream, ``requests`` (JSON objects, as text or parsed) are sent
    one by one as they come, and the sending side is closed when they end; without it,
    ``request`` is the only message. ``guard`` may refuse the endpoint before anything is
    sent.
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
            ):  # fmt: skip
                yield await _decoded(schemas, method, data, domain)
    finally:
        if own:
            await schemas.close()


async def _encoded(method: Method, requests: AsyncIterable[str | Mapping[str, Any]]) -> AsyncIterator[bytes]:
    async for request in requests:
        yield encode(method, request)
