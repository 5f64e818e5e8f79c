"""The network service over gRPC: the CLI's client of ``network.Network``."""

from __future__ import annotations

from micro._grpc import call_metadata
from micro._grpc_client import GrpcClient
from micro.network import NodeStatus, Route
from micro.proto.network import network_pb2, network_pb2_grpc

__all__ = ["GrpcNetwork"]

SERVICE = "network"


class GrpcNetwork(GrpcClient):
    """The namespace's services, nodes and routes, from the network service at ``address``."""

    def _md(self) -> tuple[tuple[str, str], ...]:
        return call_metadata(namespace=self.namespace, token=self._token, service=SERVICE)

    async def services(self) -> list[str]:
        reply = await self._call(
            network_pb2_grpc.NetworkStub, "Services", network_pb2.ServicesRequest(), metadata=self._md()
        )
        return list(reply.services)

    async def nodes(self, service: str = "") -> list[NodeStatus]:
        request = network_pb2.NodesRequest(service=service)
        reply = await self._call(network_pb2_grpc.NetworkStub, "Nodes", request, metadata=self._md())
        return [NodeStatus(n.id, n.address, n.service, n.status) for n in reply.nodes]

    async def routes(self, service: str = "") -> tuple[list[Route], list[NodeStatus]]:
        """The merged routes, and the nodes whose counters are missing (with why)."""
        request = network_pb2.RoutesRequest(service=service)
        reply = await self._call(network_pb2_grpc.NetworkStub, "Routes", request, metadata=self._md())
        routes = [
            Route(r.service, r.endpoint, int(r.calls), int(r.errors), r.p50_ms, r.p99_ms)
            for r in reply.routes
        ]
        missing = [NodeStatus(n.id, n.address, n.service, n.status) for n in reply.unanswered]
        return routes, missing
