"""micro.Service: registration with schemas, Debug, health, reflection, errors, shutdown."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from micro import errors
from micro.proto.debug import debug_pb2, debug_pb2_grpc
from micro.registry import Streaming
from micro.service import Service
from tests._poll import eventually
from tests.micro.framework.routeguide import RouteGuideModules
from tests.server.proxy.conftest import StartNode


async def test_registers_with_endpoints_and_schemas(server: Any, start_node: StartNode) -> None:
    service = await start_node("a")
    [entry] = await server.backends.registry.get_service("routeguide")
    assert [n.address for n in entry.nodes] == [service.address]
    kinds = {e.name: e.streaming for e in entry.endpoints}
    assert kinds == {
        "RouteGuide.GetFeature": Streaming.UNARY,
        "RouteGuide.ListFeatures": Streaming.SERVER,
        "RouteGuide.RecordRoute": Streaming.CLIENT,
        "RouteGuide.RouteChat": Streaming.BIDI,
        "RouteGuide.Echo": Streaming.UNARY,
    }
    get = next(e for e in entry.endpoints if e.name == "RouteGuide.GetFeature")
    assert (get.method, get.request_type, get.response_type) == (
        "/routeguide.RouteGuide/GetFeature",
        "routeguide.Point",
        "routeguide.Feature",
    )
    assert get.request is not None and [v.name for v in get.request.values] == ["latitude", "longitude"]
    assert entry.descriptor_set


async def test_stop_deregisters_at_once(server: Any, start_node: StartNode) -> None:
    service = await start_node("a")
    await service.stop(grace=0)
    with pytest.raises(errors.NotFound):
        await server.backends.registry.get_service("routeguide")


async def test_name_and_version_come_from_the_environment(
    server: Any, start_node: StartNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICRO_SERVICE_NAME", "renamed")
    monkeypatch.setenv("MICRO_SERVICE_VERSION", "v2")
    await start_node("a")
    [entry] = await server.backends.registry.get_service("renamed")
    assert entry.version == "v2"


async def test_registers_in_the_namespace_domain(
    server: Any, start_node: StartNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICRO_NAMESPACE", "team")
    await start_node("a")
    assert [s.name for s in await server.backends.registry.get_service("routeguide", domain="team")]
    with pytest.raises(errors.NotFound):
        await server.backends.registry.get_service("routeguide", domain="micro")


async def test_debug_health_and_stats_count_requests_and_errors(
    start_node: StartNode, rg: RouteGuideModules
) -> None:
    service = await start_node("a")
    async with grpc.aio.insecure_channel(service.address) as channel:
        guide = rg.pb_grpc.RouteGuideStub(channel)
        await guide.GetFeature(rg.pb.Point(latitude=1))
        with pytest.raises(grpc.aio.AioRpcError):
            await guide.GetFeature(rg.pb.Point(latitude=404))
        debug = debug_pb2_grpc.DebugStub(channel)
        assert (await debug.Health(debug_pb2.HealthRequest())).status == "ok"
        stats = await debug.Stats(debug_pb2.StatsRequest())
    assert stats.requests >= 3  # two calls, Health (and Stats itself)
    assert stats.errors == 1
    assert stats.started > 0 and stats.memory > 1024 * 1024 and stats.threads >= 1


async def test_grpc_health_and_reflection(start_node: StartNode) -> None:
    service = await start_node("a")
    async with grpc.aio.insecure_channel(service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)

        async def ask() -> Any:
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        names = [
            s.name
            async for r in reflect.ServerReflectionInfo(ask())
            for s in r.list_services_response.service
        ]
    assert "routeguide.RouteGuide" in names
    assert "debug.Debug" in names


async def test_unexpected_exception_is_500_and_the_service_keeps_serving(
    start_node: StartNode, rg: RouteGuideModules
) -> None:
    service = await start_node("a")
    async with grpc.aio.insecure_channel(service.address) as channel:
        guide = rg.pb_grpc.RouteGuideStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await guide.GetFeature(rg.pb.Point(latitude=500))
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert caught.value.details() == "internal server error"  # the traceback is in the log
        assert (await guide.GetFeature(rg.pb.Point(latitude=2))).location.latitude == 2


async def test_a_request_that_does_not_parse_is_400_on_every_kind_of_method(
    start_node: StartNode, caplog: pytest.LogCaptureFixture
) -> None:
    """grpc's own deserializer raised: UNKNOWN with the exception's text and a traceback."""
    service = await start_node("a")
    truncated = b"\x08"  # a varint field without its value
    async with grpc.aio.insecure_channel(service.address) as channel:
        calls = [
            channel.unary_unary("/routeguide.RouteGuide/GetFeature")(truncated),
            channel.unary_stream("/routeguide.RouteGuide/ListFeatures")(truncated).read(),
            channel.stream_unary("/routeguide.RouteGuide/RecordRoute")(iter([b"\x08\x01", truncated])),
            channel.stream_stream("/routeguide.RouteGuide/RouteChat")(iter([truncated])).read(),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert (caught.value.code(), caught.value.details()) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "malformed request",
            )
    assert not [r for r in caplog.records if r.exc_info]


async def test_sys_exit_in_a_handler_is_a_500_and_the_service_keeps_serving(
    start_node: StartNode, rg: RouteGuideModules
) -> None:
    # SystemExit escaped into grpc's loop: the process segfaulted or hung, still registered
    service = await start_node("a")
    async with grpc.aio.insecure_channel(service.address) as channel:
        guide = rg.pb_grpc.RouteGuideStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await guide.GetFeature(rg.pb.Point(latitude=999))
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert caught.value.details() == "internal server error"
        assert (await guide.GetFeature(rg.pb.Point(latitude=2))).location.latitude == 2


async def test_a_handler_returning_none_is_a_500_naming_the_method(
    start_node: StartNode, rg: RouteGuideModules
) -> None:
    # the caller got grpc's "Unexpected <class 'TypeError'>: descriptor 'SerializeToString'…"
    service = await start_node("a")
    async with grpc.aio.insecure_channel(service.address) as channel:
        guide = rg.pb_grpc.RouteGuideStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await guide.GetFeature(rg.pb.Point(latitude=204))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "/routeguide.RouteGuide/GetFeature returned None instead of a reply"
    # counted once the handler's wrapper returns, which may be just after the caller has its reply
    await eventually(lambda: service.counters.errors == 1, "the failed call counted as one error")


async def test_without_a_server_start_fails_fast_naming_the_address(
    monkeypatch: pytest.MonkeyPatch, rg: RouteGuideModules
) -> None:
    from tests.e2e.conftest import free_port

    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("MICRO_PROXY", address)
    service = Service("routeguide")
    service.handle(rg.service.RouteGuide())
    with pytest.raises(errors.Unavailable) as caught:
        await service.start()
    assert caught.value.detail == (
        f"cannot reach a micro server at {address} (MICRO_PROXY): start one with `micro server`"
    )
    assert service._server is None


def test_handle_refuses_what_is_not_a_generated_servicer() -> None:
    with pytest.raises(TypeError, match="not a generated servicer"):
        Service("x").handle(object())
