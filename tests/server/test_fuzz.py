"""Every core RPC, fuzzed: a client's mistake is never INTERNAL/UNKNOWN and never leaves a
traceback in the server's log.

A real server (auth on) runs on a loop of its own in a thread; Hypothesis calls each method
of every service the server hosts (read from the services' descriptors, so new RPCs are
fuzzed too) as an admin, through generic callables that send bytes as they are: raw random
bytes (truncated messages, invalid UTF-8 in strings, wrong wire types), and messages built
from random field values (extreme integers, unknown enum numbers, hostile JSON in config
values). Streaming RPCs get one message and are cancelled once they answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micro.proto.auth import auth_pb2
from micro.proto.config import config_pb2
from micro.proto.debug import debug_pb2
from micro.proto.events import events_pb2
from micro.proto.registry import registry_pb2
from micro.proto.store import store_pb2

SERVER_START_SECONDS = 30
CALL_SECONDS = 10

# values a config or JSON field gets besides random text: what broke the server before
HOSTILE_JSON = [
    '"\\ud800"',
    '{"a": "\\udfff"}',
    '{"\\ud800": 1}',
    "[" * 500 + "]" * 500,
    '{"a":' * 300 + "1" + "}" * 300,
    '{"a":' * 70 + "1" + "}" * 70,
    "[" * 5000 + "]" * 5000,
    "1e999",
    "NaN",
    '{"$secret": "x"}',
    "{}",
    "",
]

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from([lo, hi, 0, 1, -1 if lo < 0 else 2, 2**63 if hi > 2**63 else hi]), st.integers(lo, hi)
    )


_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(max_size=300),
    st.sampled_from(["", ".", "..", "a..b", "_auth", "micro", "admin", "$secret", "a" * 300, "/" * 10]),
    st.sampled_from(HOSTILE_JSON),
)


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in _INT_RANGES:
        return _ints(*_INT_RANGES[kind])
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return st.floats(width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    if kind == FieldDescriptor.TYPE_STRING:
        return _TEXT
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=100)
    if kind == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-5, 100))
    raise AssertionError(f"unhandled field type {kind}")


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with a random subset of fields set to random values."""
    cls = GetMessageClass(descriptor)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                key, value = field.message_type.fields
                if value.type == FieldDescriptor.TYPE_MESSAGE:
                    continue
                fields[field.name] = st.dictionaries(_scalar(key), _scalar(value), max_size=3)
                continue
            if depth >= 3:
                continue
            one: st.SearchStrategy[Any] = st.deferred(lambda f=field: messages(f.message_type, depth + 1))
        else:
            one = _scalar(field)
        repeated = field.is_repeated
        fields[field.name] = st.lists(one, max_size=3) if repeated else one

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            target = getattr(message, name) if hasattr(message, name) else None
            field = descriptor.fields_by_name[name]
            if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
                target.update(value)
            elif field.is_repeated:
                target.extend(value)
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                target.CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    return st.fixed_dictionaries({}, optional=fields).map(build)


class ServerThread:
    """A real micro server (auth on) serving from an event loop in a thread of its own."""

    def __init__(self, data_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzzed-server", daemon=True)
        self.data_dir = data_dir
        self.server: Any = None

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(SERVER_START_SECONDS)

    def start(self) -> str:
        from server.app import Server

        self.thread.start()
        self.server = Server(data_dir=self.data_dir, address="127.0.0.1:0", profile="test", auth=True)
        return str(self.run(self.server.start()))

    def stop(self) -> None:
        self.run(self.server.stop(grace=0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(SERVER_START_SECONDS)
        self.loop.close()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, grpc.Channel, Any]]:
    """The server, a channel to it and the metadata of its admin."""
    from micro.auth.grpc import GrpcAuth

    thread = ServerThread(tmp_path_factory.mktemp("fuzz") / "server")
    address = thread.start()

    async def admin_token() -> str:
        auth = GrpcAuth(address, namespace="micro")
        try:
            return (await auth.token(id="admin", secret="micro", namespace="micro")).access_token
        finally:
            await auth.close()

    token = asyncio.run(admin_token())
    channel = grpc.insecure_channel(address)
    metadata = (("authorization", f"Bearer {token}"),)
    # the admin's calls reach the handlers (else the fuzzing would only meet the auth check)
    write = store_pb2.WriteRequest(record=store_pb2.Record(key="k", value=b"v"))
    channel.unary_unary("/store.Store/Write")(write.SerializeToString(), metadata=metadata)
    try:
        yield thread, channel, metadata
    finally:
        channel.close()
        thread.stop()


# the services the server hosts itself (the protos also hold services it does not, such as
# store.BlobStore: calls of those go to the proxy)
SERVED = {
    "auth.Accounts",
    "auth.Auth",
    "auth.Namespaces",
    "auth.Rules",
    "config.Config",
    "debug.Debug",
    "events.Store",
    "events.Stream",
    "registry.Registry",
    "store.Store",
}


def _core_methods() -> list[MethodDescriptor]:
    """Every method of every service the server hosts, from the core protos."""
    return [
        method
        for module in (auth_pb2, config_pb2, debug_pb2, events_pb2, registry_pb2, store_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        if service.full_name in SERVED
        for method in service.methods
    ]


METHODS = _core_methods()


def call(channel: grpc.Channel, method: MethodDescriptor, data: bytes, metadata: Any) -> grpc.StatusCode:
    """The status of ``method`` called with ``data``; a stream is cancelled once it answers."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    if method.client_streaming:
        pytest.skip("no core RPC streams requests yet")
    if not method.server_streaming:
        try:
            channel.unary_unary(path)(data, metadata=metadata, timeout=CALL_SECONDS)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK
    stream = channel.unary_stream(path)(data, metadata=metadata, timeout=CALL_SECONDS)
    stream.initial_metadata()  # sent once a watch is live, or with the status of a refusal
    if stream.done():
        return stream.code()  # type: ignore[no-any-return]
    stream.cancel()
    return grpc.StatusCode.OK


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


BAD = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.containing_service.name}.{m.name}")
@FUZZ
@given(data=st.binary(max_size=300))
def test_raw_bytes_are_never_a_server_error(
    fuzzed: Any, caplog: pytest.LogCaptureFixture, method: MethodDescriptor, data: bytes
) -> None:
    _, channel, metadata = fuzzed
    caplog.clear()
    code = call(channel, method, data, metadata)
    assert code not in BAD, f"{method.full_name} answered {code.name} to {data!r}"
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize("method", METHODS, ids=lambda m: f"{m.containing_service.name}.{m.name}")
@FUZZ
@given(data=st.data())
def test_random_field_values_are_never_a_server_error(
    fuzzed: Any, caplog: pytest.LogCaptureFixture, method: MethodDescriptor, data: st.DataObject
) -> None:
    _, channel, metadata = fuzzed
    request = data.draw(messages(method.input_type))
    caplog.clear()
    code = call(channel, method, request.SerializeToString(), metadata)
    assert code not in BAD, f"{method.full_name} answered {code.name} to {request!r}"
    assert _tracebacks(caplog) == []
