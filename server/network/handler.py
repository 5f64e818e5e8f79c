"""The network service's gRPC servicer: the namespace's services, nodes and merged routes.

Decisions:

* ``Routes`` asks every node of the namespace's services for ``debug.Debug/Stats`` at once,
  each with :data:`NODE_TIMEOUT`; a node that does not answer in time (or refuses) is listed
  in ``unanswered`` with the reason, and the others' counters are merged all the same. Nodes
  at one address are asked once, and replies from a process already counted (``process``:
  nodes served by one process report the same table) are taken once.
* The core services' nodes are not asked: on this server they are this process, whose
  routes (the proxy's and the gateway's counts) are read directly; run alone they count no
  routes. Their health is ``ok`` while they are registered (they re-register every beat).
* A ``service`` filter keeps the routes *to* that service, counted wherever they were:
  service-to-service calls are counted by the calling service's client, so every node of
  the namespace is still asked.
* Permissions: listing services is a registry read (public in ``micro``, else any account
  of the namespace); nodes and routes, which call every node, need an account of the
  namespace. All three are side-effect free (``option idempotency_level`` in the .proto).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import grpc

from micro import errors
from micro._grpc import CHANNEL_OPTIONS, NAMESPACE_KEY, SERVICE_KEY, from_rpc_error
from micro._routes import ROUTES, RouteStats, RouteTable, merge
from micro.proto.debug import debug_pb2
from micro.proto.network import network_pb2, network_pb2_grpc
from micro.registry import Node, Registry, Service
from server.auth import context as ctx
from server.auth.context import Permission, Policy
from server.debug import CORE_PACKAGES

if TYPE_CHECKING:
    from server.proxy import Forwarder

__all__ = ["NODE_TIMEOUT", "PERMISSIONS", "NetworkHandler"]

# how long one node may take to answer Stats or Health
NODE_TIMEOUT = 1.0


def _serialize(message: Any) -> bytes:
    return bytes(message.SerializeToString())


def _options_namespace(request: Any) -> str:
    return str(request.options.namespace)


PERMISSIONS = {
    "/network.Network/Services": Permission(Policy.READ, _options_namespace),
    "/network.Network/Nodes": Permission(Policy.ACCOUNT, _options_namespace),
    "/network.Network/Routes": Permission(Policy.ACCOUNT, _options_namespace),
}


def route_to_proto(stats: RouteStats) -> network_pb2.Route:
    return network_pb2.Route(
        service=stats.service,
        endpoint=stats.endpoint,
        calls=stats.requests,
        errors=stats.errors,
        p50_ms=round(stats.percentile(0.50), 3),
        p99_ms=round(stats.percentile(0.99), 3),
        buckets=stats.buckets,
    )


def _from_stats(reply: debug_pb2.StatsResponse) -> list[RouteStats]:
    return [
        RouteStats(r.service, r.endpoint, int(r.requests), int(r.errors), [int(b) for b in r.buckets])
        for r in reply.routes
    ]


def _why(exc: grpc.aio.AioRpcError) -> str:
    """What a node's failed answer reads as in the view (one line, no exception text)."""
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return "unreachable"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer within {NODE_TIMEOUT:g}s"
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return "does not answer debug.Debug"
    return f"error: {from_rpc_error(exc).detail}"


