"""What only the gRPC client adds: the streamed publisher (pipelined, cumulative acks) and the
checks it makes before anything is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from micro import errors
from micro.events.grpc import GrpcStream


@pytest.fixture
async def stream(server: Any) -> AsyncIterator[GrpcStream]:
    stream = GrpcStream(server.bound_address)
    yield stream
    await stream.close()


async def test_the_publisher_pipelines_and_every_event_is_stored_in_order(stream: GrpcStream) -> None:
    async with stream.publisher(window=16) as publisher:
        for i in range(300):
            assert await publisher.publish("piped", b"%d" % i) == i + 1
        await publisher.flush()
        assert publisher.acknowledged == 300
    assert publisher.offsets == list(range(300))
    stored = await stream.read("piped", limit=1000)
    assert [e.payload for e in stored] == [b"%d" % i for i in range(300)]


async def test_a_refused_event_fails_the_publisher(stream: GrpcStream) -> None:
    publisher = stream.publisher()
    await publisher.publish("fine", b"1")
    await publisher.publish("not fine", b"2")
    with pytest.raises(errors.BadRequest, match="invalid topic"):
        await publisher.close()


async def test_offsets_past_the_wire_are_refused_before_sending(stream: GrpcStream) -> None:
    with pytest.raises(errors.BadRequest, match="offset out of range"):
        await stream.read("t", offset=2**64)
    with pytest.raises(errors.BadRequest, match="offset out of range"):
        await stream.consume("t", offset=2**63)


async def test_a_timed_out_wait_for_an_event_leaves_the_subscription_intact(stream: GrpcStream) -> None:
    async with await stream.consume("patient") as sub:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sub.__anext__(), 0.05)
        await stream.publish("patient", b"1")
        assert (await asyncio.wait_for(sub.__anext__(), 10)).payload == b"1"


async def test_closing_after_acks_applies_them_before_leaving(stream: GrpcStream) -> None:
    for i in range(3):
        await stream.publish("acked", b"%d" % i)
    async with await stream.consume("acked", group="g", manual_ack=True) as sub:
        for _ in range(3):
            await sub.ack(await asyncio.wait_for(sub.__anext__(), 10))
    [group] = await stream.groups("acked")
    assert (group.position, group.pending, group.consumers) == (3, 0, 0)  # at once, no wait
