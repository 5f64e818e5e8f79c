"""What one request may ask of the server (``micro.settings.Limits``): each limit is a
one-line INVALID_ARGUMENT or RESOURCE_EXHAUSTED naming the field and the limit, and a
client's mistake is never INTERNAL."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from micro import errors
from micro._debug import Counters, ServiceHandlers
from micro._grpc import ERROR_KEY, ErrorInterceptor, WrappingServer, metadata_value
from micro.proto.auth import auth_pb2, auth_pb2_grpc
from micro.proto.config import config_pb2, config_pb2_grpc
from micro.proto.registry import registry_pb2, registry_pb2_grpc
from micro.proto.store import store_pb2, store_pb2_grpc
from micro.settings import Limits, limits
from server import serving
from tests._poll import eventually

RESOURCE = grpc.StatusCode.RESOURCE_EXHAUSTED
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
async def channel(server: Any) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.bound_address) as channel:
        yield channel


async def refused(call: Any) -> tuple[grpc.StatusCode, str]:
    """The status and detail of a call that must fail, after checking the detail is one line
    and the micro-error trailer carries it."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    err = info.value
    detail = err.details() or ""
    assert "\n" not in detail
    trailer = metadata_value(err.trailing_metadata(), ERROR_KEY)
    assert trailer is not None and json.loads(trailer)["detail"] == detail
    return err.code(), detail


def service(name: str = "big", *, nodes: int = 1, endpoints: int = 0, **fields: Any) -> registry_pb2.Service:
    return registry_pb2.Service(
        name=name,
        nodes=[registry_pb2.Node(id=f"{name}-{i}", address=f"127.0.0.1:{1000 + i}") for i in range(nodes)],
        endpoints=[registry_pb2.Endpoint(name=f"E.M{i}") for i in range(endpoints)],
        **fields,
    )


# -- settings ---------------------------------------------------------------------------------


def test_limits_come_from_micro_limit_variables() -> None:
    assert Limits.from_env({}) == Limits()
    assert Limits().descriptor_bytes == 4 * 1024 * 1024
    got = Limits.from_env({"MICRO_LIMIT_NODES": "7", "MICRO_LIMIT_WATCHES": "1_000"})
    assert (got.nodes, got.watches, got.endpoints) == (7, 1000, 1000)


@pytest.mark.parametrize("raw", ["many", "0", "-3", "1.5"])
def test_a_bad_limit_names_the_variable(raw: str) -> None:
    with pytest.raises(errors.BadRequest, match=r"^MICRO_LIMIT_ENDPOINTS must be"):
        Limits.from_env({"MICRO_LIMIT_ENDPOINTS": raw})


# -- registry ---------------------------------------------------------------------------------


async def test_registration_limits(channel: grpc.aio.Channel) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    lim = limits()
    big_set = b"\x00" * (lim.descriptor_bytes + 1)
    assert await refused(stub.Register(service(descriptor_set=big_set))) == (
        RESOURCE,
        f"descriptor set too large: {len(big_set)} bytes (limit {lim.descriptor_bytes})",
    )
    assert await refused(stub.Register(service(endpoints=lim.endpoints + 1))) == (
        RESOURCE,
        f"too many endpoints: {lim.endpoints + 1} (limit {lim.endpoints})",
    )
    assert await refused(stub.Register(service(nodes=lim.nodes + 1))) == (
        RESOURCE,
        f"too many nodes: {lim.nodes + 1} (limit {lim.nodes})",
    )
    wide = service(endpoints=1)
    wide.endpoints[0].request.values.extend(
        registry_pb2.Value(name=f"f{i}") for i in range(lim.schema_values)
    )
    code, detail = await refused(stub.Register(wide))
    assert (code, detail) == (
        RESOURCE,
        f"endpoint schemas too large: more than {lim.schema_values} values (limit {lim.schema_values})",
    )
    long_ttl = service(options=registry_pb2.Options(ttl=lim.registry_ttl + 1))
    assert await refused(stub.Register(long_ttl)) == (
        INVALID,
        f"ttl too long: {lim.registry_ttl + 1} seconds (limit {lim.registry_ttl})",
    )
    long_id = service()
    long_id.nodes[0].id = "n" * 256
    assert await refused(stub.Register(long_id)) == (INVALID, "node id too long: 256 characters (limit 255)")
    fat = service()
    fat.nodes[0].metadata["k"] = "v" * lim.metadata_bytes
    code, detail = await refused(stub.Register(fat))
    assert code == RESOURCE and detail.startswith("metadata of node big-0 too large")
    # exactly at the limits is fine
    await stub.Register(
        service(nodes=lim.nodes, endpoints=lim.endpoints, options=registry_pb2.Options(ttl=300))
    )


