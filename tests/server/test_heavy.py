"""The heaviest requests the limits allow never block the server's event loop for more than
~100 ms (one registration with 100,000 endpoints stalled every caller for 6 s): a real
server in this process, asyncio's debug mode reporting every slow callback."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from micro.proto.config import config_pb2, config_pb2_grpc
from micro.proto.registry import registry_pb2, registry_pb2_grpc
from micro.proto.store import store_pb2, store_pb2_grpc
from micro.settings import limits

SLOW_SECONDS = 0.1


@pytest.fixture
async def channel(server: Any) -> AsyncIterator[grpc.aio.Channel]:
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(server.bound_address, options=options) as channel:
        yield channel


@contextlib.asynccontextmanager
async def watched_loop() -> AsyncIterator[list[str]]:
    """Debug mode inside the block; the list gets every callback that held the loop longer
    than SLOW_SECONDS.

    asyncio's own report (``slow_callback_duration``) times callbacks by the wall clock, so
    on a loaded machine a 60 ms callback preempted for 50 ms reads as slow; a report counts
    only when the loop thread also spent SLOW_SECONDS of CPU in that callback
    (``time.thread_time``), which is the work that blocks every other caller.

    The objects alive before the block are frozen out of the garbage collector: this
    process holds pytest and every module the suite imported (~330,000 objects, a full
    collection of which takes 0.3-0.5 s here), where a ``micro server`` holds ~40,000 (a
    full collection in ~40 ms). Without it, the collector's pauses over the test harness
    would be reported as the server's.
    """
    loop = asyncio.get_running_loop()
    gc.collect()
    gc.freeze()
    old = (loop.get_debug(), loop.slow_callback_duration)
    found: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "took" in record.getMessage():
                found.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_SECONDS
    run = asyncio.events.Handle._run
    reports: list[str] = []

    def timed(self: asyncio.events.Handle) -> None:
        started = time.thread_time()
        try:
            run(self)
        finally:
            spent = time.thread_time() - started
            if spent > SLOW_SECONDS:
                reports.append(f"{self!r} held the loop for {spent:.3f}s of CPU")

    asyncio.events.Handle._run = timed  # type: ignore[method-assign]
    try:
        yield reports
    finally:
        asyncio.events.Handle._run = run  # type: ignore[method-assign]
        loop.set_debug(old[0])
        loop.slow_callback_duration = old[1]
        logger.removeHandler(handler)
        gc.unfreeze()
        if reports:  # asyncio's own words, for the failure message
            reports.extend(found)


def largest_registration(name: str) -> registry_pb2.Service:
    """As much as one registration may hold: every limit reached at once."""
    lim = limits()
    per_tree = lim.schema_values // (2 * lim.endpoints)  # request and response of each
    fields = [registry_pb2.Value(name=f"f{i}", type="string") for i in range(per_tree - 1)]
    endpoints = [
        registry_pb2.Endpoint(
            name=f"Big.Method{i}",
            method=f"/big.Big/Method{i}",
            request_type="big.Request",
            response_type="big.Response",
            request=registry_pb2.Value(name="Request", type="big.Request", values=fields),
            response=registry_pb2.Value(name="Response", type="big.Response", values=fields),
            metadata={"stream": "false"},
        )
        for i in range(lim.endpoints)
    ]
    nodes = [
        registry_pb2.Node(id=f"{name}-{i}", address=f"127.0.0.1:{10000 + i}", metadata={"n": str(i)})
        for i in range(lim.nodes)
    ]
    return registry_pb2.Service(
        name=name,
        version="v1",
        endpoints=endpoints,
        nodes=nodes,
        descriptor_set=b"\x00" * lim.descriptor_bytes,
        options=registry_pb2.Options(ttl=lim.registry_ttl),
    )


async def test_the_largest_registration_never_blocks_the_loop(channel: grpc.aio.Channel) -> None:
    # built before the loop is watched: the test's own work is not the server's
    big = [largest_registration(name) for name in ("big", "big0")]
    async with watched_loop() as slow:
        await registrations(channel, big)
    assert slow == []


async def registrations(channel: grpc.aio.Channel, big: list[registry_pb2.Service]) -> None:
    stub = registry_pb2_grpc.RegistryStub(channel)
    watch = stub.Watch(registry_pb2.WatchRequest())
    await watch.initial_metadata()
    await stub.Register(big[0])
    result = await watch.read()
    assert (result.action, len(result.service.endpoints)) == ("create", limits().endpoints)
    await stub.Register(big[0])  # the heartbeat: compared with what is there, nothing changed
    [got] = (await stub.GetService(registry_pb2.GetRequest(service="big"))).services
    assert len(got.endpoints) == limits().endpoints
    assert len(got.descriptor_set) == limits().descriptor_bytes
    for service in big[1:]:
        await stub.Register(service)
    listed = (await stub.ListServices(registry_pb2.ListRequest())).services
    assert {"big", "big0"} <= {s.name for s in listed}
    watch.cancel()


async def test_a_large_config_document_never_blocks_the_loop(channel: grpc.aio.Channel) -> None:
    # close to the document limit (1 MiB), in many small keys
    document = {f"section{i}": {f"key{j}": f"value {i}.{j}" for j in range(100)} for i in range(400)}
    data = json.dumps(document)
    assert 900_000 < len(data) < 1024 * 1024
    async with watched_loop() as slow:
        await config_document(channel, data)
    assert slow == []


async def config_document(channel: grpc.aio.Channel, data: str) -> None:
    stub = config_pb2_grpc.ConfigStub(channel)
    watches = [stub.Watch(config_pb2.WatchRequest(path=path)) for path in ("", "", "app", "app.section1")]
    for watch in watches:
        await watch.initial_metadata()
    await stub.Set(config_pb2.SetRequest(path="app", value=config_pb2.Value(data=data)))
    for watch in watches:
        assert (await watch.read()).path.startswith("app")
    await stub.Set(config_pb2.SetRequest(path="app.section1.key1", value=config_pb2.Value(data='"x"')))
    got = await stub.Get(config_pb2.GetRequest(path="app"))
    assert json.loads(got.value.data)["section1"]["key1"] == "x"
    read = await stub.Read(config_pb2.ReadRequest(path=""))
    assert len(read.change_set.data) > 900_000
    for watch in watches:
        watch.cancel()


async def test_a_large_store_listing_never_blocks_the_loop(server: Any, channel: grpc.aio.Channel) -> None:
    # 200,000 keys written straight into the server's SQLite file (through the store they
    # would take a minute); the server reads them as its own
    with sqlite3.connect(server.data_dir / "store.db") as db:
        db.executemany(
            "INSERT INTO records (db, tbl, key, value, version) VALUES ('micro', 'big', ?, x'76', 1)",
            ((f"key/{i:07d}",) for i in range(200_000)),
        )
    db.close()
    stub = store_pb2_grpc.StoreStub(channel)
    async with watched_loop() as slow:
        options = store_pb2.ListOptions(database="micro", table="big")
        count = 0
        async for reply in stub.List(store_pb2.ListRequest(options=options)):
            count += len(reply.keys)
        assert count == 200_000
        options = store_pb2.ListOptions(database="micro", table="big", prefix="key/01", limit=2500, offset=10)
        found = [k async for reply in stub.List(store_pb2.ListRequest(options=options)) for k in reply.keys]
        assert found == [f"key/{i:07d}" for i in range(100_010, 102_510)]
    assert slow == []
