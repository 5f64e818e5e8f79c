"""What a handler knows of the call it serves: the caller (micro.auth.account), the call's
namespace, and the caller's deadline, which calls made through micro.client inherit."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

import micro.auth
import micro.client
from micro._grpc import call_metadata, rpc_errors
from micro.service import Service
from tests.micro.framework.routeguide import RouteGuideModules
from tests.micro.framework.test_service_auth import Platform, platform  # noqa: F401 - fixture

NO_DEADLINE = -1.0  # what a handler records when its call has no deadline


def recorder(rg: RouteGuideModules) -> Any:
    """A route guide whose GetFeature records the caller, namespace and time remaining,
    and whose Echo calls ``routeguide-b``'s GetFeature through micro.client (unary and
    streaming)."""

    class Recorder(rg.service.RouteGuide):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__("recorder")
            self.seen: list[tuple[Any, str, float, str]] = []

        async def GetFeature(self, request: Any, context: Any) -> Any:
            remaining = context.time_remaining()
            md = dict(context.invocation_metadata())
            self.seen.append(
                (
                    micro.auth.account(),
                    micro.auth.call_namespace(),
                    NO_DEADLINE if remaining is None else remaining,
                    md.get("micro-from-service", ""),
                )
            )
            return rg.pb.Feature(name="recorded", location=request)

        async def Echo(self, request: Any, context: Any) -> Any:
            await micro.client.call("routeguide-b", "RouteGuide.GetFeature", rg.pb.Point(latitude=1))
            stub = rg.pb_grpc.RouteGuideStub(micro.client.channel("routeguide-b"))
            await stub.GetFeature(rg.pb.Point(latitude=2), timeout=60.0)
            return request

    return Recorder()


async def start(name: str, servicer: Any, started: list[Service]) -> Service:
    service = Service(name)
    service.handle(servicer)
    await service.start()
    started.append(service)
    return service


async def get_feature(rg: RouteGuideModules, address: str, token: str | None = None) -> Any:
    async with grpc.aio.insecure_channel(address) as channel:
        with rpc_errors(address):
            return await rg.pb_grpc.RouteGuideStub(channel).GetFeature(
                rg.pb.Point(latitude=7), metadata=call_metadata(namespace="micro", token=token)
            )


async def test_a_handler_sees_its_caller_account(platform: Platform) -> None:  # noqa: F811
    servicer = recorder(platform.rg)
    service = await start("routeguide", servicer, platform.services)
    await get_feature(platform.rg, service.address, token=platform.token)
    await get_feature(platform.rg, service.address)  # anonymous, under the public default rule
    [(admin, namespace, _, _), (anonymous, _, _, _)] = servicer.seen
    assert admin is not None and admin.id == "admin" and admin.is_admin
    assert namespace == "micro"
    assert anonymous is None
    assert micro.auth.account() is None  # reset after the call, and never set in this task


async def test_calls_from_a_handler_inherit_the_callers_deadline(
    server: Any, rg: RouteGuideModules, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICRO_PROXY", server.bound_address)
    a, b = recorder(rg), recorder(rg)
    started: list[Service] = []
    try:
        await start("routeguide-b", b, started)
        service_a = await start("routeguide-a", a, started)
        async with grpc.aio.insecure_channel(service_a.address) as channel:
            echo = rg.pb_grpc.RouteGuideStub(channel).Echo
            await echo(rg.pb.Feature(name="x"), timeout=0.5)
            # without a deadline B sees the client's own: the default for call, 60 s given
            await echo(rg.pb.Feature(name="y"))
    finally:
        for service in started:
            await service.stop(grace=0)
    assert [s[3] for s in b.seen] == ["routeguide-a"] * 4
    deadlines = [s[2] for s in b.seen]
    assert 0 < deadlines[0] <= 0.5 and 0 < deadlines[1] <= 0.5
    # gRPC rounds deadlines it receives up by up to a tenth of a second
    assert 1.0 < deadlines[2] <= micro.client.DEFAULT_TIMEOUT + 0.5
    assert micro.client.DEFAULT_TIMEOUT + 1.0 < deadlines[3] <= 60.5


async def test_resolving_a_route_is_bounded_by_the_callers_deadline() -> None:
    """A registry that does not answer costs a handler's call no more than its caller has left."""
    import asyncio
    import time

    from micro import _context, errors
    from micro.client._core import Client
    from micro.registry.memory import MemoryRegistry

    class Hanging(MemoryRegistry):
        async def get_service(self, name: str, *, domain: str = "micro") -> Any:
            await asyncio.Event().wait()

    client = Client(Hanging(), namespace="micro", owns_registry=False)
    token = _context._call.set(_context.Call(None, "micro", time.monotonic() + 0.2, "caller"))
    try:
        # the registry never answers: only the caller's deadline ends the lookup (a hang would
        # fail here after 30 s, not on a wall-clock bound a loaded machine can miss)
        with pytest.raises(errors.Timeout, match='resolving service "elsewhere"'):
            await asyncio.wait_for(client.route("elsewhere"), 30)
    finally:
        _context._call.reset(token)
