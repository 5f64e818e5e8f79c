"""The pieces every node shares (micro._node): registration kept alive, and deregistration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from micro import errors
from micro._node import Registrar
from micro.registry import Node, Registry, Service
from micro.registry.memory import MemoryRegistry
from tests._poll import eventually


@pytest.fixture
def entry() -> Iterator[Service]:
    yield Service(name="greeter", nodes=[Node(id="greeter-1", address="127.0.0.1:1")])


async def _listed(registry: Registry) -> list[str]:
    return [s.name for s in await registry.list_services(domain="ns")]


async def test_a_node_the_registry_lost_is_registered_again_within_a_beat(entry: Service) -> None:
    registry = MemoryRegistry()
    registrar = Registrar([entry], registry, ttl=0.3, domain="ns")
    await registrar.start()
    try:
        assert await _listed(registry) == ["greeter"]
        await registry.deregister(entry, domain="ns")  # a restarted server forgot it
        assert await _listed(registry) == []
        await eventually(lambda: _has(registry), "the node registered again")
    finally:
        await registrar.stop()
    assert await _listed(registry) == []  # stop deregisters


async def _has(registry: Registry) -> bool:
    return await _listed(registry) == ["greeter"]


async def test_beats_go_on_after_a_failed_registration(entry: Service) -> None:
    registry = MemoryRegistry()
    calls: list[int] = []

    async def flaky() -> Registry:
        calls.append(1)
        if len(calls) == 2:  # the first beat finds the server restarting
            raise errors.Unavailable("server restarting")
        return registry

    registrar = Registrar([entry], flaky, ttl=0.15, domain="ns")
    await registrar.start()
    await registry.deregister(entry, domain="ns")
    try:
        await eventually(lambda: _has(registry), "registered again after the failed beat")
        assert len(calls) >= 3
    finally:
        await registrar.stop(deregister=False)
    assert await _listed(registry) == ["greeter"]  # left to lapse, as after a crash


async def test_a_registration_refused_at_start_reaches_the_caller(entry: Service) -> None:
    async def refusing() -> Registry:
        raise errors.Forbidden("access denied to namespace")

    registrar = Registrar([entry], refusing, domain="ns")
    with pytest.raises(errors.Forbidden):
        await registrar.start()
    await registrar.stop()  # nothing started: nothing to stop
