"""One conformance suite for the Stream interface, run against every backend.

``memory`` and ``sqlite`` run in-process; ``grpc`` is a GrpcStream against a real in-process
server (SQLite log, auth off). A later engine (NATS JetStream) must pass the same suite.
Time for retention is a fake clock injected into the backend; redelivery waits use a short
``ack_wait`` and polls with a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from micro import errors
from micro.events import MAX_PAYLOAD_BYTES, Event, Retention, Stream, Subscription
from micro.events._log import LogStream
from micro.events.grpc import GrpcStream
from micro.events.memory import MemoryStream
from server.events.sqlite import SqliteStream
from tests._poll import eventually


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def memory_stream(clock: FakeClock) -> AsyncIterator[tuple[Stream, LogStream]]:
    stream = MemoryStream(clock=clock)
    yield stream, stream
    await stream.close()


@pytest.fixture
async def sqlite_stream(clock: FakeClock, tmp_path: Path) -> AsyncIterator[tuple[Stream, LogStream]]:
    stream = SqliteStream(tmp_path / "events.db", clock=clock)
    yield stream, stream
    await stream.close()


@pytest.fixture
async def grpc_stream(clock: FakeClock, server: Any) -> AsyncIterator[tuple[Stream, LogStream]]:
    backend = server.backends.events
    backend.clock = clock
    stream = GrpcStream(server.bound_address)
    yield stream, backend
    await stream.close()


@pytest.fixture(params=["memory", "sqlite", "grpc"])
def both(request: pytest.FixtureRequest) -> tuple[Stream, LogStream]:
    pair: tuple[Stream, LogStream] = request.getfixturevalue(f"{request.param}_stream")
    return pair


@pytest.fixture
def stream(both: tuple[Stream, LogStream]) -> Stream:
    return both[0]


@pytest.fixture
def backend(both: tuple[Stream, LogStream]) -> LogStream:
    """The log under ``stream`` (the server's, for grpc): for retention and the clock."""
    return both[1]


async def publish_all(stream: Stream, topic: str, count: int, **kwargs: Any) -> list[Event]:
    return [await stream.publish(topic, f'{{"n":{i}}}'.encode(), **kwargs) for i in range(count)]


async def take(sub: Subscription, count: int, *, timeout: float = 10.0) -> list[Event]:
    """The next ``count`` events of ``sub``; fails when they do not come in time."""
    got = []
    for _ in range(count):
        try:
            got.append(await asyncio.wait_for(sub.__anext__(), timeout))
        except TimeoutError:
            raise AssertionError(f"got {len(got)} of {count} events within {timeout}s") from None
    return got


async def nothing_more(sub: Subscription, *, within: float = 0.2) -> None:
    """Assert ``sub`` holds no further event right now (a short, bounded look)."""
    try:
        event = await asyncio.wait_for(sub.__anext__(), within)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected event {event.offset} of {event.topic}")


# -- publish and read ------------------------------------------------------------------------


async def test_offsets_start_at_zero_and_are_contiguous(stream: Stream) -> None:
    events = await publish_all(stream, "orders", 5, metadata={"k": "v"})
    assert [e.offset for e in events] == [0, 1, 2, 3, 4]
    assert len({e.id for e in events}) == 5
    stored = await stream.read("orders")
    assert [(e.offset, e.payload, e.metadata, e.id) for e in stored] == [
        (e.offset, f'{{"n":{e.offset}}}'.encode(), {"k": "v"}, e.id) for e in events
    ]
    assert stored[0].json() == {"n": 0}


async def test_concurrent_publishes_get_distinct_contiguous_offsets(stream: Stream) -> None:
    events = await asyncio.gather(*(stream.publish("busy", b"%d" % i) for i in range(50)))
    assert sorted(e.offset for e in events) == list(range(50))
    stored = await stream.read("busy", limit=100)
    assert [e.offset for e in stored] == list(range(50))
    assert {e.id for e in stored} == {e.id for e in events}


async def test_read_from_offset_with_limit(stream: Stream) -> None:
    await publish_all(stream, "orders", 20)
    assert [e.offset for e in await stream.read("orders", offset=5, limit=10)] == list(range(5, 15))
    assert await stream.read("orders", offset=20) == []
    assert await stream.read("nosuch") == []


async def test_publish_keeps_a_given_timestamp(stream: Stream) -> None:
    event = await stream.publish("t", b"1", timestamp=1_700_000_000.5)
    [stored] = await stream.read("t")
    assert stored.timestamp == pytest.approx(1_700_000_000.5) == pytest.approx(event.timestamp)


async def test_topics_list_counts_and_offsets(stream: Stream) -> None:
    await publish_all(stream, "b", 3)
    await publish_all(stream, "a", 1)
    found = await stream.topics()
    assert [(t.name, t.events, t.first, t.last) for t in found] == [("a", 1, 0, 0), ("b", 3, 0, 2)]


async def test_topics_are_isolated_per_namespace(stream: Stream) -> None:
    await stream.publish("orders", b"1", namespace="one")
    await stream.publish("orders", b"2", namespace="two")
    await stream.publish("orders", b"3", namespace="two")
    assert [e.payload for e in await stream.read("orders", namespace="one")] == [b"1"]
    assert [e.offset for e in await stream.read("orders", namespace="two")] == [0, 1]
    assert [t.events for t in await stream.topics(namespace="two")] == [2]
    assert await stream.topics() == []


@pytest.mark.parametrize(
    ("topic", "field"),
    [
        ("", "topic is required"),
        ("bad topic", "invalid topic"),
        ("a/b", "invalid topic"),
        ("x" * 256, "invalid topic"),
    ],
)
async def test_bad_topics_are_refused_and_nothing_is_stored(stream: Stream, topic: str, field: str) -> None:
    with pytest.raises(errors.BadRequest, match=field):
        await stream.publish(topic, b"1")
    with pytest.raises(errors.BadRequest, match=field):
        await stream.consume(topic)
    assert await stream.topics() == []


async def test_a_payload_over_the_limit_is_refused(stream: Stream) -> None:
    with pytest.raises(errors.BadRequest, match="payload too large"):
        await stream.publish("big", b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert await stream.topics() == []
    assert (await stream.publish("big", b"x" * MAX_PAYLOAD_BYTES)).offset == 0


async def test_negative_offsets_are_refused(stream: Stream) -> None:
    with pytest.raises(errors.BadRequest, match="offset"):
        await stream.read("t", offset=-1)
    with pytest.raises(errors.BadRequest, match="offset"):
        await stream.consume("t", offset=-1)


# -- consuming -------------------------------------------------------------------------------


async def test_without_group_or_start_only_new_events_arrive(stream: Stream) -> None:
    await publish_all(stream, "live", 3)
    async with await stream.consume("live") as sub:
        await stream.publish("live", b"new")
        [event] = await take(sub, 1)
        assert (event.offset, event.payload, event.attempt) == (3, b"new", 1)


async def test_start_from_start_offset_or_time(stream: Stream, backend: LogStream, clock: FakeClock) -> None:
    await publish_all(stream, "s", 3)
    clock.now += 600
    await publish_all(stream, "s", 2)
    async with await stream.consume("s", from_start=True) as sub:
        assert [e.offset for e in await take(sub, 5)] == [0, 1, 2, 3, 4]
    async with await stream.consume("s", offset=2) as sub:
        assert [e.offset for e in await take(sub, 3)] == [2, 3, 4]
    async with await stream.consume("s", since=clock.now - 300) as sub:
        assert [e.offset for e in await take(sub, 2)] == [3, 4]


async def test_each_consumer_without_group_gets_every_event(stream: Stream) -> None:
    async with await stream.consume("fan") as one, await stream.consume("fan") as two:
        await publish_all(stream, "fan", 3)
        assert [e.offset for e in await take(one, 3)] == [0, 1, 2]
        assert [e.offset for e in await take(two, 3)] == [0, 1, 2]


async def test_members_of_a_group_share_its_events(stream: Stream) -> None:
    async with await stream.consume("work", group="g") as one, await stream.consume("work", group="g") as two:
        await publish_all(stream, "work", 10)
        got: list[int] = []

        async def drain(sub: Subscription) -> None:
            while len(got) < 10:
                got.append((await sub.__anext__()).offset)

        tasks = [asyncio.create_task(drain(one)), asyncio.create_task(drain(two))]
        await eventually(lambda: len(got) >= 10, "the group's members received the ten events")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert sorted(got) == list(range(10))  # each exactly once


async def test_two_groups_each_get_all_events_and_a_new_group_starts_at_the_beginning(stream: Stream) -> None:
    await publish_all(stream, "orders", 3)
    billing = await stream.consume("orders", group="billing")
    async with billing, await stream.consume("orders", group="shipping") as shipping:
        assert [e.offset for e in await take(billing, 3)] == [0, 1, 2]
        assert [e.offset for e in await take(shipping, 3)] == [0, 1, 2]


async def test_a_group_resumes_where_it_stopped(stream: Stream) -> None:
    await publish_all(stream, "orders", 5)
    async with await stream.consume("orders", group="billing") as sub:
        assert [e.offset for e in await take(sub, 5)] == [0, 1, 2, 3, 4]
    await eventually(lambda: _position(stream, "orders", "billing", 5), "billing's position saved at 5")
    await publish_all(stream, "orders", 2)
    # an explicit start applies only to a new group: an existing one resumes
    async with await stream.consume("orders", group="billing", offset=0) as sub:
        assert [e.offset for e in await take(sub, 2)] == [5, 6]
        await nothing_more(sub)


async def test_a_group_with_manual_ack_resumes_after_its_last_acked_event(stream: Stream) -> None:
    await publish_all(stream, "orders", 5)
    async with await stream.consume("orders", group="billing", manual_ack=True, ack_wait=0.2) as sub:
        for event in await take(sub, 3):
            await sub.ack(event)
    await eventually(lambda: _position(stream, "orders", "billing", 3), "billing's position saved at 3")
    async with await stream.consume("orders", group="billing", manual_ack=True) as sub:
        again = await take(sub, 2)
        assert [e.offset for e in again] == [3, 4]
        for event in again:
            await sub.ack(event)
    await eventually(lambda: _position(stream, "orders", "billing", 5), "billing's position saved at 5")


async def _position(stream: Stream, topic: str, group: str, position: int) -> bool:
    found = {g.name: g.position for g in await stream.groups(topic)}
    return found.get(group) == position


async def test_groups_show_position_lag_consumers_and_pending(stream: Stream) -> None:
    await publish_all(stream, "orders", 4)
    async with await stream.consume("orders", group="billing", manual_ack=True) as sub:
        events = await take(sub, 2)
        await sub.ack(events[0])
        await eventually(
            lambda: _group_is(stream, (1, 3, 1)), "billing shows position 1, lag 3, one consumer", timeout=5
        )
        [info] = await stream.groups("orders")
        assert info.name == "billing"
        assert info.pending >= 1
    with pytest.raises(errors.NotFound):
        await stream.groups("nosuch")


async def _group_is(stream: Stream, want: tuple[int, int, int]) -> bool:
    [info] = await stream.groups("orders")
    return (info.position, info.lag, info.consumers) == want


async def test_reset_moves_a_group(stream: Stream) -> None:
    await publish_all(stream, "orders", 5)
    async with await stream.consume("orders", group="billing") as sub:
        await take(sub, 5)
    assert await stream.reset_group("orders", "billing", offset=1) == 1
    async with await stream.consume("orders", group="billing") as sub:
        assert [e.offset for e in await take(sub, 4)] == [1, 2, 3, 4]
    with pytest.raises(errors.NotFound):
        await stream.reset_group("orders", "nosuch", offset=0)


# -- acks, redelivery, dead letters ----------------------------------------------------------


async def test_a_nacked_event_comes_back(stream: Stream) -> None:
    await publish_all(stream, "jobs", 1)
    async with await stream.consume("jobs", group="g", manual_ack=True) as sub:
        [first] = await take(sub, 1)
        await sub.nack(first)
        [again] = await take(sub, 1)
        assert (again.offset, again.id, again.attempt) == (0, first.id, 2)
        await sub.ack(again)
        await nothing_more(sub)


async def test_an_unacked_event_comes_back_after_ack_wait(stream: Stream) -> None:
    await publish_all(stream, "jobs", 2)
    async with await stream.consume("jobs", group="g", manual_ack=True, ack_wait=0.1) as sub:
        _, second = await take(sub, 2)
        await sub.ack(second)
        [again] = await take(sub, 1)
        assert (again.offset, again.attempt) == (0, 2)
        await sub.ack(again)


async def test_after_retry_limit_an_event_moves_to_the_dead_letter_topic(stream: Stream) -> None:
    await stream.publish("jobs", b'{"id":7}', metadata={"source": "web"})
    async with await stream.consume("jobs", group="g", manual_ack=True, retry_limit=2) as sub:
        attempts = []
        for _ in range(3):
            [event] = await take(sub, 1)
            attempts.append(event.attempt)
            await sub.nack(event)
        assert attempts == [1, 2, 3]
        await nothing_more(sub)

    async def dead() -> bool:
        return bool(await stream.read("jobs.dead"))

    await eventually(dead, "the event reached jobs.dead", timeout=5)
    [letter] = await stream.read("jobs.dead")
    assert letter.payload == b'{"id":7}'
    assert letter.metadata["source"] == "web"
    assert letter.metadata["micro-dead-reason"] == "nacked"
    assert letter.metadata["micro-dead-offset"] == "0"
    assert letter.metadata["micro-dead-attempts"] == "3"
    await eventually(lambda: _position(stream, "jobs", "g", 1), "the group moved past the dead letter")


async def test_a_timed_out_event_dead_letters_with_the_reason(stream: Stream) -> None:
    await stream.publish("slow", b"1")
    async with await stream.consume("slow", group="g", manual_ack=True, ack_wait=0.05, retry_limit=0) as sub:
        await take(sub, 1)

        async def dead() -> bool:
            return bool(await stream.read("slow.dead"))

        await eventually(dead, "the unacked event reached slow.dead", timeout=5)
    [letter] = await stream.read("slow.dead")
    assert letter.metadata["micro-dead-reason"] == "not acknowledged within 0.05s"


async def test_unacked_events_of_a_closed_member_go_to_another_after_ack_wait(stream: Stream) -> None:
    await publish_all(stream, "jobs", 2)
    gone = await stream.consume("jobs", group="g", manual_ack=True, ack_wait=0.2)
    held = await take(gone, 2)
    await gone.close()  # as if it died holding both
    async with await stream.consume("jobs", group="g", manual_ack=True) as other:
        again = await take(other, 2)
        assert sorted(e.id for e in again) == sorted(e.id for e in held)
        assert {e.attempt for e in again} == {2}


# -- retention and deletion ------------------------------------------------------------------


async def test_retention_by_count_age_and_bytes(stream: Stream, backend: LogStream, clock: FakeClock) -> None:
    await publish_all(stream, "c", 10)
    await stream.set_retention("c", Retention(max_count=3))
    await backend.enforce_retention()
    [info] = await stream.topics()
    assert (info.events, info.first, info.last, info.retention) == (3, 7, 9, Retention(max_count=3))
    # below the first retained offset, a read starts at the first one
    assert [e.offset for e in await stream.read("c", offset=0)] == [7, 8, 9]

    await publish_all(stream, "a", 2)
    clock.now += 3600
    await publish_all(stream, "a", 1)
    await stream.set_retention("a", Retention(max_age=60))
    await backend.enforce_retention()
    assert [e.offset for e in await stream.read("a")] == [2]

    for _ in range(4):
        await stream.publish("b", b"x" * 100)
    await stream.set_retention("b", Retention(max_bytes=250))
    await backend.enforce_retention()
    assert [e.offset for e in await stream.read("b")] == [2, 3]
    assert (await stream.publish("b", b"y")).offset == 4  # offsets go on


async def test_a_group_behind_retention_continues_at_the_first_retained_event(
    stream: Stream, backend: LogStream
) -> None:
    async with await stream.consume("r", group="late"):
        pass  # the group exists at offset 0
    await publish_all(stream, "r", 5)
    await stream.set_retention("r", Retention(max_count=2))
    await backend.enforce_retention()
    async with await stream.consume("r", group="late") as sub:
        assert [e.offset for e in await take(sub, 2)] == [3, 4]


async def test_delete_removes_a_topic_and_its_groups(stream: Stream) -> None:
    await publish_all(stream, "gone", 3)
    async with await stream.consume("gone", group="g") as sub:
        await take(sub, 3)
    await stream.delete("gone")
    assert await stream.topics() == []
    assert await stream.read("gone") == []
    with pytest.raises(errors.NotFound):
        await stream.delete("gone")
    assert (await stream.publish("gone", b"again")).offset == 0
    assert await stream.groups("gone") == []


@pytest.mark.parametrize("group", ["", "g"])
async def test_deleting_a_topic_ends_its_consumers_with_not_found(stream: Stream, group: str) -> None:
    """A consumer of a deleted topic hears why it stops (a live tail without a group used to
    wait forever; one in a group ended as if the stream were simply over)."""
    await publish_all(stream, "going", 1)
    async with await stream.consume("going", group=group, from_start=True) as sub:
        await take(sub, 1)
        waiting = asyncio.ensure_future(sub.__anext__())
        await asyncio.sleep(0)
        await stream.delete("going")
        with pytest.raises(errors.NotFound, match="topic going was deleted"):
            await asyncio.wait_for(waiting, 10)


async def test_a_group_at_an_offset_past_the_end_starts_at_the_end(stream: Stream) -> None:
    """A group reset (or started) past the last offset would skip every event published
    below that offset later; it is taken as the end of the topic."""
    await publish_all(stream, "short", 3)
    async with await stream.consume("short", group="g"):
        pass
    assert await stream.reset_group("short", "g", offset=1000) == 3
    assert [(g.name, g.position, g.lag) for g in await stream.groups("short")] == [("g", 3, 0)]
    async with await stream.consume("short", group="new", offset=1000) as sub:
        await publish_all(stream, "short", 1)
        assert [e.offset for e in await take(sub, 1)] == [3]
    async with await stream.consume("short", group="g") as sub:
        assert [e.offset for e in await take(sub, 1)] == [3]


async def test_tails_of_topics_never_stored_leave_nothing_behind(stream: Stream, backend: LogStream) -> None:
    """Listening to a name that was never published must not keep it in the server's memory
    (callers choose the names: a loop of tails of random names grew it without bound)."""
    await publish_all(stream, "kept", 1)
    known = len(backend._topics)
    for i in range(20):
        async with await stream.consume(f"nothing-{i}"):
            pass
    await eventually(lambda: len(backend._topics) == known, "the tails' topics forgotten")
    async with await stream.consume("later") as sub:  # a topic forgotten and then published
        await publish_all(stream, "later", 2)
        assert [e.offset for e in await take(sub, 2)] == [0, 1]
    assert [t.name for t in await stream.topics()] == ["kept", "later"]


async def test_dropping_a_namespace_removes_its_topics(backend: LogStream) -> None:
    await backend.publish("orders", b"1", namespace="team")
    await backend.publish("orders", b"1")
    await backend.drop_namespace("team")
    assert await backend.topics(namespace="team") == []
    assert [t.name for t in await backend.topics()] == ["orders"]


async def test_a_timestamp_out_of_range_is_refused(stream: Stream) -> None:
    for bad in (1e20, -1e20, float("nan")):
        with pytest.raises(errors.BadRequest, match="timestamp out of range"):
            await stream.publish("t", b"1", timestamp=bad)
    assert await stream.topics() == []


async def test_a_topic_only_listened_to_is_not_listed(stream: Stream) -> None:
    async with await stream.consume("quiet"):
        assert await stream.topics() == []
    async with await stream.consume("grouped", group="g"):
        assert [t.name for t in await stream.topics()] == ["grouped"]  # the group is stored