async def test_nodes_are_limited_per_version_across_registrations(channel: grpc.aio.Channel) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    lim = limits()
    await stub.Register(service(nodes=lim.nodes))
    more = service(nodes=1)
    more.nodes[0].id = "one-more"
    code, detail = await refused(stub.Register(more))
    assert (code, detail) == (
        RESOURCE,
        f"too many nodes: big latest would have {lim.nodes + 1} (limit {lim.nodes})",
    )
    await stub.Register(service(nodes=3))  # the same nodes again: a heartbeat


async def test_listing_stays_small_however_large_the_registrations(channel: grpc.aio.Channel) -> None:
    """120 registrations of 200 KB made ListServices exceed 16 MiB for every caller."""
    stub = registry_pb2_grpc.RegistryStub(channel)
    for i in range(120):
        await stub.Register(service(f"svc{i}", endpoints=10, descriptor_set=b"\x00" * 200_000))
    call = stub.ListServices(registry_pb2.ListRequest())
    listed = (await call).services
    assert {f"svc{i}" for i in range(120)} <= {s.name for s in listed}
    assert sum(s.ByteSize() for s in listed) < 100_000
    assert all(not s.descriptor_set and not s.endpoints for s in listed)
    assert [n.id for s in listed if s.name == "svc7" for n in s.nodes] == ["svc7-0"]
    [full] = (await stub.GetService(registry_pb2.GetRequest(service="svc7"))).services
    assert (len(full.endpoints), len(full.descriptor_set)) == (10, 200_000)


# -- watches ----------------------------------------------------------------------------------


async def test_a_caller_may_hold_a_limited_number_of_watches(channel: grpc.aio.Channel) -> None:
    registry = registry_pb2_grpc.RegistryStub(channel)
    config = config_pb2_grpc.ConfigStub(channel)
    lim = limits().watches
    held = []
    for i in range(lim):  # registry and config watches count together
        call = (
            registry.Watch(registry_pb2.WatchRequest()) if i % 2 else config.Watch(config_pb2.WatchRequest())
        )
        await call.initial_metadata()
        held.append(call)
    for extra in (registry.Watch(registry_pb2.WatchRequest()), config.Watch(config_pb2.WatchRequest())):
        assert await refused(extra.read()) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"too many open watches: {lim} (limit {lim} per caller)",
        )
    held.pop().cancel()
    # the cancelled watch's slot is freed when its handler ends
    probes = itertools.count()
    admitted: list[Any] = []

    async def a_watch_is_admitted() -> bool:
        name = f"probe{next(probes)}"
        call = registry.Watch(registry_pb2.WatchRequest())
        await registry.Register(service(name))
        try:
            assert (await call.read()).service.name == name
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            return False
        admitted.append(call)
        return True

    await eventually(a_watch_is_admitted, "a cancelled watch gives its slot back")
    for call in held + admitted:
        call.cancel()


# -- config -----------------------------------------------------------------------------------


async def test_config_nesting_depth_and_text_are_checked(channel: grpc.aio.Channel) -> None:
    stub = config_pb2_grpc.ConfigStub(channel)
    depth = limits().config_depth

    def nested(levels: int) -> str:
        return '{"a":' * levels + "1" + "}" * levels

    def set_(path: str, data: str) -> Any:
        return stub.Set(config_pb2.SetRequest(path=path, value=config_pb2.Value(data=data)))

    await set_("ok", nested(depth - 1))  # the path's key is a level too
    for data in (nested(depth), nested(500), "[" * 5000 + "]" * 5000):
        assert await refused(set_("deep", data)) == (
            INVALID,
            f"value nested too deeply (limit {depth} levels)",
        )
    assert await refused(set_("a." * 40 + "b", nested(30))) == (
        INVALID,
        f"value nested too deeply (limit {depth} levels)",
    )
    for data in ('"\\ud800"', '{"\\udfff": 1}', '["x", "\\ud800"]'):
        assert await refused(set_("text", data)) == (
            INVALID,
            "invalid value: a string holds a lone surrogate (not Unicode text)",
        )
    assert await refused(set_("p" * 256, "1")) == (INVALID, "path too long: 256 characters (limit 255)")
    # the document still reads: nothing past the limits got in
    root = json.loads((await stub.Get(config_pb2.GetRequest(path=""))).value.data)
    assert set(root) == {"ok"}


# -- store ------------------------------------------------------------------------------------


