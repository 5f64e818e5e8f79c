"""One conformance suite for the Broker interface, run against every backend.

``memory`` runs in-process; ``grpc`` is a GrpcBroker against a real in-process server (whose
broker is in memory), so every rule is also checked across the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from micro import errors
from micro.broker import MAX_MESSAGE_BYTES, Broker, Message, Subscription
from micro.broker.grpc import GrpcBroker
from micro.broker.memory import MemoryBroker


@pytest.fixture
async def memory_broker() -> AsyncIterator[Broker]:
    broker = MemoryBroker()
    yield broker
    await broker.close()


@pytest.fixture
async def grpc_broker(server: Any) -> AsyncIterator[Broker]:
    broker = GrpcBroker(server.bound_address)
    yield broker
    await broker.close()


@pytest.fixture(params=["memory", "grpc"])
def broker(request: pytest.FixtureRequest) -> Broker:
    backend: Broker = request.getfixturevalue(f"{request.param}_broker")
    return backend


async def receive(subscription: Subscription, count: int) -> list[Message]:
    """The next ``count`` messages (a hang fails on the deadline, loudly)."""
    got: list[Message] = []
    async with asyncio.timeout(30):
        async for message in subscription:
            got.append(message)
            if len(got) == count:
                break
    return got


async def nothing_more(subscription: Subscription, broker: Broker, topic: str, **kwargs: Any) -> None:
    """Assert ``subscription`` got nothing else: publish a marker only it can get next and
    check that the marker is what arrives."""
    await broker.publish(topic, Message(b"marker"), **kwargs)
    [message] = await receive(subscription, 1)
    assert message.body == b"marker"


async def test_every_subscriber_gets_every_message_with_its_header(broker: Broker) -> None:
    async with await broker.subscribe("news") as one, await broker.subscribe("news") as two:
        delivery = await broker.publish("news", Message(b"hello", {"lang": "en"}))
        assert (delivery.delivered, delivery.dropped) == (2, 0)
        for subscription in (one, two):
            [message] = await receive(subscription, 1)
            assert (message.body, message.header, message.dropped) == (b"hello", {"lang": "en"}, 0)


async def test_a_message_without_subscribers_is_not_kept(broker: Broker) -> None:
    delivery = await broker.publish("news", Message(b"lost"))
    assert (delivery.delivered, delivery.dropped) == (0, 0)
    async with await broker.subscribe("news") as late:
        await nothing_more(late, broker, "news")


async def test_messages_arrive_in_publish_order(broker: Broker) -> None:
    async with await broker.subscribe("news") as subscription:
        for i in range(50):
            await broker.publish("news", Message(str(i).encode()))
        got = await receive(subscription, 50)
    assert [m.body for m in got] == [str(i).encode() for i in range(50)]


async def test_a_queue_group_shares_the_messages_and_plain_subscribers_get_all(broker: Broker) -> None:
    async with (
        await broker.subscribe("jobs", queue="workers") as a,
        await broker.subscribe("jobs", queue="workers") as b,
        await broker.subscribe("jobs", queue="audit") as audit,
        await broker.subscribe("jobs") as tail,
    ):
        for i in range(10):
            delivery = await broker.publish("jobs", Message(str(i).encode()))
            assert delivery.delivered == 3  # one of the workers, the audit group, the tail
        got_a = await receive(a, 5)
        got_b = await receive(b, 5)
        everything = {str(i).encode() for i in range(10)}
        assert {m.body for m in got_a} | {m.body for m in got_b} == everything
        assert not {m.body for m in got_a} & {m.body for m in got_b}
        assert {m.body for m in await receive(audit, 10)} == everything
        assert {m.body for m in await receive(tail, 10)} == everything


async def test_topics_are_isolated_per_namespace(broker: Broker) -> None:
    async with await broker.subscribe("news", namespace="alpha") as alpha:
        delivery = await broker.publish("news", Message(b"for beta"), namespace="beta")
        assert delivery.delivered == 0
        await nothing_more(alpha, broker, "news", namespace="alpha")


async def test_a_closed_subscription_gets_nothing_and_ends(broker: Broker) -> None:
    subscription = await broker.subscribe("news")
    await subscription.close()
    delivery = await broker.publish("news", Message(b"after"))
    assert delivery.delivered == 0
    assert [m async for m in subscription] == []


@pytest.mark.parametrize("topic", ["", "has space", "a/b", "x" * 256, "ü"])
async def test_a_bad_topic_is_refused(broker: Broker, topic: str) -> None:
    with pytest.raises(errors.BadRequest, match="topic"):
        await broker.publish(topic, Message(b"x"))
    with pytest.raises(errors.BadRequest, match="topic"):
        await broker.subscribe(topic)


async def test_a_bad_queue_name_is_refused(broker: Broker) -> None:
    with pytest.raises(errors.BadRequest, match="queue"):
        await broker.subscribe("news", queue="a b")


async def test_a_message_over_the_limit_is_refused(broker: Broker) -> None:
    async with await broker.subscribe("news") as subscription:
        with pytest.raises(errors.TooLarge, match="message too large"):
            await broker.publish("news", Message(b"x" * (MAX_MESSAGE_BYTES + 1)))
        await nothing_more(subscription, broker, "news")


# -- bounded queues (the memory broker is the server's: its bounds are what the server holds)


async def test_a_slow_subscriber_loses_messages_counted_and_others_keep_theirs() -> None:
    broker = MemoryBroker(max_messages=3)
    slow = await broker.subscribe("news")
    fast = await broker.subscribe("news")
    fast_got: list[bytes] = []
    for i in range(5):
        delivery = await broker.publish("news", Message(str(i).encode()))
        fast_got.extend(m.body for m in await receive(fast, 1))
        # the slow one never reads: its queue holds 3, the 4th and 5th drop for it alone
        assert (delivery.delivered, delivery.dropped) == ((2, 0) if i < 3 else (1, 1))
    assert fast_got == [b"0", b"1", b"2", b"3", b"4"]
    assert broker.dropped == 2
    got = await receive(slow, 3)
    assert [m.body for m in got] == [b"0", b"1", b"2"]
    assert got[0].dropped == 2  # told on the next message it receives
    await broker.publish("news", Message(b"5"))
    [after] = await receive(slow, 1)
    assert (after.body, after.dropped) == (b"5", 0)
    await broker.close()


async def test_the_queue_is_bounded_by_bytes_too() -> None:
    broker = MemoryBroker(max_bytes=10)
    subscription = await broker.subscribe("news")
    assert (await broker.publish("news", Message(b"12345678"))).delivered == 1
    assert (await broker.publish("news", Message(b"123"))).dropped == 1  # 8 + 3 > 10
    assert (await broker.publish("news", Message(b"12"))).delivered == 1
    assert [m.body for m in await receive(subscription, 2)] == [b"12345678", b"12"]
    await broker.close()


async def test_a_full_queue_member_is_skipped_for_one_with_room() -> None:
    broker = MemoryBroker(max_messages=1)
    a = await broker.subscribe("jobs", queue="q")
    b = await broker.subscribe("jobs", queue="q")
    for i in range(2):
        assert (await broker.publish("jobs", Message(str(i).encode()))).delivered == 1
    # both hold one now: the third drops, once, for the group
    delivery = await broker.publish("jobs", Message(b"2"))
    assert (delivery.delivered, delivery.dropped) == (0, 1)
    assert {(await receive(a, 1))[0].body, (await receive(b, 1))[0].body} == {b"0", b"1"}
    await broker.close()


async def test_dropping_a_namespace_ends_its_subscriptions_only() -> None:
    broker = MemoryBroker()
    gone = await broker.subscribe("news", namespace="alpha")
    kept = await broker.subscribe("news", namespace="beta")
    await broker.drop_namespace("alpha")
    assert [m async for m in gone] == []
    assert broker.subscribers("news", namespace="alpha") == 0
    await broker.publish("news", Message(b"still"), namespace="beta")
    assert [m.body for m in await receive(kept, 1)] == [b"still"]
    await broker.close()
    assert broker.subscribers("news", namespace="beta") == 0


async def test_a_subscriber_that_stops_reading_costs_the_server_a_bounded_queue(server: Any) -> None:
    from micro.broker import QUEUE_BYTES, QUEUE_MESSAGES

    client = GrpcBroker(server.bound_address)
    stalled = await client.subscribe("firehose")  # never read until the end
    body = b"x" * 65536
    dropped = 0
    sent = 0
    # enough to fill the transport's buffers and then the subscriber's queue on the server
    while dropped == 0 and sent < 20_000:
        dropped += (await client.publish("firehose", Message(body))).dropped
        sent += 1
    assert dropped, "the server kept queueing for a subscriber that does not read"
    held = server.backends.broker._topics[("micro", "firehose")].plain[0]
    assert len(held._items) <= QUEUE_MESSAGES and held._bytes <= QUEUE_BYTES

    # reading again, the subscriber is told how many it missed (on the first message after
    # each gap); "last" is published until it fits in the draining queue
    async def read_to_last() -> int:
        missed = 0
        async for message in stalled:
            missed += message.dropped
            if message.body == b"last":
                return missed
        raise AssertionError("the subscription ended")

    reader = asyncio.create_task(read_to_last())
    async with asyncio.timeout(60):
        while not reader.done():  # each publish is a round trip: the reader runs meanwhile
            await client.publish("firehose", Message(b"last"))
    assert await reader >= dropped
    await stalled.close()
    await client.close()
