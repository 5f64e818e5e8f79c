"""Calling services: ``micro.client.call``, ``stream`` and typed stubs over ``channel``.

Services are resolved through the registry (on the server at ``MICRO_PROXY``, in the
namespace ``MICRO_NAMESPACE``), nodes are picked round robin and called directly; calls
carry ``micro-service``, ``micro-namespace`` and the service's credentials. Errors come back
as the :mod:`micro.errors` class the callee raised::

    reply = await micro.client.call("helloworld", "Helloworld.Call", pb.CallRequest(name="John"))
    async for reply in micro.client.stream("helloworld", "Helloworld.Stream", pb.StreamRequest(count=3)):
        ...
    stub = pb_grpc.HelloworldStub(micro.client.channel("helloworld"))
    reply = await stub.Call(pb.CallRequest(name="John"))

Channels are cached per running event loop and closed with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, TypeVar

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message

from micro import errors
from micro.client import _core
from micro.client._channel import DEFAULT_TIMEOUT, ServiceChannel
from micro.client._core import Metadata, Route, client
from micro.client._router import Deserializer, bounded_put
from micro.registry import Registry

__all__ = ["DEFAULT_TIMEOUT", "ServiceChannel", "call", "channel", "set_registry", "stream"]

M = TypeVar("M", bound=Message)


def channel(service: str) -> ServiceChannel:
    """A channel for generated stubs that reaches ``service`` through the registry."""
    return ServiceChannel(service)


def set_registry(registry: Registry | None) -> None:
    """Resolve services in ``registry`` instead of the server's (tests); None restores it."""
    _core.registry_override = registry


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _no_endpoint(service: str, endpoint: str) -> errors.MicroError:
    return errors.NotImplementedError_(f"endpoint {endpoint} not found for service {service}")


def _split(endpoint: str) -> tuple[str, str]:
    handler, dot, method = endpoint.rpartition(".")
    if not dot or not handler or not method:
        raise errors.BadRequest(f"invalid endpoint {endpoint!r}: expected Handler.Method")
    return handler, method


def _message_class(full_name: str, route: Route) -> type[Message]:
    try:
        desc = descriptor_pool.Default().FindMessageTypeByName(full_name)
    except KeyError:
        from micro.registry.schema import pool_from_descriptor_set

        found: Any = None
        for svc in route.services:
            if svc.descriptor_set:
                try:
                    found = pool_from_descriptor_set(svc.descriptor_set).FindMessageTypeByName(full_name)
                    break
                except KeyError:
                    continue
        if found is None:
            raise errors.InternalServerError(f"unknown message type {full_name}") from None
        desc = found
    cls: type[Message] = message_factory.GetMessageClass(desc)
    return cls


async def _resolve(
    c: _core.Client,
    service: str,
    endpoint: str,
    request_type: type[Message],
    response_type: type[Message] | None,
) -> tuple[str, Deserializer]:
    """The method path and response parser of ``service``'s ``endpoint`` (cached per loop)."""
    key = (service, endpoint, request_type, response_type)
    hit = c.cache.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    route = await c.route(service)
    ep = route.endpoints.get(endpoint)
    handler, method_name = _split(endpoint)
    package = request_type.DESCRIPTOR.file.package
    if ep is not None and ep.method:
        method = ep.method
    else:
        method = f"/{package}.{handler}/{method_name}" if package else f"/{handler}/{method_name}"
    if response_type is None:
        if ep is not None and ep.response_type:
            response_type = _message_class(ep.response_type, route)
        else:
            try:
                found = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
            except KeyError:
                raise _no_endpoint(service, endpoint) from None
            response_type = message_factory.GetMessageClass(found.output_type)
    resolved: tuple[str, Deserializer] = (method, response_type.FromString)
    bounded_put(c.cache, key, resolved)  # endpoint names are the caller's: bounded
    return resolved


async def call(
    service: str,
    endpoint: str,
    request: Message,
    *,
    response_type: type[M] | None = None,
    timeout: float | None = None,
    metadata: Metadata | None = None,
) -> Any:
    """Call ``service``'s unary ``endpoint`` ("Handler.Method") with a protobuf request.

    The response class comes from the registry's schema unless ``response_type`` is given;
    ``timeout`` defaults to :data:`DEFAULT_TIMEOUT` seconds.
    """
    c = client()
    request_type = type(request)
    hit = c.cache.get((service, endpoint, request_type, response_type))
    method, de = hit if hit is not None else await _resolve(c, service, endpoint, request_type, response_type)
    return await c.unary(
        "unary_unary",
        service,
        method,
        request,
        ser=_serialize,
        de=de,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        metadata=metadata,
    )


async def stream(
    service: str,
    endpoint: str,
    request: Message | AsyncIterable[Message] | Iterable[Message],
    *,
    response_type: type[M] | None = None,
    request_type: type[Message] | None = None,
    timeout: float | None = None,
    metadata: Metadata | None = None,
) -> AsyncIterator[Any]:
    """Responses of a streaming ``endpoint`` as they arrive.

    ``request`` is one message (server streaming) or an iterable / async iterable of
    messages (client streaming and bidi; pass ``request_type`` when it may be empty).
    """
    c = client()
    single = isinstance(request, Message)
    if single:
        req_type: type[Message] = type(request)  # type: ignore[assignment]
    elif request_type is not None:
        req_type = request_type
    else:
        route = await c.route(service)
        ep = route.endpoints.get(endpoint)
        if ep is None:
            raise _no_endpoint(service, endpoint)
        req_type = _message_class(ep.request_type, route)
    method, de = await _resolve(c, service, endpoint, req_type, response_type)
    async for item in c.stream(
        "unary_stream" if single else "stream_stream",
        service,
        method,
        request,
        ser=_serialize,
        de=de,
        timeout=timeout,
        metadata=metadata,
    ):
        yield item
