"""The store service over raw gRPC: bad input, error codes and trailers, namespaces, expiry on
the wire, streamed listing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from micro._grpc import ERROR_KEY, NAMESPACE_KEY, metadata_value
from micro.proto.store import store_pb2, store_pb2_grpc
from micro.store import MAX_KEY_BYTES, MAX_VALUE_BYTES, Record
from server.store.handler import LIST_BATCH


@pytest.fixture
async def stub(server: Any) -> AsyncIterator[store_pb2_grpc.StoreStub]:
    async with grpc.aio.insecure_channel(server.bound_address) as channel:
        yield store_pb2_grpc.StoreStub(channel)


async def rpc_error(call: Any) -> tuple[grpc.StatusCode, dict[str, Any], str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    err = info.value
    trailer = metadata_value(err.trailing_metadata(), ERROR_KEY)
    assert trailer is not None, "the micro-error trailer is missing"
    return err.code(), json.loads(trailer), err.details() or ""


def write(key: str, value: bytes = b"v", **options: Any) -> store_pb2.WriteRequest:
    return store_pb2.WriteRequest(
        record=store_pb2.Record(key=key, value=value), options=store_pb2.WriteOptions(**options)
    )


async def test_write_with_empty_key_is_invalid_argument(stub: Any) -> None:
    code, err, details = await rpc_error(stub.Write(write("")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert (err["code"], err["detail"], details) == (400, "key is required", "key is required")


async def test_exact_read_and_delete_with_empty_key_are_invalid_argument(stub: Any) -> None:
    code, err, _ = await rpc_error(stub.Read(store_pb2.ReadRequest(key="")))
    assert (code, err["code"]) == (grpc.StatusCode.INVALID_ARGUMENT, 400)
    code, err, _ = await rpc_error(stub.Delete(store_pb2.DeleteRequest(key="")))
    assert (code, err["code"]) == (grpc.StatusCode.INVALID_ARGUMENT, 400)


async def test_key_over_the_limit_is_invalid_argument(stub: Any) -> None:
    code, err, _ = await rpc_error(stub.Write(write("k" * (MAX_KEY_BYTES + 1))))
    assert (code, err["code"]) == (grpc.StatusCode.INVALID_ARGUMENT, 400)
    assert "key too long" in err["detail"]


async def test_oversized_value_is_resource_exhausted_413(stub: Any) -> None:
    code, err, _ = await rpc_error(stub.Write(write("big", b"x" * (MAX_VALUE_BYTES + 1))))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err["code"] == 413
    assert err["detail"] == (
        f"value too large: {MAX_VALUE_BYTES + 1} bytes (limit 1048576); use the blob store for large objects"
    )
    # exactly the limit is accepted
    response = await stub.Write(write("big", b"x" * MAX_VALUE_BYTES))
    assert response.version == 1


async def test_negative_ttl_or_expiry_is_invalid_argument(stub: Any) -> None:
    for options in ({"ttl": -1}, {"expiry": -5}):
        code, err, _ = await rpc_error(stub.Write(write("k", **options)))
        assert (code, err["code"]) == (grpc.StatusCode.INVALID_ARGUMENT, 400)


async def test_stale_version_is_aborted_409(stub: Any) -> None:
    for _ in range(3):
        await stub.Write(write("k"))
    code, err, details = await rpc_error(stub.Write(write("k", version=2)))
    assert code == grpc.StatusCode.ABORTED
    assert err["code"] == 409
    assert details == "stale version: record is at version 3, expected 2"


async def test_missing_key_is_not_found(stub: Any) -> None:
    code, err, details = await rpc_error(stub.Read(store_pb2.ReadRequest(key="nosuch")))
    assert (code, err["code"], details) == (grpc.StatusCode.NOT_FOUND, 404, "not found")


async def test_namespace_metadata_selects_the_database(stub: Any, server: Any) -> None:
    await stub.Write(write("k", b"in-foo"), metadata=((NAMESPACE_KEY, "foo"),))
    await stub.Write(write("k", b"in-micro"))
    response = await stub.Read(store_pb2.ReadRequest(key="k"), metadata=((NAMESPACE_KEY, "foo"),))
    assert response.records[0].value == b"in-foo"
    response = await stub.Read(store_pb2.ReadRequest(key="k"))
    assert response.records[0].value == b"in-micro"
    # an explicit database wins over the namespace
    request = store_pb2.ReadRequest(key="k", options=store_pb2.ReadOptions(database="micro"))
    response = await stub.Read(request, metadata=((NAMESPACE_KEY, "foo"),))
    assert response.records[0].value == b"in-micro"
    tables = await stub.Tables(store_pb2.TablesRequest(), metadata=((NAMESPACE_KEY, "foo"),))
    assert list(tables.tables) == ["micro"]
    [record] = await server.backends.store.read("k", database="foo")
    assert record.value == b"in-foo"


async def test_expiry_on_the_wire(stub: Any, server: Any) -> None:
    await stub.Write(write("ttl", ttl=30))
    await stub.Write(write("abs", expiry=int(server.backends.store.clock()) + 60))
    await stub.Write(write("past", expiry=1))  # an absolute time long gone
    response = await stub.Read(store_pb2.ReadRequest(key="", options=store_pb2.ReadOptions(prefix=True)))
    expiry = {r.key: r.expiry for r in response.records}
    assert set(expiry) == {"abs", "ttl"}
    assert 29 <= expiry["ttl"] <= 30 and 58 <= expiry["abs"] <= 60


async def test_list_streams_keys_in_batches(stub: Any, server: Any) -> None:
    n = LIST_BATCH * 2 + 5
    for i in range(n):
        await server.backends.store.write(Record(f"k{i:05}", b""))
    batches = [list(r.keys) async for r in stub.List(store_pb2.ListRequest())]
    assert [len(b) for b in batches] == [LIST_BATCH, LIST_BATCH, 5]
    assert [k for batch in batches for k in batch] == [f"k{i:05}" for i in range(n)]


async def test_internal_tables_are_hidden_and_refused(stub: Any, server: Any) -> None:
    from micro.proto.config import config_pb2, config_pb2_grpc

    async with grpc.aio.insecure_channel(server.bound_address) as channel:
        config = config_pb2_grpc.ConfigStub(channel)
        value = config_pb2.Value(data='"s3cret"', format="json")
        secret = config_pb2.Options(secret=True)
        # 'quiet' holds config only, 'busy' config and records
        for namespace in ("quiet", "busy"):
            await config.Set(
                config_pb2.SetRequest(namespace=namespace, path="db.pw", value=value, options=secret)
            )
        await stub.Write(write("k"), metadata=((NAMESPACE_KEY, "busy"),))
        tables = await stub.Tables(store_pb2.TablesRequest(database="busy"))
        assert list(tables.tables) == ["micro"]
        assert list((await stub.Tables(store_pb2.TablesRequest(database="quiet"))).tables) == []
        databases = await stub.Databases(store_pb2.DatabasesRequest())
        assert list(databases.databases) == ["busy"]

        refused = "tables starting with _ are internal to the server"
        calls = [
            stub.Read(store_pb2.ReadRequest(key="document", options=store_pb2.ReadOptions(table="_config"))),
            stub.Read(
                store_pb2.ReadRequest(key="", options=store_pb2.ReadOptions(table="_config", prefix=True))
            ),
            stub.Write(write("document", b"{}", table="_config", database="busy")),
            stub.Delete(
                store_pb2.DeleteRequest(key="document", options=store_pb2.DeleteOptions(table="_other"))
            ),
        ]
        for call in calls:
            code, err, details = await rpc_error(call)
            assert (code, err["code"], details) == (grpc.StatusCode.PERMISSION_DENIED, 403, refused)
        listing = stub.List(store_pb2.ListRequest(options=store_pb2.ListOptions(table="_config")))
        code, err, details = await rpc_error(_drain(listing))
        assert (code, err["code"], details) == (grpc.StatusCode.PERMISSION_DENIED, 403, refused)

        # the server's own config still reaches its document, secret intact
        got = await config.Get(config_pb2.GetRequest(namespace="busy", path="db.pw", options=secret))
        assert json.loads(got.value.data) == "s3cret"
    [document] = await server.backends.store.read("document", database="busy", table="_config")
    assert b"s3cret" not in document.value


async def _drain(stream: Any) -> None:
    async for _ in stream:
        pass
