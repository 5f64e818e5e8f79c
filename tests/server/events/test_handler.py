"""The events service on the wire, with plain generated stubs (as any gRPC client would):
status codes and one-line details naming the field, the streamed publish's cumulative acks,
the Consume handshake, and the read-only marks of Read, Topics and Groups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from micro.proto.events import events_pb2, events_pb2_grpc


@pytest.fixture
async def channel(server: Any) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(server.bound_address) as channel:
        yield channel


async def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), caught.value.details() or ""


@pytest.mark.parametrize(
    ("request_", "detail"),
    [
        (events_pb2.PublishRequest(topic=""), "topic is required"),
        (events_pb2.PublishRequest(topic="a b"), "invalid topic 'a b'"),
        (events_pb2.PublishRequest(topic="t", payload=b"x" * (1024 * 1024 + 1)), "payload too large"),
    ],
)
async def test_bad_publishes_are_invalid_argument_naming_the_field(
    channel: grpc.aio.Channel, request_: Any, detail: str
) -> None:
    stream = events_pb2_grpc.StreamStub(channel)
    code, details = await _code(stream.Publish(request_))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(detail) and "\n" not in details
    topics = await events_pb2_grpc.StoreStub(channel).Topics(events_pb2.TopicsRequest())
    assert list(topics.topics) == []


async def test_a_publish_is_answered_with_the_stored_event_without_its_payload(
    channel: grpc.aio.Channel,
) -> None:
    request = events_pb2.PublishRequest(topic="orders", payload=b"{}", metadata={"k": "v"})
    request.timestamp.FromMilliseconds(1_700_000_000_500)
    await events_pb2_grpc.StreamStub(channel).Publish(events_pb2.PublishRequest(topic="orders"))
    reply = await events_pb2_grpc.StreamStub(channel).Publish(request)
    read = await events_pb2_grpc.StoreStub(channel).Read(events_pb2.ReadRequest(topic="orders", offset=1))
    [stored] = read.events
    assert stored.payload == b"{}"
    stored.ClearField("payload")
    assert reply.event == stored
    assert (reply.event.offset, dict(reply.event.metadata), reply.event.timestamp.ToMilliseconds()) == (
        1,
        {"k": "v"},
        1_700_000_000_500,
    )


async def test_streamed_publish_acks_cumulatively(channel: grpc.aio.Channel) -> None:
    stream = events_pb2_grpc.StreamStub(channel)

    async def requests() -> AsyncIterator[events_pb2.PublishRequest]:
        for i in range(100):
            yield events_pb2.PublishRequest(topic="bulk", payload=b"%d" % i)

    acked, offsets = 0, []
    async for ack in stream.PublishStream(requests()):
        assert ack.acknowledged == acked + len(ack.offsets)
        acked = ack.acknowledged
        offsets.extend(ack.offsets)
    assert (acked, offsets) == (100, list(range(100)))


async def test_a_bad_event_ends_the_streamed_publish_with_its_error(channel: grpc.aio.Channel) -> None:
    stream = events_pb2_grpc.StreamStub(channel)

    async def requests() -> AsyncIterator[events_pb2.PublishRequest]:
        yield events_pb2.PublishRequest(topic="s", payload=b"1")
        yield events_pb2.PublishRequest(topic="bad topic", payload=b"2")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stream.PublishStream(requests()):
            pass
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    store = events_pb2_grpc.StoreStub(channel)
    assert [t.name for t in (await store.Topics(events_pb2.TopicsRequest())).topics] in ([], ["s"])


async def test_consume_must_start_with_a_subscribe(channel: grpc.aio.Channel) -> None:
    call = events_pb2_grpc.StreamStub(channel).Consume()
    await call.write(events_pb2.ConsumeRequest(ack=events_pb2.Ack(id="x")))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "subscribe" in (caught.value.details() or "")


async def test_consume_confirms_the_subscription_then_streams(channel: grpc.aio.Channel) -> None:
    stream = events_pb2_grpc.StreamStub(channel)
    call = stream.Consume()
    await call.write(events_pb2.ConsumeRequest(subscribe=events_pb2.Subscribe(topic="live")))
    assert ("micro-subscribed", "1") in list(await call.initial_metadata())
    await stream.Publish(events_pb2.PublishRequest(topic="live", payload=b"hi"))
    event = await call.read()
    assert (event.offset, event.payload, event.attempt) == (0, b"hi", 1)
    call.cancel()


async def test_bad_retention_and_reset_are_invalid_argument(channel: grpc.aio.Channel) -> None:
    store = events_pb2_grpc.StoreStub(channel)
    code, details = await _code(
        store.Retention(events_pb2.RetentionRequest(topic="t", retention=events_pb2.Retention(max_age_ms=-1)))
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "max_age_ms must not be negative: -1")
    code, details = await _code(store.ResetGroup(events_pb2.ResetGroupRequest(topic="t", group="g")))
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "give offset or since")


def test_reads_are_marked_side_effect_free() -> None:
    marked = {
        f"{service.name}.{method.name}"
        for service in events_pb2.DESCRIPTOR.services_by_name.values()
        for method in service.methods
        if method.GetOptions().idempotency_level == method.GetOptions().NO_SIDE_EFFECTS
    }
    assert marked == {"Store.Read", "Store.Topics", "Store.Groups"}
