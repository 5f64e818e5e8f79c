"""Dynamic JSON ⇄ protobuf calls from registered schemas, against a real in-process server."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from micro import errors
from micro.client import dynamic
from micro.proto.debug import debug_pb2
from micro.registry.schema import describe


def _debug_schema(version: str = "latest") -> dynamic.Schema:
    service = describe("debug", [debug_pb2.DESCRIPTOR.services_by_name["Debug"]], address="x:1")
    return dynamic.Schema(replace(service, version=version))


def test_encode_then_decode_uses_proto_names_defaults_and_int64_strings() -> None:
    method = dynamic.find_endpoint([_debug_schema()], "Debug.Stats")
    assert method.path == "/debug.Debug/Stats"
    raw = debug_pb2.StatsResponse(uptime=5, memory=2**40).SerializeToString()
    stats = dynamic.Schema(describe("x", [debug_pb2.DESCRIPTOR.services_by_name["Debug"]], address="x:1"))
    got = dynamic.decode(stats.method("Debug.Stats"), raw)
    assert got["uptime"] == "5" and got["memory"] == str(2**40)
    assert got["requests"] == "0"  # defaults included
    log = dynamic.find_endpoint([_debug_schema()], "Debug.Log")
    request = debug_pb2.LogRequest.FromString(dynamic.encode(log, '{"count": 3, "stream": true}'))
    assert request.count == 3 and request.stream


def test_decoded_fields_keep_the_order_of_the_proto() -> None:
    # set fields came first and defaults after, so keys jumped around with the values
    from micro.proto.store import store_pb2

    stats = dynamic.find_endpoint([_debug_schema()], "Debug.Stats")
    got = dynamic.decode(stats, debug_pb2.StatsResponse(requests=3, started=1).SerializeToString())
    assert list(got) == [f.name for f in debug_pb2.StatsResponse.DESCRIPTOR.fields]
    store = dynamic.Schema(describe("store", [store_pb2.DESCRIPTOR.services_by_name["Store"]], address="x:1"))
    reply = store_pb2.ReadResponse(records=[store_pb2.Record(key="k", version=2, metadata={"a": "b"})])
    records = dynamic.decode(store.method("Store.Read"), reply.SerializeToString())["records"]
    assert list(records[0]) == ["key", "value", "expiry", "metadata", "version"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"count": "abc"}', "count"),
        ('{"nosuch": 1}', "nosuch"),
        ('{"count": 1', "Error creating request: "),
    ],
)
def test_malformed_request_is_bad_request_naming_the_problem(text: str, needle: str) -> None:
    method = dynamic.find_endpoint([_debug_schema()], "Debug.Log")
    with pytest.raises(errors.BadRequest) as info:
        dynamic.encode(method, text)
    assert info.value.detail.startswith("Error creating request: ")
    assert needle in info.value.detail


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('{"nosuch": 1}', 'unknown field "nosuch" (store.WriteRequest has: record, options)'),
        ('{"record": "k"}', 'field "record": expected an object, got "k"'),
        ('{"record": {"key": 5}}', 'field "record.key": expected a string, got 5'),
        ('{"record": {"expiry": "soon"}}', 'field "record.expiry": expected a 64-bit integer, got "soon"'),
        ('{"record": {"metadata": {"a": []}}}', 'field "record.metadata[a]": expected a string, got a list'),
        ('{"record": {"kee": "k"}}', 'unknown field "record.kee" (store.Record has: key, value, expiry,'),
    ],
)
def test_a_request_that_does_not_fit_names_the_field_in_one_line(text: str, detail: str) -> None:
    """The CLI and the HTTP gateway say which field is wrong and how, not protobuf's parser
    (``expected string or bytes-like object, got 'int'``, ``invalid literal for int()``)."""
    from micro.proto.store import store_pb2

    store = dynamic.Schema(describe("store", [store_pb2.DESCRIPTOR.services_by_name["Store"]], address="x:1"))
    with pytest.raises(errors.BadRequest) as info:
        dynamic.encode(store.method("Store.Write"), text)
    assert info.value.detail.startswith(f"Error creating request: {detail}"), info.value.detail


@pytest.mark.parametrize("text", ["", "  ", "\n"])
def test_an_empty_or_blank_request_is_the_empty_message(text: str) -> None:
    # "" was {} but "  " (an empty variable in a script) was "Expecting value: line 1 column 3"
    method = dynamic.find_endpoint([_debug_schema()], "Debug.Log")
    assert dynamic.encode(method, text) == b""


@pytest.mark.parametrize("name", ["Call", "a.b.c", ".Call", "Debug."])
def test_malformed_method_name(name: str) -> None:
    with pytest.raises(dynamic.InvalidMethodName) as info:
        dynamic.find_endpoint([_debug_schema()], name)
    assert info.value.detail == f'Method name "{name}" invalid format. Expecting service.endpoint'


def test_unknown_endpoint() -> None:
    with pytest.raises(errors.NotImplementedError_) as info:
        dynamic.find_endpoint([_debug_schema()], "Debug.Nosuch", service="debug")
    assert info.value.detail == "Endpoint Debug.Nosuch not found for service debug"


def test_each_version_has_its_own_pool() -> None:
    one, two = _debug_schema("v1"), _debug_schema("v2")
    assert one.pool is not two.pool
    assert dynamic.find_endpoint([one, two], "Debug.Health").version == "v1"


async def test_call_core_store_write_then_read(server: object) -> None:
    address = server.bound_address  # type: ignore[attr-defined]
    value = base64.b64encode(b"hello").decode()
    written = await dynamic.call(
        address, "store", "Store.Write", f'{{"record":{{"key":"k","value":"{value}"}}}}'
    )
    assert written == {"version": "1"}
    got = await dynamic.call(address, "store", "Store.Read", {"key": "k"})
    assert got["records"][0]["key"] == "k"
    assert base64.b64decode(got["records"][0]["value"]) == b"hello"
    assert got["records"][0]["metadata"] == {}  # defaults included


async def test_stream_core_store_list(server: object) -> None:
    address = server.bound_address  # type: ignore[attr-defined]
    for key in ("a", "b", "c"):
        await dynamic.call(address, "store", "Store.Write", {"record": {"key": key}})
    keys: list[str] = []
    async for item in dynamic.stream(address, "store", "Store.List", "{}"):
        keys.extend(item["keys"])
    assert keys == ["a", "b", "c"]


async def test_unknown_service_and_endpoint(server: object) -> None:
    address = server.bound_address  # type: ignore[attr-defined]
    with pytest.raises(errors.NotImplementedError_, match=r'^Service "nosuch" not found$'):
        await dynamic.call(address, "nosuch", "Foo.Bar")
    with pytest.raises(
        errors.NotImplementedError_, match=r"^Endpoint Store.Nosuch not found for service store$"
    ):
        await dynamic.call(address, "store", "Store.Nosuch")


async def test_schema_is_cached_between_processes(server: object) -> None:
    address = server.bound_address  # type: ignore[attr-defined]
    first = dynamic.Schemas(address)
    await first.method("store", "Store.Read")
    assert first.is_fresh("store")
    await first.close()
    second = dynamic.Schemas(address)
    method = await second.method("store", "Store.Read")
    assert not second.is_fresh("store")  # served from MICRO_HOME/cache, no registry call
    assert method.request.DESCRIPTOR.full_name == "store.ReadRequest"


async def test_stale_cached_schema_is_refreshed_on_a_missing_endpoint(server: object) -> None:
    address = server.bound_address  # type: ignore[attr-defined]
    schemas = dynamic.Schemas(address)
    services = await schemas.fetch("store")
    # a cache written before the service gained Store.Read
    stale = [replace(s, endpoints=[e for e in s.endpoints if e.name != "Store.Read"]) for s in services]
    schemas._store("store", "", stale)
    await schemas.close()
    again = dynamic.Schemas(address)
    assert (await again.method("store", "Store.Read")).name == "Store.Read"
    assert again.is_fresh("store")
    await again.close()


async def test_node_without_the_method_is_endpoint_not_found(server: object) -> None:
    import grpc

    address = server.bound_address  # type: ignore[attr-defined]
    # the store node answers a method path it does not serve with grpc's own UNIMPLEMENTED
    endpoint = replace(_debug_schema().method("Debug.Health").endpoint, method="/store.Store/Nosuch")
    method = replace(_debug_schema().method("Debug.Health"), service="store", endpoint=endpoint)
    async with grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(errors.MicroError) as info:
            await dynamic.invoke(channel, method, b"", address=address, timeout=5)
    assert info.value.detail == "Endpoint Debug.Health not found for service store"


def _echo_service(*, side_effect_free: bool = False) -> object:
    """``echo.Echo/Chat``: a bidi stream over a tiny hand-built proto (no codegen)."""
    from google.protobuf import descriptor_pb2, descriptor_pool

    f = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="echo/echo.proto", package="echo", syntax="proto3")
    msg = fdp.message_type.add(name="Msg")
    msg.field.add(name="text", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    svc = fdp.service.add(name="Echo")
    chat = svc.method.add(name="Chat", input_type=".echo.Msg", output_type=".echo.Msg", client_streaming=True)
    chat.server_streaming = True
    if side_effect_free:
        chat.options.idempotency_level = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return pool.FindServiceByName("echo.Echo")


async def test_bidi_stream_sends_each_request_as_it_comes_through_the_proxy(server: object) -> None:
    import asyncio

    import grpc
    from google.protobuf import message_factory

    from micro.registry.grpc import GrpcRegistry

    address = server.bound_address  # type: ignore[attr-defined]
    descriptor = _echo_service()
    msg = message_factory.GetMessageClass(descriptor.methods_by_name["Chat"].input_type)  # type: ignore[attr-defined]
    received: list[str] = []

    async def chat(requests: object, context: object) -> object:
        async for raw in requests:  # type: ignore[attr-defined]
            text = msg.FromString(raw).text
            received.append(text)
            yield msg(text=text.upper()).SerializeToString()

    node = grpc.aio.server()
    handler = grpc.stream_stream_rpc_method_handler(chat)
    node.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("echo.Echo", {"Chat": handler})])
    port = node.add_insecure_port("127.0.0.1:0")
    await node.start()
    registry = GrpcRegistry(address)
    await registry.register(describe("echo", [descriptor], address=f"127.0.0.1:{port}"))  # type: ignore[list-item]
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def requests() -> object:
        while (item := await queue.get()) is not None:
            yield item

    try:
        replies = dynamic.stream(address, "echo", "Echo.Chat", requests=requests(), timeout=10)  # type: ignore[arg-type]
        await queue.put('{"text": "one"}')
        # the reply to the first message arrives while the sending side is still open
        assert await anext(replies) == {"text": "ONE"}
        await queue.put('{"text": "two"}')
        assert await anext(replies) == {"text": "TWO"}
        await queue.put(None)  # close the sending side: the stream ends
        assert [r async for r in replies] == []
        assert received == ["one", "two"]
    finally:
        await registry.close()
        await node.stop(0)


async def test_a_service_gone_since_its_schema_was_cached_is_service_not_found(server: object) -> None:
    # the CLI said "Endpoint Echo.Chat not found for service echo" for a service that had left
    from micro.registry.grpc import GrpcRegistry

    address = server.bound_address  # type: ignore[attr-defined]
    registry = GrpcRegistry(address)
    entry = describe("echo", [_echo_service()], address="127.0.0.1:9")  # type: ignore[list-item]
    await registry.register(entry)
    schemas = dynamic.Schemas(address)
    await schemas.fetch("echo")  # cached in MICRO_HOME/cache
    await schemas.close()
    await registry.deregister(entry)
    await registry.close()
    with pytest.raises(errors.NotImplementedError_) as info:
        async for _ in dynamic.stream(address, "echo", "Echo.Chat", "{}", timeout=5):
            pass
    assert info.value.detail.lower() == 'service "echo" not found'


async def test_a_handlers_own_not_implemented_keeps_its_detail(server: object) -> None:
    # a handler raising NotImplementedError_ (or relaying one from a call it made) was
    # reported as "Endpoint X not found for service Y"
    import grpc

    from micro._grpc import abort
    from micro.registry.grpc import GrpcRegistry

    async def chat(requests: object, context: object) -> object:
        await abort(context, errors.NotImplementedError_("chat is not ready yet"))
        yield b""  # pragma: no cover - abort raises

    node = grpc.aio.server()
    handler = grpc.stream_stream_rpc_method_handler(chat)
    node.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("echo.Echo", {"Chat": handler})])
    port = node.add_insecure_port("127.0.0.1:0")
    await node.start()
    address = server.bound_address  # type: ignore[attr-defined]
    registry = GrpcRegistry(address)
    await registry.register(describe("echo", [_echo_service()], address=f"127.0.0.1:{port}"))  # type: ignore[list-item]
    try:
        with pytest.raises(errors.NotImplementedError_) as info:
            async for _ in dynamic.stream(address, "echo", "Echo.Chat", "{}", timeout=5):
                pass
        assert info.value.detail == "chat is not ready yet"
    finally:
        await registry.close()
        await node.stop(0)


async def test_a_service_found_in_the_micro_domain_is_called_there(server: object) -> None:
    # `micro --namespace foo helloworld` finds helloworld in namespace micro (as v3 does),
    # but the call went to namespace foo: "Endpoint Helloworld.Call not found"
    import grpc

    from micro.registry.grpc import GrpcRegistry

    async def chat(requests: object, context: object) -> object:
        async for raw in requests:  # type: ignore[attr-defined]
            yield raw

    node = grpc.aio.server()
    handler = grpc.stream_stream_rpc_method_handler(chat)
    node.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("echo.Echo", {"Chat": handler})])
    port = node.add_insecure_port("127.0.0.1:0")
    await node.start()
    address = server.bound_address  # type: ignore[attr-defined]
    registry = GrpcRegistry(address)
    await registry.register(describe("echo", [_echo_service()], address=f"127.0.0.1:{port}"))  # type: ignore[list-item]
    try:
        replies = dynamic.stream(
            address, "echo", "Echo.Chat", '{"text": "hi"}', namespace="foo", domain="micro", timeout=5
        )
        assert [r async for r in replies] == [{"text": "hi"}]
    finally:
        await registry.close()
        await node.stop(0)


async def test_a_read_only_env_sends_only_side_effect_free_calls_rechecking_a_cached_schema(
    server: object,
) -> None:
    from functools import partial

    import grpc

    from micro import environment
    from micro.registry.grpc import GrpcRegistry

    received: list[bytes] = []

    async def chat(requests: object, context: object) -> object:
        async for raw in requests:  # type: ignore[attr-defined]
            received.append(raw)
            yield raw

    node = grpc.aio.server()
    handler = grpc.stream_stream_rpc_method_handler(chat)
    node.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("echo.Echo", {"Chat": handler})])
    port = node.add_insecure_port("127.0.0.1:0")
    await node.start()
    address = server.bound_address  # type: ignore[attr-defined]
    prod = environment.Environment("prod", address, read_only=True)
    guard = partial(environment.refuse_unless_side_effect_free, environment.Context(prod, address, "micro"))
    registry = GrpcRegistry(address)
    await registry.register(describe("echo", [_echo_service()], address=f"127.0.0.1:{port}"))  # type: ignore[list-item]
    try:
        with pytest.raises(errors.BadRequest) as info:
            async for _ in dynamic.stream(address, "echo", "Echo.Chat", '{"text": "hi"}', guard=guard):
                pass
        assert info.value.detail == "Environment 'prod' is read-only"
        assert received == []  # refused before anything was sent
        # the service now marks Chat side-effect free; the cached schema predates the mark
        marked = _echo_service(side_effect_free=True)
        await registry.register(describe("echo", [marked], address=f"127.0.0.1:{port}"))  # type: ignore[list-item]
        replies = dynamic.stream(address, "echo", "Echo.Chat", '{"text": "hi"}', guard=guard, timeout=5)
        assert [r async for r in replies] == [{"text": "hi"}]
    finally:
        await registry.close()
        await node.stop(0)


async def test_a_read_only_refusal_stands_when_the_registry_cannot_recheck_the_cached_schema(
    micro_home: object,
) -> None:
    from functools import partial
    from pathlib import Path

    from micro import environment
    from micro.registry.grpc import GrpcRegistry
    from server.app import Server

    srv = Server(
        data_dir=Path(str(micro_home)) / "server", address="127.0.0.1:0", profile="local", auth=False
    )
    await srv.start()
    address = srv.bound_address
    try:
        registry = GrpcRegistry(address)
        await registry.register(describe("echo", [_echo_service()], address="127.0.0.1:9"))  # type: ignore[list-item]
        await registry.close()
        schemas = dynamic.Schemas(address)
        await schemas.fetch("echo")  # cached in MICRO_HOME/cache
        await schemas.close()
    finally:
        await srv.stop(grace=0)
    prod = environment.Context(environment.Environment("prod", address, read_only=True), address, "micro")
    guard = partial(environment.refuse_unless_side_effect_free, prod)
    with pytest.raises(errors.BadRequest) as info:  # not "cannot reach the server"
        async for _ in dynamic.stream(address, "echo", "Echo.Chat", "{}", guard=guard, timeout=5):
            pass
    assert info.value.detail == "Environment 'prod' is read-only"


@pytest.mark.parametrize(
    ("method", "metadata", "refused"),
    [
        ("/store.Store/Write", {}, True),
        ("/demo.Demo/Put", {"idempotency": "IDEMPOTENT"}, True),  # idempotent still changes state
        ("/demo.Demo/Get", {"idempotency": "NO_SIDE_EFFECTS"}, False),
        # the session calls: login, silent refresh, logout
        ("/auth.Auth/Token", {}, False),
        ("/auth.Auth/Inspect", {}, False),
        ("/auth.Auth/PublicKey", {}, False),
        ("/auth.Auth/Revoke", {}, False),
        ("/auth.Auth/Generate", {}, True),
    ],
)
def test_a_read_only_env_lets_through_side_effect_free_and_session_calls_only(
    method: str, metadata: dict[str, str], refused: bool
) -> None:
    from micro import environment
    from micro.registry import Endpoint

    endpoint = Endpoint(name="X.Y", method=method, metadata=metadata)
    prod = environment.Environment("prod", "h:1", read_only=True)
    check = environment.refuse_unless_side_effect_free
    if refused:
        with pytest.raises(errors.BadRequest, match=r"^Environment 'prod' is read-only$"):
            check(environment.Context(prod, "h:1", "micro"), endpoint)
    else:
        check(environment.Context(prod, "h:1", "micro"), endpoint)
    check(environment.Context(replace(prod, read_only=False), "h:1", "micro"), endpoint)  # writable: all go
