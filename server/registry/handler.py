"""The registry service's gRPC servicer: protobuf ⇄ domain and input validation, nothing else.

Errors are raised as :class:`~micro.errors.MicroError`; the server's ErrorInterceptor turns
them into gRPC status codes with the ``micro-error`` trailer.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from micro import errors
from micro.proto.registry import registry_pb2, registry_pb2_grpc
from micro.registry import DEFAULT_DOMAIN, DEFAULT_TTL, RESERVED_NAMES, Registry, Service
from micro.registry._convert import node_from_proto, result_to_proto, service_from_proto, service_to_proto
from micro.settings import limits
from server.auth import context as ctx
from server.auth.context import Permission, Policy
from server.limits import WATCHES, check_length, check_metadata

__all__ = ["OWNER_KEY", "PERMISSIONS", "RegistryHandler", "valid_name"]

# node metadata naming the account that registered the node (``<namespace>/<id>``)
OWNER_KEY = "registered-by"


def _options_domain(request: Any) -> str:
    return str(request.options.domain)


# reads of micro are public, other domains need an account of the namespace; writes need an
# admin or a service account (and the handler holds them to the service's owner)
PERMISSIONS = {
    "/registry.Registry/GetService": Permission(Policy.READ, _options_domain),
    "/registry.Registry/ListServices": Permission(Policy.READ, _options_domain),
    "/registry.Registry/Watch": Permission(Policy.READ, _options_domain),
    "/registry.Registry/Register": Permission(Policy.ADMIN_OR_SERVICE, _options_domain),
    "/registry.Registry/Deregister": Permission(Policy.ADMIN_OR_SERVICE, _options_domain),
}

# lower-case words joined by dashes or dots ("helloworld", "user-api", v3's "go.micro.api")
_NAME = re.compile(r"[a-z][a-z0-9.-]{0,254}")


def valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def _check_reserved(service: Service, domain: str) -> None:
    """Core services register in-process, or over the wire when one runs alone (``micro
    service store``) with the credentials of a ``micro`` admin, in ``micro``; nobody else
    registers or removes them (a node registered as ``store`` would take calls meant for the
    store)."""
    if service.name in RESERVED_NAMES and not (
        domain == DEFAULT_DOMAIN and ctx.is_micro_admin(ctx.account())
    ):
        raise errors.Forbidden(f"service name {service.name!r} is reserved for the core service")


def _check_service(service: Service, domain: str) -> None:
    _check_reserved(service, domain)
    if not valid_name(service.name):
        raise errors.BadRequest(
            f"invalid service name {service.name!r}: use lower-case letters, digits, '-' and '.',"
            " starting with a letter"
        )
    if not service.nodes:
        raise errors.BadRequest("a service needs at least one node")
    for node in service.nodes:
        if not node.id:
            raise errors.BadRequest("node id is required")
        if not node.address:
            raise errors.BadRequest(f"node {node.id} has no address")


def _check_owner(name: str, domain: str) -> str:
    """Only an admin of the namespace or a service account bound to ``name`` registers,
    replaces or removes nodes of ``name``: another service's account could otherwise take
    the calls (and tokens) meant for it. Returns who the caller is (``<namespace>/<id>``;
    "" without auth)."""
    account = ctx.account()
    if account is None:
        return ""
    bound = account.type == "service" and account.service == name
    if not (ctx.is_micro_admin(account) or (account.is_admin and account.issuer == domain) or bound):
        raise errors.Forbidden(
            f"only an admin or a service account bound to {name} may register or deregister it"
        )
    return f"{account.issuer}/{account.id}"


def _check_size(request: registry_pb2.Service) -> None:
    """Refuse a registration past the limits before any work is done on it: what one
    registration may hold bounds the memory it takes and the time the loop spends on it."""
    lim = limits()
    check_length("service name", request.name)
    check_length("version", request.version)
    check_metadata("service metadata", request.metadata)
    if len(request.descriptor_set) > lim.descriptor_bytes:
        raise errors.TooLarge(
            f"descriptor set too large: {len(request.descriptor_set)} bytes (limit {lim.descriptor_bytes})"
        )
    if len(request.nodes) > lim.nodes:
        raise errors.TooLarge(f"too many nodes: {len(request.nodes)} (limit {lim.nodes})")
    for node in request.nodes:
        check_length("node id", node.id)
        check_length("node address", node.address)
        check_metadata(f"metadata of node {node.id}", node.metadata)
    if len(request.endpoints) > lim.endpoints:
        raise errors.TooLarge(f"too many endpoints: {len(request.endpoints)} (limit {lim.endpoints})")
    budget = lim.schema_values
    for endpoint in request.endpoints:
        check_length("endpoint name", endpoint.name)
        check_length("endpoint method", endpoint.method)
        check_length("request type", endpoint.request_type)
        check_length("response type", endpoint.response_type)
        check_metadata(f"metadata of endpoint {endpoint.name}", endpoint.metadata)
        for tree in (endpoint.request, endpoint.response):
            budget = _count_values(tree, budget)
            if budget < 0:
                raise errors.TooLarge(
                    f"endpoint schemas too large: more than {lim.schema_values} values"
                    f" (limit {lim.schema_values})"
                )


def _count_values(tree: registry_pb2.Value, budget: int) -> int:
    """``budget`` less the values of ``tree``; stops below zero, so the walk is bounded."""
    stack = [tree]
    while stack and budget >= 0:
        value = stack.pop()
        budget -= 1
        check_length("schema field name", value.name)
        check_length("schema field type", value.type)
        stack.extend(value.values)
    return budget


def _checked(request: registry_pb2.Service) -> Service:
    """The service ``request`` registers, once it is within the limits."""
    _check_size(request)
    return service_from_proto(request)


# endpoints past which a service is converted in a worker thread rather than on the loop
_CONVERT_INLINE = 50


_T = TypeVar("_T")


async def _off_loop_if_large(endpoints: int, convert: Callable[[], _T]) -> _T:
    """``convert()``, in a worker thread when the service has many endpoints: the largest
    registration holds tens of thousands of schema values, whose conversion would stall
    every other caller for a good part of a second."""
    if endpoints <= _CONVERT_INLINE:
        return convert()
    return await asyncio.to_thread(convert)


class RegistryHandler(registry_pb2_grpc.RegistryServicer):
    """Serves :class:`~micro.registry.Registry` ``registry`` as the ``registry.Registry`` service."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _domain(self, context: Any, requested: str) -> str:
        """The domain a call works on: the namespace the call acts in (the requested domain,
        else the caller's namespace; checked by the call boundary)."""
        return ctx.namespace(context, requested)

    async def GetService(self, request: registry_pb2.GetRequest, context: Any) -> registry_pb2.GetResponse:
        check_length("service name", request.service)
        domain = self._domain(context, request.options.domain)
        services = await self.registry.get_service(request.service, domain=domain)
        return await _off_loop_if_large(
            sum(len(s.endpoints) for s in services),
            lambda: registry_pb2.GetResponse(services=[service_to_proto(s) for s in services]),
        )

    async def Register(self, request: registry_pb2.Service, context: Any) -> registry_pb2.EmptyResponse:
        domain = self._domain(context, request.options.domain)
        if request.options.ttl < 0:
            raise errors.BadRequest("ttl must not be negative")
        max_ttl = limits().registry_ttl
        if request.options.ttl > max_ttl:
            raise errors.BadRequest(f"ttl too long: {request.options.ttl} seconds (limit {max_ttl})")
        service = await _off_loop_if_large(len(request.endpoints), lambda: _checked(request))
        _check_service(service, domain)
        owner = _check_owner(service.name, domain)
        for node in service.nodes:
            node.metadata.pop(OWNER_KEY, None)
            if owner:
                node.metadata[OWNER_KEY] = owner
        ttl = float(request.options.ttl) if request.options.ttl else DEFAULT_TTL
        await self.registry.register(service, ttl=ttl, domain=domain)
        return registry_pb2.EmptyResponse()

    async def Deregister(self, request: registry_pb2.Service, context: Any) -> registry_pb2.EmptyResponse:
        domain = self._domain(context, request.options.domain)
        check_length("service name", request.name)
        check_length("version", request.version)
        if len(request.nodes) > limits().nodes:
            raise errors.TooLarge(f"too many nodes: {len(request.nodes)} (limit {limits().nodes})")
        # what a deregistration names: its endpoints and schemas are not looked at
        service = Service(
            name=request.name,
            version=request.version or "latest",
            nodes=[node_from_proto(n) for n in request.nodes],
        )
        _check_reserved(service, domain)
        _check_owner(service.name, domain)
        await self.registry.deregister(service, domain=domain)
        return registry_pb2.EmptyResponse()

    async def ListServices(
        self, request: registry_pb2.ListRequest, context: Any
    ) -> registry_pb2.ListResponse:
        """Every service version of the domain with its metadata and nodes, without endpoints
        or descriptor sets (GetService has those): the reply stays small however large the
        registrations are, so nobody's registrations can make listing fail for the others."""
        domain = self._domain(context, request.options.domain)
        services = await self.registry.list_services(domain=domain)
        return registry_pb2.ListResponse(
            services=[
                service_to_proto(Service(name=s.name, version=s.version, metadata=s.metadata, nodes=s.nodes))
                for s in services
            ]
        )

    async def Watch(
        self, request: registry_pb2.WatchRequest, context: Any
    ) -> AsyncIterator[registry_pb2.Result]:
        """Stream changes until the client cancels (which cancels this generator)."""
        check_length("service name", request.service)
        domain = self._domain(context, request.options.domain)
        with WATCHES.hold(context):
            watcher = self.registry.watch(service=request.service, domain=domain)
            try:
                ready = getattr(watcher, "ready", None)
                if ready is not None:
                    await ready()
                # initial metadata tells the client it is subscribed (GrpcWatcher.ready)
                await context.send_initial_metadata(())
                async for result in watcher:
                    yield await _off_loop_if_large(
                        len(result.service.endpoints), functools.partial(result_to_proto, result)
                    )
            finally:
                aclose = getattr(watcher, "aclose", None)
                if aclose is not None:
                    await aclose()
