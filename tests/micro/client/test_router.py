"""The router shared by the framework's client and the proxy: routes, node order, caches."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from micro import errors
from micro.client import _router
from micro.client._router import Router
from micro.registry import Endpoint, Node, Service, Streaming
from micro.registry.memory import MemoryRegistry
from tests._poll import eventually

# routes expire on time.monotonic(): run as on a machine booted a moment ago (it reads near 0)
pytestmark = pytest.mark.usefixtures("just_booted")


def _service(name: str, *addresses: str) -> Service:
    return Service(
        name,
        endpoints=[Endpoint("Svc.Feed", method=f"/{name}.Svc/Feed", streaming=Streaming.SERVER)],
        nodes=[Node(f"{name}-{a}", a) for a in addresses],
    )


def _make(registry: MemoryRegistry, **kwargs: Any) -> Router:
    return Router(registry, ttl=60.0, connect=grpc.aio.insecure_channel, **kwargs)


async def test_a_route_knows_its_nodes_endpoints_and_their_streaming_kinds() -> None:
    registry = MemoryRegistry()
    await registry.register(_service("a", "127.0.0.1:1", "127.0.0.1:2"), domain="ns")
    router = _make(registry)
    route = await router.resolve("ns", "a")
    assert route.addresses == ["127.0.0.1:1", "127.0.0.1:2"]
    assert route.kinds == {"/a.Svc/Feed": Streaming.SERVER}
    assert route.endpoints["Svc.Feed"].method == "/a.Svc/Feed"
    with pytest.raises(errors.NotImplementedError_, match='service "a" not found'):
        await router.resolve("other", "a")  # routes are per namespace
    await router.close()


async def test_nodes_are_taken_round_robin_and_a_node_marked_down_comes_last() -> None:
    registry = MemoryRegistry()
    await registry.register(_service("a", "n1", "n2", "n3"))
    router = _make(registry)
    route = await router.resolve("micro", "a")
    firsts = [router.candidates(route)[0] for _ in range(3)]
    assert firsts == ["n1", "n2", "n3"]
    router.mark_down("micro", "a", "n1")
    assert router.candidates(route) == ["n2", "n3", "n1"]
    fresh = await router.resolve("micro", "a")  # marking down asks the registry again
    assert fresh is not route
    assert router.candidates(fresh)[-1] == "n1"
    await router.close()


async def test_a_watched_namespace_forgets_a_route_as_soon_as_the_registry_changes_it() -> None:
    registry = MemoryRegistry()
    await registry.register(_service("a", "n1"))
    router = _make(registry, watch=True)
    assert (await router.resolve("micro", "a")).addresses == ["n1"]
    await eventually(lambda: bool(registry._watchers.get("micro")), "the router watches the namespace")
    await registry.register(_service("a", "n2"))
    await eventually(lambda: router.cached("micro", "a") is None, "the changed route is forgotten")
    assert (await router.resolve("micro", "a")).addresses == ["n1", "n2"]
    await router.close()
    assert router._watches == {}


async def test_the_multicallable_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_router, "MAX_CACHED", 4)
    router = _make(MemoryRegistry(), register_methods=False)
    first = router.callable("unary_unary", "127.0.0.1:1", "/x.Y/M0")
    assert router.callable("unary_unary", "127.0.0.1:1", "/x.Y/M0") is first
    for i in range(10):  # method names are the caller's choice
        router.callable("unary_unary", "127.0.0.1:1", f"/x.Y/M{i}")
    assert len(router._callables) <= 4
    assert len(router._channels) == 1
    await router.close()
    assert router._channels == {} and router._callables == {}