class NetworkHandler(network_pb2_grpc.NetworkServicer):
    """See the module docstring.

    Args:
        registry: what is registered where.
        routes: this process's route counters.
    """

    def __init__(self, registry: Registry, routes: RouteTable = ROUTES) -> None:
        self.registry = registry
        self.routes = routes
        self.proxy: Forwarder | None = None

    def attach(self, proxy: Forwarder) -> None:
        """Reach nodes over ``proxy``'s channels, with the call tokens it mints."""
        self.proxy = proxy

    # -- the RPCs -----------------------------------------------------------------------
    async def Services(
        self, request: network_pb2.ServicesRequest, context: Any
    ) -> network_pb2.ServicesResponse:
        namespace = ctx.namespace(context, request.options.namespace)
        found = await self.registry.list_services(domain=namespace)
        return network_pb2.ServicesResponse(services=sorted({s.name for s in found}))

    async def Nodes(self, request: network_pb2.NodesRequest, context: Any) -> network_pb2.NodesResponse:
        namespace = ctx.namespace(context, request.options.namespace)
        nodes = await self._nodes(namespace, request.service)
        statuses = await asyncio.gather(*(self._health(namespace, name, node) for name, node in nodes))
        return network_pb2.NodesResponse(
            nodes=[
                network_pb2.Node(id=node.id, address=node.address, service=name, status=status)
                for (name, node), status in zip(nodes, statuses, strict=True)
            ]
        )

    async def Routes(self, request: network_pb2.RoutesRequest, context: Any) -> network_pb2.RoutesResponse:
        namespace = ctx.namespace(context, request.options.namespace)
        if request.service:
            await self._nodes(namespace, request.service)  # an unknown service is NotFound
        asked: dict[str, tuple[str, Node]] = {}
        for name, node in await self._nodes(namespace, ""):
            if name not in CORE_PACKAGES:
                asked.setdefault(node.address, (name, node))
        replies = await asyncio.gather(*(self._stats(namespace, name, node) for name, node in asked.values()))
        tables = [self.routes.snapshot(namespace)]
        seen = {self.routes.process}
        unanswered = []
        for (name, node), reply in zip(asked.values(), replies, strict=True):
            if isinstance(reply, str):
                unanswered.append(
                    network_pb2.Node(id=node.id, address=node.address, service=name, status=reply)
                )
            elif reply.process not in seen:
                seen.add(reply.process)
                tables.append(_from_stats(reply))
        merged = merge(tables)
        if request.service:
            merged = [s for s in merged if s.service == request.service]
        return network_pb2.RoutesResponse(routes=[route_to_proto(s) for s in merged], unanswered=unanswered)

    # -- nodes --------------------------------------------------------------------------
    async def _nodes(self, namespace: str, service: str) -> list[tuple[str, Node]]:
        """(service name, node) of every node of ``service`` (every service when empty).

        Raises:
            NotFound: ``service`` is not registered in the namespace.
        """
        if service:
            try:
                versions: Iterable[Service] = await self.registry.get_service(service, domain=namespace)
            except errors.NotFound:
                versions = []
            if not versions:
                raise errors.NotFound(f'service "{service}" not found')
        else:
            versions = await self.registry.list_services(domain=namespace)
        found: dict[tuple[str, str], Node] = {}
        for version in versions:
            for node in version.nodes:
                found.setdefault((version.name, node.id), node)
        return [(name, found[(name, id)]) for name, id in sorted(found)]

    def _metadata(self, namespace: str, service: str) -> tuple[tuple[str, str], ...]:
        """What a call to a node of ``service`` carries: the namespace, the service and a call
        token the proxy mints for the caller (never the caller's own token)."""
        md = [(NAMESPACE_KEY, namespace), (SERVICE_KEY, service)]
        caller = ctx.current()
        mint = self.proxy.mint if self.proxy is not None else None
        if caller is not None and mint is not None:
            token = mint(caller, namespace, service)
            if token:
                md.append(("authorization", f"Bearer {token}"))
        return tuple(md)

    async def _ask(self, address: str, method: str, request: Any, response: type[Any], md: Any) -> Any:
        """A unary call of ``method`` on the node at ``address`` within :data:`NODE_TIMEOUT`."""
        if self.proxy is not None:
            call = self.proxy.router.callable("unary_unary", address, method, _serialize, response.FromString)
            return await call(request, metadata=md, timeout=NODE_TIMEOUT)
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as own:
            call = own.unary_unary(
                method, request_serializer=_serialize, response_deserializer=response.FromString
            )
            return await call(request, metadata=md, timeout=NODE_TIMEOUT)

    async def _stats(self, namespace: str, service: str, node: Node) -> debug_pb2.StatsResponse | str:
        """The node's Stats, or why there are none."""
        try:
            reply: debug_pb2.StatsResponse = await self._ask(
                node.address,
                "/debug.Debug/Stats",
                debug_pb2.StatsRequest(service=service),
                debug_pb2.StatsResponse,
                self._metadata(namespace, service),
            )
        except grpc.aio.AioRpcError as exc:
            return _why(exc)
        return reply

    async def _health(self, namespace: str, service: str, node: Node) -> str:
        """``ok``, or what is wrong with the node (core services' nodes: see the module)."""
        if service in CORE_PACKAGES:
            return "ok"
        try:
            reply = await self._ask(
                node.address,
                "/debug.Debug/Health",
                debug_pb2.HealthRequest(service=service),
                debug_pb2.HealthResponse,
                self._metadata(namespace, service),
            )
        except grpc.aio.AioRpcError as exc:
            return _why(exc)
        return str(reply.status) or "unknown"
