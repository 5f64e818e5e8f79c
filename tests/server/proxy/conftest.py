"""Service nodes (route guide) running in the test's loop, registered with the ``server`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.micro.framework.routeguide import RouteGuideModules, routeguide

StartNode = Callable[..., Awaitable[Any]]


@pytest.fixture
def rg() -> RouteGuideModules:
    return routeguide()


@pytest.fixture
async def start_node(
    server: Any, rg: RouteGuideModules, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StartNode]:
    """``await start_node(label, name="routeguide")``: a micro.Service node of the route guide."""
    from micro.service import Service

    monkeypatch.setenv("MICRO_PROXY", server.bound_address)
    started: list[Service] = []

    async def start(label: str = "node", name: str = "routeguide") -> Service:
        service = Service(name)
        service.handle(rg.service.RouteGuide(label))
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop(grace=0)