async def test_store_version_names_and_metadata(channel: grpc.aio.Channel) -> None:
    stub = store_pb2_grpc.StoreStub(channel)

    def write(**options: Any) -> Any:
        record = store_pb2.Record(key="k", value=b"v", metadata=options.pop("metadata", {}))
        return stub.Write(store_pb2.WriteRequest(record=record, options=store_pb2.WriteOptions(**options)))

    assert await refused(write(version=2**63)) == (
        INVALID,
        f"version out of range: {2**63} (limit {2**63 - 1})",
    )
    assert await refused(write(version=2**64 - 1)) == (
        INVALID,
        f"version out of range: {2**64 - 1} (limit {2**63 - 1})",
    )
    assert await refused(write(table="t" * 256)) == (INVALID, "table too long: 256 characters (limit 255)")
    assert await refused(write(database="d" * 256)) == (
        INVALID,
        "database too long: 256 characters (limit 255)",
    )
    code, detail = await refused(write(metadata={"m": "x" * limits().metadata_bytes}))
    assert code == RESOURCE and detail.startswith("record metadata too large")
    assert (await write(version=0)).version == 1  # within the limits all is as before


# -- auth -------------------------------------------------------------------------------------


async def test_account_metadata_and_id_lengths(auth_channel: grpc.aio.Channel, admin: Any) -> None:
    stub = auth_pb2_grpc.AuthStub(auth_channel)

    def generate(**fields: Any) -> Any:
        return stub.Generate(auth_pb2.GenerateRequest(secret="s3cret-enough", **fields), metadata=admin)

    lim = limits().metadata_bytes
    code, detail = await refused(generate(id="fat", metadata={"k": "v" * lim}))
    assert (code, detail) == (RESOURCE, f"account metadata too large: {lim + 1} bytes (limit {lim})")
    assert await refused(generate(id="i" * 256)) == (INVALID, "id too long: 256 characters (limit 255)")
    assert (await generate(id="fits", metadata={"k": "v" * (lim - 1)})).account.id == "fits"


@pytest.fixture
async def auth_channel(micro_home: Any) -> AsyncIterator[grpc.aio.Channel]:
    from server.app import Server

    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test", auth=True)
    await srv.start()
    try:
        async with grpc.aio.insecure_channel(srv.bound_address) as channel:
            yield channel
    finally:
        await srv.stop(grace=0)


@pytest.fixture
async def admin(auth_channel: grpc.aio.Channel) -> tuple[tuple[str, str], ...]:
    stub = auth_pb2_grpc.AuthStub(auth_channel)
    reply = await stub.Token(auth_pb2.TokenRequest(id="admin", secret="micro"))
    return (("authorization", f"Bearer {reply.token.access_token}"),)


# -- malformed requests -----------------------------------------------------------------------


async def test_a_request_that_does_not_parse_is_invalid_argument(channel: grpc.aio.Channel) -> None:
    for method, data in [
        ("/store.Store/Write", b"\x0a\x05ab"),  # truncated
        ("/store.Store/Read", b"\x0a\x02\xff\xfe"),  # invalid UTF-8 in the key
        ("/registry.Registry/Watch", b"\x0a\x01\x80"),  # a stream's request
        ("/debug.Debug/Health", b"\xff"),
    ]:
        if method.endswith("Watch"):
            call: Any = channel.unary_stream(method)(data).read()
        else:
            call = channel.unary_unary(method)(data)
        assert await refused(call) == (INVALID, "malformed request")


# -- caches -----------------------------------------------------------------------------------


async def test_made_up_method_names_do_not_grow_the_caches() -> None:
    """100,000 anonymous calls to made-up methods grew a server from 73 to 822 MiB."""
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: request)

    async def served(details: Any) -> Any:
        return handler

    class Answers(grpc.GenericRpcHandler):  # type: ignore[misc]
        """Answers every method, as the proxy does."""

        def service(self, details: Any) -> Any:
            return handler

    core = serving.grpc_server(Counters(), None)  # the micro server's
    service = WrappingServer(grpc.aio.server(), ServiceHandlers(Counters()).wrap)  # a service's
    for server in (core, service):
        server.add_generic_rpc_handlers((Answers(),))
    errors_ = ErrorInterceptor()
    for i in range(20_000):
        details = SimpleNamespace(method=f"/store.Made{i}/Up", invocation_metadata=())
        for server in (core, service):
            assert server._methods.service(details) is not None  # the one generic handler grpc asks
        assert await errors_.intercept_service(served, details) is not None
    assert core.cache_size() == 1024
    assert service.cache_size() == 1024
    assert len(errors_._cache) == 1024


async def test_a_bad_limit_stops_the_server_at_start(
    micro_home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.app import Server, ServerError

    monkeypatch.setenv("MICRO_LIMIT_NODES", "lots")
    limits.cache_clear()
    try:
        srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test")
        with pytest.raises(ServerError, match=r"^MICRO_LIMIT_NODES must be a whole number, not 'lots'$"):
            await srv.start()
        await srv.stop(grace=0)
    finally:
        monkeypatch.delenv("MICRO_LIMIT_NODES")
        limits.cache_clear()
