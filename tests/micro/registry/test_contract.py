"""One suite over every Registry: in memory (fake clock) and over gRPC against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from micro import errors
from micro.registry import Endpoint, Node, Registry, Result, Service, Streaming, Value
from micro.registry.grpc import GrpcRegistry
from micro.registry.memory import MemoryRegistry
from micro.registry.schema import pool_from_descriptor_set
from tests._poll import eventually

DOMAIN = "contract"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    registry: Registry
    backend: MemoryRegistry  # the registry holding the data (the server's, for grpc)
    short_ttl: float
    lapse: Callable[[], None]  # let short_ttl pass (the backend's fake clock moves on)


@pytest.fixture
async def memory_env() -> AsyncIterator[Env]:
    clock = FakeClock()
    memory = MemoryRegistry(clock=clock, sweep_interval=0.02)

    def lapse() -> None:
        clock.now += 60

    yield Env(memory, memory, short_ttl=5, lapse=lapse)
    await memory.close()


@pytest.fixture
async def grpc_env(server: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Env]:
    """A GrpcRegistry against a real server whose registry runs on a fake clock (as the
    memory one does), so TTLs lapse without waiting through them."""
    clock = FakeClock()
    backend = server.backends.registry
    monkeypatch.setattr(backend, "_clock", clock)
    monkeypatch.setattr(backend, "_sweep_interval", 0.02)

    def lapse() -> None:
        clock.now += 60

    client = GrpcRegistry(server.bound_address)
    yield Env(client, backend, short_ttl=5, lapse=lapse)
    await client.close()


@pytest.fixture(params=["memory", "grpc"])
def env(request: pytest.FixtureRequest) -> Env:
    chosen: Env = request.getfixturevalue(f"{request.param}_env")
    return chosen


def svc(name: str = "greeter", version: str = "latest", *nodes: str, **metadata: str) -> Service:
    return Service(
        name=name,
        version=version,
        metadata=dict(metadata),
        endpoints=[
            Endpoint(
                name="Greeter.Hello",
                method="/greeter.Greeter/Hello",
                request_type="greeter.Request",
                response_type="greeter.Response",
                streaming=Streaming.SERVER,
                request=Value("Request", "greeter.Request", [Value("name", "string")]),
                response=Value("Response", "greeter.Response", [Value("msg", "string")]),
                metadata={"stream": "true"},
            )
        ],
        nodes=[
            Node(id=n, address=f"127.0.0.1:{9000 + i}", metadata={"n": n})
            for i, n in enumerate(nodes or ["n1"])
        ],
        descriptor_set=b"\x0a\x00",
    )


async def settled(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    await eventually(check, "the registry reaching the expected state", timeout=timeout)


async def gone(registry: Registry, name: str) -> bool:
    try:
        await registry.get_service(name, domain=DOMAIN)
    except errors.NotFound:
        return True
    return False


async def started(watcher: Any) -> Any:
    await watcher.ready()
    return watcher


async def next_result(watcher: Any) -> Result:
    result: Result = await asyncio.wait_for(anext(watcher), 5)
    return result


async def test_register_then_get_returns_everything_registered(env: Env) -> None:
    await env.registry.register(svc("greeter", "v1", "n1", team="core"), domain=DOMAIN)
    [got] = await env.registry.get_service("greeter", domain=DOMAIN)
    assert got == svc("greeter", "v1", "n1", team="core")


async def test_get_unknown_service_is_not_found(env: Env) -> None:
    with pytest.raises(errors.NotFound, match="service not found"):
        await env.registry.get_service("nope", domain=DOMAIN)


async def test_list_is_sorted_by_name_then_version(env: Env) -> None:
    for name, version in [("zeta", "v1"), ("alpha", "v2"), ("alpha", "v1")]:
        await env.registry.register(svc(name, version), domain=DOMAIN)
    listed = await env.registry.list_services(domain=DOMAIN)
    assert [(s.name, s.version) for s in listed] == [("alpha", "v1"), ("alpha", "v2"), ("zeta", "v1")]


async def test_versions_are_kept_apart(env: Env) -> None:
    await env.registry.register(svc("greeter", "v1", "a"), domain=DOMAIN)
    await env.registry.register(svc("greeter", "v2", "b"), domain=DOMAIN)
    got = await env.registry.get_service("greeter", domain=DOMAIN)
    assert [(s.version, [n.id for n in s.nodes]) for s in got] == [("v1", ["a"]), ("v2", ["b"])]
    await env.registry.deregister(svc("greeter", "v1", "a"), domain=DOMAIN)
    assert [s.version for s in await env.registry.get_service("greeter", domain=DOMAIN)] == ["v2"]


async def test_nodes_merge_and_deregister_removes_only_the_given_ones(env: Env) -> None:
    await env.registry.register(svc("greeter", "latest", "a"), domain=DOMAIN)
    await env.registry.register(svc("greeter", "latest", "b"), domain=DOMAIN)
    [got] = await env.registry.get_service("greeter", domain=DOMAIN)
    assert sorted(n.id for n in got.nodes) == ["a", "b"]
    await env.registry.deregister(svc("greeter", "latest", "a"), domain=DOMAIN)
    [got] = await env.registry.get_service("greeter", domain=DOMAIN)
    assert [n.id for n in got.nodes] == ["b"]
    await env.registry.deregister(svc("greeter", "latest", "b"), domain=DOMAIN)
    assert await gone(env.registry, "greeter")
    assert await env.registry.list_services(domain=DOMAIN) == []


async def test_register_without_nodes_is_bad_request(env: Env) -> None:
    with pytest.raises(errors.BadRequest, match="at least one node"):
        await env.registry.register(Service(name="greeter"), domain=DOMAIN)
    assert await env.registry.list_services(domain=DOMAIN) == []


async def test_deregister_unknown_service_is_not_an_error(env: Env) -> None:
    await env.registry.deregister(svc("ghost"), domain=DOMAIN)
    assert await env.registry.list_services(domain=DOMAIN) == []


async def test_domains_are_isolated(env: Env) -> None:
    await env.registry.register(svc("greeter", "latest", "a"), domain="alpha")
    await env.registry.register(svc("other", "latest", "b"), domain="beta")
    assert [s.name for s in await env.registry.list_services(domain="alpha")] == ["greeter"]
    assert [s.name for s in await env.registry.list_services(domain="beta")] == ["other"]
    with pytest.raises(errors.NotFound):
        await env.registry.get_service("greeter", domain="beta")
    await env.registry.deregister(svc("greeter", "latest", "a"), domain="beta")
    assert [s.name for s in await env.registry.list_services(domain="alpha")] == ["greeter"]


async def test_node_lapses_after_its_ttl(env: Env) -> None:
    await env.registry.register(svc("greeter"), ttl=env.short_ttl, domain=DOMAIN)
    assert (await env.registry.get_service("greeter", domain=DOMAIN))[0].nodes
    env.lapse()
    await settled(lambda: gone(env.registry, "greeter"))
    assert await env.registry.list_services(domain=DOMAIN) == []


async def test_only_the_lapsed_node_goes_and_watchers_get_update_then_delete(env: Env) -> None:
    await env.registry.register(svc("greeter", "latest", "long"), ttl=300, domain=DOMAIN)
    watcher = await started(env.registry.watch(domain=DOMAIN))
    await env.registry.register(svc("greeter", "latest", "short"), ttl=env.short_ttl, domain=DOMAIN)
    assert (await next_result(watcher)).action == "update"
    env.lapse()

    async def only_long() -> bool:
        [got] = await env.registry.get_service("greeter", domain=DOMAIN)
        return [n.id for n in got.nodes] == ["long"]

    await settled(only_long)
    lapsed = await next_result(watcher)
    assert (lapsed.action, [n.id for n in lapsed.service.nodes]) == ("update", ["long"])
    await env.registry.deregister(svc("greeter", "latest", "long"), domain=DOMAIN)
    deleted = await next_result(watcher)
    assert (deleted.action, deleted.service.name, [n.id for n in deleted.service.nodes]) == (
        "delete",
        "greeter",
        ["long"],
    )
    await watcher.aclose()


async def test_watchers_get_delete_when_the_last_node_lapses(env: Env) -> None:
    watcher = await started(env.registry.watch(service="greeter", domain=DOMAIN))
    await env.registry.register(svc("greeter"), ttl=env.short_ttl, domain=DOMAIN)
    assert (await next_result(watcher)).action == "create"
    env.lapse()
    result = await next_result(watcher)
    assert (result.action, result.service.name, [n.id for n in result.service.nodes]) == (
        "delete",
        "greeter",
        ["n1"],
    )
    await watcher.aclose()


async def test_reregistering_refreshes_the_ttl() -> None:
    clock = FakeClock()
    registry = MemoryRegistry(clock=clock)
    await registry.register(svc("greeter"), ttl=10, domain=DOMAIN)
    clock.now += 6
    await registry.register(svc("greeter"), ttl=10, domain=DOMAIN)
    clock.now += 6
    assert await registry.get_service("greeter", domain=DOMAIN)
    clock.now += 5
    assert await gone(registry, "greeter")
    await registry.close()


async def test_watch_sees_create_update_delete_in_order(env: Env) -> None:
    watcher = await started(env.registry.watch(domain=DOMAIN))
    await env.registry.register(svc("greeter", "latest", "a"), domain=DOMAIN)
    await env.registry.register(svc("greeter", "latest", "a"), domain=DOMAIN)  # heartbeat: no event
    await env.registry.register(svc("greeter", "latest", "a", x="1"), domain=DOMAIN)
    await env.registry.register(svc("greeter", "latest", "b"), domain=DOMAIN)
    await env.registry.deregister(svc("greeter", "latest", "a", "b"), domain=DOMAIN)
    results = [await next_result(watcher) for _ in range(4)]
    assert [r.action for r in results] == ["create", "update", "update", "delete"]
    assert results[0].service == svc("greeter", "latest", "a")
    assert results[1].service.metadata == {"x": "1"}
    assert sorted(n.id for n in results[2].service.nodes) == ["a", "b"]
    assert results[2].service.metadata == {}
    assert results[3].timestamp >= results[0].timestamp > 0
    await watcher.aclose()


async def test_watch_filters_by_service_and_domain(env: Env) -> None:
    watcher = await started(env.registry.watch(service="greeter", domain=DOMAIN))
    await env.registry.register(svc("other"), domain=DOMAIN)
    await env.registry.register(svc("greeter"), domain="elsewhere")
    await env.registry.register(svc("greeter"), domain=DOMAIN)
    result = await next_result(watcher)
    assert (result.action, result.service.name) == ("create", "greeter")
    await watcher.aclose()


async def test_closing_a_watch_ends_it_and_frees_it(env: Env) -> None:
    watcher = await started(env.registry.watch(domain=DOMAIN))
    pending = asyncio.ensure_future(anext(watcher))
    await asyncio.sleep(0)  # let the read start
    await watcher.aclose()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(StopAsyncIteration):
        await anext(watcher)

    async def freed() -> bool:
        return not env.backend._watchers

    await settled(freed)


async def test_a_slow_watcher_never_blocks_register() -> None:
    registry = MemoryRegistry(watch_queue=2)
    watcher = registry.watch(domain=DOMAIN)
    for i in range(5):
        await asyncio.wait_for(registry.register(svc(f"s{i}"), domain=DOMAIN), 1)
    assert [(await anext(watcher)).service.name for _ in range(2)] == ["s0", "s1"]
    with pytest.raises(errors.Unavailable):
        await anext(watcher)
    assert not registry._watchers
    await registry.close()


async def test_grpc_register_rejects_bad_input(server: Any) -> None:
    client = GrpcRegistry(server.bound_address)
    try:
        with pytest.raises(errors.BadRequest, match="invalid service name"):
            await client.register(svc("Bad Name"), domain=DOMAIN)
        await client.register(svc("v1.foo-bar"), domain=DOMAIN)
    finally:
        await client.close()


@pytest.mark.parametrize("name", ["store", "registry", "auth", "events", "api"])
async def test_grpc_refuses_to_register_or_remove_a_core_services_name(server: Any, name: str) -> None:
    """A node registered as ``store`` would take calls meant for the store."""
    client = GrpcRegistry(server.bound_address)
    try:
        with pytest.raises(errors.Forbidden, match=f"'{name}' is reserved"):
            await client.register(svc(name))
        with pytest.raises(errors.Forbidden, match=f"'{name}' is reserved"):
            await client.deregister(svc(name))
        if name in ("store", "registry", "auth"):  # the core service is still there, untouched
            [core] = await client.get_service(name)
            assert [n.address for n in core.nodes] == [server.bound_address]
    finally:
        await client.close()


async def test_grpc_domain_defaults_to_the_callers_namespace(server: Any) -> None:
    mine = GrpcRegistry(server.bound_address, namespace="team")
    try:
        await mine.register(svc("greeter"))
        assert [s.name for s in await mine.list_services()] == ["greeter"]
        assert [s.name for s in await server.backends.registry.list_services(domain="team")] == ["greeter"]
        assert "greeter" not in [s.name for s in await server.backends.registry.list_services(domain="micro")]
    finally:
        await mine.close()


async def test_server_lists_its_core_services_with_schemas(server: Any) -> None:
    client = GrpcRegistry(server.bound_address)
    try:
        names = [s.name for s in await client.list_services()]
        assert {"registry", "store"} <= set(names)
        assert names == sorted(names)
        [store] = await client.get_service("store")
        [node] = store.nodes
        assert node.address == server.bound_address
        read = next(e for e in store.endpoints if e.name == "Store.Read")
        assert (read.method, read.request_type) == ("/store.Store/Read", "store.ReadRequest")
        assert read.request is not None and any(v.name == "key" for v in read.request.values)
        pool = pool_from_descriptor_set(store.descriptor_set)
        assert pool.FindMessageTypeByName("store.ReadRequest").fields_by_name["key"].type == 9
        [registry] = await client.get_service("registry")
        watch = next(e for e in registry.endpoints if e.name == "Registry.Watch")
        assert watch.streaming is Streaming.SERVER
    finally:
        await client.close()
