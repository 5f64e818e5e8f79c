"""The network service against a real in-process server (auth on) and raw gRPC nodes whose
``Debug.Stats`` says exactly what the test wants: merging nodes' counters with the proxy's,
one process counted once, nodes that do not answer reported, namespaces kept apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from micro import errors
from micro._grpc import from_rpc_error
from micro._routes import BUCKETS, ROUTES
from micro.auth.grpc import GrpcAuth
from micro.proto.debug import debug_pb2
from micro.proto.network import network_pb2, network_pb2_grpc
from micro.registry import Endpoint, Node, Service, Streaming
from micro.registry.grpc import GrpcRegistry
from server.network import handler
from tests.e2e.conftest import free_port


@dataclass
class Net:
    address: str
    tokens: dict[str, str]
    channel: grpc.aio.Channel
    seen: list[dict[str, str]]  # the metadata of each Stats call the nodes got


def _bytes(data: bytes) -> bytes:
    return data


async def _node(
    stats: Callable[[dict[str, str]], Awaitable[debug_pb2.StatsResponse]],
) -> tuple[grpc.aio.Server, str]:
    """A node of ``echo.Echo/Call`` (b"fail" fails) that answers Stats with ``stats(metadata)``."""

    async def call(request: bytes, context: Any) -> bytes:
        if request == b"fail":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        return b"ok"

    async def stats_call(request: bytes, context: Any) -> bytes:
        reply = await stats(dict(context.invocation_metadata()))
        return bytes(reply.SerializeToString())

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "echo.Echo", {"Call": grpc.unary_unary_rpc_method_handler(call, _bytes, _bytes)}
            ),
            grpc.method_handlers_generic_handler(
                "debug.Debug", {"Stats": grpc.unary_unary_rpc_method_handler(stats_call, _bytes, _bytes)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


def _reply(process: str, requests: int, errors_: int = 0) -> debug_pb2.StatsResponse:
    buckets = [0] * BUCKETS
    buckets[20] = requests  # ~0.8 ms
    route = debug_pb2.RouteStats(
        service="echo", endpoint="Echo.Call", requests=requests, errors=errors_, buckets=buckets
    )
    return debug_pb2.StatsResponse(process=process, routes=[route])


@pytest.fixture
async def net(micro_home: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Net]:
    from server.app import Server

    monkeypatch.setattr(handler, "NODE_TIMEOUT", 0.3)  # the silent node holds every Routes call
    ROUTES.clear()
    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test", auth=True)
    await srv.start()
    address = srv.bound_address
    login = GrpcAuth(address)
    madmin = (await login.token(id="admin", secret="micro", namespace="micro")).access_token
    admin = GrpcAuth(address, token=madmin)
    for ns in ("alpha", "beta"):
        await admin.create_namespace(ns)
        await admin.generate("user", secret="pw", namespace=ns)
    tokens = {
        ns: (await login.token(id="user", secret="pw", namespace=ns)).access_token for ns in ("alpha", "beta")
    }
    seen: list[dict[str, str]] = []

    async def counted(md: dict[str, str]) -> debug_pb2.StatsResponse:
        seen.append(md)
        return _reply("p1", 3, 1)

    async def silent(md: dict[str, str]) -> debug_pb2.StatsResponse:
        await asyncio.sleep(30)
        raise AssertionError("never answers")

    nodes = [await _node(counted), await _node(counted), await _node(silent)]
    registry = GrpcRegistry(address, token=madmin)
    endpoint = Endpoint("Echo.Call", method="/echo.Echo/Call", streaming=Streaming.UNARY)
    # two nodes of echo in one process (the same counters, "p1"), a node that never answers
    # and one that is gone, all in alpha; beta has an echo of its own
    entries = [
        ("alpha", "echo", Node("echo-1", nodes[0][1])),
        ("alpha", "echo", Node("echo-2", nodes[1][1])),
        ("alpha", "mute", Node("mute-1", nodes[2][1])),
        ("alpha", "gone", Node("gone-1", f"127.0.0.1:{free_port()}")),
        ("beta", "echo", Node("echo-b", nodes[0][1])),
    ]
    for ns, name, node in entries:
        await registry.register(Service(name, endpoints=[endpoint], nodes=[node]), domain=ns)
    await registry.close()
    await admin.close()
    await login.close()
    channel = grpc.aio.insecure_channel(address)
    try:
        yield Net(address, tokens, channel, seen)
    finally:
        await channel.close()
        for node, _ in nodes:
            await node.stop(0)
        await srv.stop(grace=0)
        ROUTES.clear()


async def _echo(net: Net, namespace: str, body: bytes = b"") -> str:
    call = net.channel.unary_unary("/echo.Echo/Call", request_serializer=_bytes, response_deserializer=_bytes)
    md = (("authorization", f"Bearer {net.tokens[namespace]}"),)
    try:
        await call(body, metadata=md, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return str(from_rpc_error(exc).code)
    return "ok"


async def _routes(net: Net, namespace: str, service: str = "") -> network_pb2.RoutesResponse:
    md = (("authorization", f"Bearer {net.tokens[namespace]}"),)
    stub = network_pb2_grpc.NetworkStub(net.channel)
    reply: network_pb2.RoutesResponse = await stub.Routes(
        network_pb2.RoutesRequest(service=service), metadata=md, timeout=10
    )
    return reply


async def test_routes_merge_the_proxys_counts_with_each_process_once(net: Net) -> None:
    assert [await _echo(net, "alpha") for _ in range(4)] == ["ok"] * 4
    assert await _echo(net, "alpha", b"fail") == "404"
    reply = await _routes(net, "alpha")
    [echo] = [(r.service, r.endpoint, r.calls, r.errors) for r in reply.routes]
    # the proxy's 5 (one failed) and the node process's 3 (one failed), taken once for two nodes
    assert echo == ("echo", "Echo.Call", 8, 2)
    route = reply.routes[0]
    assert sum(route.buckets) == 8 and route.buckets[20] >= 3
    assert 0 < route.p50_ms <= route.p99_ms
    # the nodes got a call token minted for echo in alpha, never the caller's own
    assert net.seen and all(md["micro-namespace"] == "alpha" for md in net.seen)
    assert all(md["authorization"] != f"Bearer {net.tokens['alpha']}" for md in net.seen)


async def test_a_node_that_does_not_answer_is_reported_not_fatal(net: Net) -> None:
    reply = await _routes(net, "alpha")
    unanswered = sorted((n.service, n.id, n.status) for n in reply.unanswered)
    assert unanswered == [
        ("gone", "gone-1", "unreachable"),
        ("mute", "mute-1", "no answer within 0.3s"),
    ]
    assert [r.calls for r in reply.routes] == [3]  # the answering process's counts are there


async def test_a_namespace_sees_only_its_own_routes(net: Net) -> None:
    assert await _echo(net, "alpha") == "ok"
    beta = await _routes(net, "beta")
    # beta's echo node is the same process, asked in beta: it reports what it reports, but the
    # proxy's alpha call is not among beta's routes
    assert [(r.service, r.calls) for r in beta.routes] == [("echo", 3)]
    alpha = await _routes(net, "alpha")
    assert [(r.service, r.calls) for r in alpha.routes] == [("echo", 4)]


async def test_a_service_filter_keeps_the_routes_to_it(net: Net) -> None:
    assert [r.service for r in (await _routes(net, "alpha", "echo")).routes] == ["echo"]
    assert list((await _routes(net, "alpha", "mute")).routes) == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _routes(net, "alpha", "nosuch")
    assert isinstance(from_rpc_error(caught.value), errors.NotFound)


async def test_services_and_nodes_list_the_namespace(net: Net) -> None:
    md = (("authorization", f"Bearer {net.tokens['alpha']}"),)
    stub = network_pb2_grpc.NetworkStub(net.channel)
    services = await stub.Services(network_pb2.ServicesRequest(), metadata=md, timeout=10)
    assert list(services.services) == ["echo", "gone", "mute"]
    nodes = await stub.Nodes(network_pb2.NodesRequest(service="gone"), metadata=md, timeout=10)
    assert [(n.service, n.id, n.status) for n in nodes.nodes] == [("gone", "gone-1", "unreachable")]
