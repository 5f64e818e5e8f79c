"""The proxy's catch-all: plain gRPC clients reach service nodes through the server's port."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from micro import errors
from micro._grpc import ERROR_KEY, from_rpc_error, metadata_value
from tests.micro.framework.routeguide import RouteGuideModules
from tests.server.proxy.conftest import StartNode


@pytest.fixture
async def stub(server: Any, rg: RouteGuideModules) -> Any:
    async with grpc.aio.insecure_channel(server.bound_address) as channel:
        yield rg.pb_grpc.RouteGuideStub(channel)


async def test_unary_without_micro_service_metadata_routes_by_package(
    start_node: StartNode, stub: Any, rg: RouteGuideModules
) -> None:
    await start_node("a")
    reply = await stub.GetFeature(rg.pb.Point(latitude=1, longitude=2))
    assert reply.name == "a"
    assert (reply.location.latitude, reply.location.longitude) == (1, 2)


async def test_unary_with_micro_service_metadata_reaches_a_service_named_otherwise(
    start_node: StartNode, stub: Any, rg: RouteGuideModules
) -> None:
    await start_node("guide", name="guide-x")
    md = (("micro-service", "guide-x"),)
    reply = await stub.GetFeature(rg.pb.Point(latitude=3), metadata=md)
    # the node is told the namespace the call acts in (routed there), named or not
    assert (reply.name, reply.service, reply.namespace) == ("guide", "guide-x", "micro")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetFeature(rg.pb.Point(latitude=3))  # package "routeguide" is not registered
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert caught.value.details() == 'service "routeguide" not found'


async def test_all_four_streaming_kinds_pass(start_node: StartNode, stub: Any, rg: RouteGuideModules) -> None:
    await start_node("a")
    pb = rg.pb
    unary = await stub.GetFeature(pb.Point(latitude=7))
    assert unary.location.latitude == 7
    listed = [
        f.name
        async for f in stub.ListFeatures(pb.Rectangle(lo=pb.Point(latitude=2), hi=pb.Point(latitude=5)))
    ]
    assert listed == ["a:2", "a:3", "a:4"]

    async def points() -> Any:
        for i in range(4):
            yield pb.Point(latitude=i)

    summary = await stub.RecordRoute(points())
    assert summary.point_count == 4

    async def notes() -> Any:
        for word in ("one", "two", "three"):
            yield pb.RouteNote(message=word)

    chat = [n.message async for n in stub.RouteChat(notes())]
    assert chat == ["ONE", "TWO", "THREE"]


async def test_bidi_replies_arrive_while_the_client_still_sends(
    start_node: StartNode, stub: Any, rg: RouteGuideModules
) -> None:
    await start_node("a")
    call = stub.RouteChat()
    for word in ("ping", "pong"):
        await call.write(rg.pb.RouteNote(message=word))
        reply = await call.read()
        assert reply.message == word.upper()
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK


async def test_handler_errors_come_back_with_code_and_micro_error(
    start_node: StartNode, stub: Any, rg: RouteGuideModules
) -> None:
    await start_node("a")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetFeature(rg.pb.Point(latitude=404))
    exc = caught.value
    assert exc.code() == grpc.StatusCode.NOT_FOUND
    assert exc.details() == "no feature at 404"
    assert metadata_value(exc.trailing_metadata(), ERROR_KEY) is not None
    err = from_rpc_error(exc)
    assert isinstance(err, errors.NotFound)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetFeature(rg.pb.Point(latitude=500))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal server error"  # never the exception's text
    assert isinstance(from_rpc_error(caught.value), errors.InternalServerError)
    reply = await stub.GetFeature(rg.pb.Point(latitude=1))  # still serving
    assert reply.name == "a"


async def test_a_nodes_response_headers_and_trailers_reach_the_caller(
    start_node: StartNode, stub: Any, rg: RouteGuideModules
) -> None:
    await start_node("a")
    call = stub.GetFeature(rg.pb.Point(latitude=7))
    assert (await call).name == "a"
    assert metadata_value(await call.initial_metadata(), "x-node") == "a"
    assert metadata_value(await call.trailing_metadata(), "x-done") == "yes"
    stream = stub.ListFeatures(rg.pb.Rectangle(lo=rg.pb.Point(latitude=0), hi=rg.pb.Point(latitude=2)))
    assert [f.name async for f in stream] == ["a:0", "a:1"]
    assert metadata_value(await stream.initial_metadata(), "x-node") == "a"


async def test_unknown_service_is_unimplemented_with_a_501(
    server: Any, stub: Any, rg: RouteGuideModules
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetFeature(rg.pb.Point(), metadata=(("micro-service", "nosuch"),))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    err = from_rpc_error(caught.value)
    assert isinstance(err, errors.NotImplementedError_)
    assert err.detail == 'service "nosuch" not found'


async def test_unknown_method_of_a_core_service_ends_at_the_proxy(server: Any) -> None:
    async with grpc.aio.insecure_channel(server.bound_address) as channel:
        call = channel.unary_unary("/store.Store/NoSuchMethod")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_round_robin_across_two_nodes(start_node: StartNode, stub: Any, rg: RouteGuideModules) -> None:
    await start_node("a")
    await start_node("b")
    names = [(await stub.GetFeature(rg.pb.Point())).name for _ in range(6)]
    assert sorted(set(names)) == ["a", "b"]
    assert all(names[i] != names[i + 1] for i in range(5)), names


async def test_a_dead_node_is_skipped(
    start_node: StartNode, stub: Any, rg: RouteGuideModules, server: Any
) -> None:
    await start_node("a")
    b = await start_node("b")
    await stub.GetFeature(rg.pb.Point())  # the proxy now knows both nodes
    await b.stop(grace=0, deregister=False)  # die without deregistering: the registry still lists b
    names = [(await stub.GetFeature(rg.pb.Point())).name for _ in range(4)]
    assert names == ["a"] * 4
    listed = [f.name async for f in stub.ListFeatures(rg.pb.Rectangle(hi=rg.pb.Point(latitude=1)))]
    assert listed == ["a:0"]


async def test_deadline_is_forwarded(start_node: StartNode, stub: Any, rg: RouteGuideModules) -> None:
    await start_node("a")

    async def slow_points() -> Any:
        import asyncio

        yield rg.pb.Point()
        await asyncio.sleep(5)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RecordRoute(slow_points(), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_oversized_request_is_resource_exhausted(
    server: Any, start_node: StartNode, rg: RouteGuideModules
) -> None:
    await start_node("a")
    big = rg.pb.Feature(blob=b"x" * (17 * 1024 * 1024))
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(server.bound_address, options=options) as channel:
        stub = rg.pb_grpc.RouteGuideStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Echo(big)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in caught.value.details()
    ok = await rg.pb_grpc.RouteGuideStub(grpc.aio.insecure_channel(server.bound_address)).Echo(
        rg.pb.Feature(blob=b"y" * 1024)
    )
    assert len(ok.blob) == 1024


async def test_every_node_dead_is_the_service_unavailable_not_the_server(
    start_node: StartNode, stub: Any, rg: RouteGuideModules
) -> None:
    # the CLI printed "Failed to connect to micro server at <proxy>" while the server was fine
    a = await start_node("a")
    await stub.GetFeature(rg.pb.Point())
    await a.stop(grace=0, deregister=False)  # killed -9: the registry still lists the node until its TTL
    for attempt in (
        stub.GetFeature(rg.pb.Point()),
        _first(stub.ListFeatures(rg.pb.Rectangle(hi=rg.pb.Point(latitude=1)))),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await attempt
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        err = from_rpc_error(caught.value, address="proxy:1")
        assert isinstance(err, errors.Unavailable)
        assert err.detail == 'service "routeguide" is unavailable: no node answered'


async def _first(replies: Any) -> Any:
    async for reply in replies:
        return reply
    return None
