"""micro.client: calls, streams and typed stubs resolved through the registry."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import micro.client
from micro import _platform, errors
from micro.client import _core
from tests.micro.framework.routeguide import RouteGuideModules, routeguide
from tests.server.proxy.conftest import StartNode


async def test_call_finds_the_response_type_in_the_registry(
    start_node: StartNode, rg: RouteGuideModules
) -> None:
    await start_node("a")
    reply = await micro.client.call("routeguide", "RouteGuide.GetFeature", rg.pb.Point(latitude=4))
    assert isinstance(reply, rg.pb.Feature)
    assert (reply.name, reply.location.latitude) == ("a", 4)
    assert (reply.service, reply.namespace) == ("routeguide", "micro")


async def test_errors_come_back_as_the_same_class(start_node: StartNode, rg: RouteGuideModules) -> None:
    await start_node("a")
    with pytest.raises(errors.NotFound) as caught:
        await micro.client.call("routeguide", "RouteGuide.GetFeature", rg.pb.Point(latitude=404))
    assert caught.value.detail == "no feature at 404"
    with pytest.raises(errors.InternalServerError):
        await micro.client.call("routeguide", "RouteGuide.GetFeature", rg.pb.Point(latitude=500))


async def test_unknown_service_is_not_found_501(server: Any, rg: RouteGuideModules, monkeypatch: Any) -> None:
    monkeypatch.setenv("MICRO_PROXY", server.bound_address)
    with pytest.raises(errors.NotImplementedError_) as caught:
        await micro.client.call("nosuch", "RouteGuide.GetFeature", rg.pb.Point())
    assert caught.value.detail == 'service "nosuch" not found'


async def test_unknown_endpoint_is_not_implemented_501(start_node: StartNode, rg: RouteGuideModules) -> None:
    # it was a 400 BadRequest: a handler relaying it made the CLI exit 1, not 4 as for a 501
    await start_node("a")
    with pytest.raises(errors.NotImplementedError_) as caught:
        await micro.client.call("routeguide", "RouteGuide.Nosuch", rg.pb.Point())
    assert caught.value.detail == "endpoint RouteGuide.Nosuch not found for service routeguide"
    with pytest.raises(errors.NotImplementedError_):
        async for _ in micro.client.stream("routeguide", "RouteGuide.Nosuch", [rg.pb.Point()]):
            pass


async def test_stream_server_and_bidi(start_node: StartNode, rg: RouteGuideModules) -> None:
    await start_node("a")
    pb = rg.pb
    rect = pb.Rectangle(lo=pb.Point(latitude=1), hi=pb.Point(latitude=3))
    names = [f.name async for f in micro.client.stream("routeguide", "RouteGuide.ListFeatures", rect)]
    assert names == ["a:1", "a:2"]
    notes = [pb.RouteNote(message=m) for m in ("x", "y")]
    chat = [n.message async for n in micro.client.stream("routeguide", "RouteGuide.RouteChat", notes)]
    assert chat == ["X", "Y"]


async def test_typed_stub_over_a_service_channel_all_kinds(
    start_node: StartNode, rg: RouteGuideModules
) -> None:
    await start_node("a")
    pb = rg.pb
    stub = rg.pb_grpc.RouteGuideStub(micro.client.channel("routeguide"))
    assert (await stub.GetFeature(pb.Point(latitude=9))).location.latitude == 9
    listed = [f.name async for f in stub.ListFeatures(pb.Rectangle(hi=pb.Point(latitude=2)))]
    assert listed == ["a:0", "a:1"]

    async def points() -> Any:
        for i in range(3):
            yield pb.Point(latitude=i)

    assert (await stub.RecordRoute(points())).point_count == 3
    chat = [n.message async for n in stub.RouteChat(iter([pb.RouteNote(message="hi")]))]
    assert chat == ["HI"]
    with pytest.raises(errors.NotFound):
        await stub.GetFeature(pb.Point(latitude=404))


async def test_round_robin_and_retry_on_a_dead_node(start_node: StartNode, rg: RouteGuideModules) -> None:
    await start_node("a")
    b = await start_node("b")
    names = [
        (await micro.client.call("routeguide", "RouteGuide.GetFeature", rg.pb.Point())).name for _ in range(4)
    ]
    assert sorted(names) == ["a", "a", "b", "b"]
    await b.stop(grace=0, deregister=False)  # die without deregistering: the registry still lists b
    names = [
        (await micro.client.call("routeguide", "RouteGuide.GetFeature", rg.pb.Point())).name for _ in range(4)
    ]
    assert names == ["a"] * 4


# --- channels belong to the running loop ----------------------------------------------------


@pytest.fixture
def background_platform(micro_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server and a route guide node in a loop of their own (another thread)."""
    from micro.service import Service
    from server.app import Server

    rg = routeguide()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test", auth=False)
        await srv.start()
        monkeypatch.setenv("MICRO_PROXY", srv.bound_address)
        node = Service("routeguide")
        node.handle(rg.service.RouteGuide("bg"))
        await node.start()
        holder.update(stop=asyncio.Event(), address=srv.bound_address)
        ready.set()
        await holder["stop"].wait()
        await node.stop(grace=0)
        await srv.stop(grace=0)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20)
    yield holder["address"]
    loop.call_soon_threadsafe(holder["stop"].set)
    thread.join(20)
    loop.close()


def test_channels_work_across_two_successive_asyncio_runs(background_platform: str) -> None:
    rg = routeguide()
    seen: list[Any] = []

    async def once() -> str:
        reply = await micro.client.call("routeguide", "RouteGuide.GetFeature", rg.pb.Point(latitude=1))
        seen.append(_core.client())
        return str(reply.name)

    assert asyncio.run(once()) == "bg"
    first = seen[0]
    assert first.router._channels == {}  # closed with its loop
    assert asyncio.run(once()) == "bg"
    assert seen[1] is not first


_previous: list[_core.Client] = []


@pytest.mark.parametrize("round", [1, 2])
async def test_channels_work_in_pytests_per_test_loops(
    round: int, start_node: StartNode, rg: RouteGuideModules
) -> None:
    await start_node("a")
    reply = await micro.client.call("routeguide", "RouteGuide.GetFeature", rg.pb.Point())
    assert reply.name == "a"
    current = _core.client()
    if _previous:
        assert _previous[-1] is not current
        assert _previous[-1].router._channels == {}
    _previous.append(current)
    assert _platform.loop_state().values["micro.client"] is current
