"""micro.testing: the in-memory platform fixture and calling handlers with fakes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

import micro.client
import micro.config
import micro.store
from micro import errors
from micro.store import Record
from micro.testing import FakeContext, Platform, call_handler, micro_platform
from tests.micro.framework.routeguide import RouteGuideModules

__all__ = ["micro_platform"]


class Recorder:
    """A handler that uses the module-level clients."""

    async def Remember(self, request: Any, context: Any) -> str:
        await micro.store.write("last", request)
        await micro.config.set("seen", request)
        return str((await micro.store.read("last"))[0].value.decode())

    async def Refuse(self, request: Any, context: Any) -> None:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "go away")


async def test_module_clients_use_the_in_memory_platform(micro_platform: Platform) -> None:
    from micro import _platform

    assert _platform.service_name() == ""
    assert await call_handler(Recorder().Remember, "John") == "John"
    [record] = await micro_platform.store.read("last")
    assert record.value == b"John"
    assert await micro_platform.config.get("seen") == "John"


async def test_store_functions_write_read_list_delete(micro_platform: Platform) -> None:
    assert await micro.store.write("a", b"1") == 1
    assert await micro.store.write(Record(key="b", value=b"2", metadata={"k": "v"})) == 1
    assert await micro.store.list() == ["a", "b"]
    [b] = await micro.store.read("b")
    assert (b.value, b.metadata) == (b"2", {"k": "v"})
    await micro.store.delete("a")
    with pytest.raises(errors.NotFound):
        await micro.store.read("a")
    assert await micro.store.list(table="other") == []


async def test_a_service_default_table_is_its_own_name(
    micro_platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from micro import _platform

    monkeypatch.setattr(_platform, "_current_service", "helloworld")
    await micro.store.write("k", "v")
    assert [r.key for r in await micro_platform.store.read("k", table="helloworld")] == ["k"]


async def test_handler_errors_and_aborts_come_out_as_micro_errors(rg: RouteGuideModules) -> None:
    guide = rg.service.RouteGuide("t")
    with pytest.raises(errors.NotFound):
        await call_handler(guide.GetFeature, rg.pb.Point(latitude=404))
    ctx = FakeContext()
    with pytest.raises(errors.Forbidden) as caught:
        await call_handler(Recorder().Refuse, None, context=ctx)
    assert caught.value.detail == "go away"
    assert ctx.aborted and ctx.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_streaming_handlers_and_metadata(rg: RouteGuideModules) -> None:
    guide = rg.service.RouteGuide("t")
    pb = rg.pb
    listed = await call_handler(guide.ListFeatures, pb.Rectangle(hi=pb.Point(latitude=2)))
    assert [f.name for f in listed] == ["t:0", "t:1"]
    summary = await call_handler(guide.RecordRoute, [pb.Point(), pb.Point()])
    assert summary.point_count == 2
    chat = await call_handler(guide.RouteChat, [pb.RouteNote(message="a")])
    assert [n.message for n in chat] == ["A"]
    reply = await call_handler(guide.GetFeature, pb.Point(), metadata=[("micro-service", "x")])
    assert reply.service == "x"


def test_the_fixture_restores_the_defaults() -> None:
    assert micro.store._default is None
    assert micro.client._core.registry_override is None
