"""The events slice's contract, over the fake and the real one (an in-process server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from micro import errors
from micro.events import Event
from micro_tui.slices.events import END, Start, parse_metadata, parse_payload, parse_start
from tests.micro_tui.contract import Harness, logged_in

DEADLINE = 10.0


async def _make_group(harness: Harness, topic: str, group: str) -> None:
    """A consumer group of ``topic`` that has taken every event, made by another user of the
    server (the workspace has no group consumer of its own)."""
    if not harness.address:
        fake = harness.facade.events
        fake.positions[(topic, group)] = len(fake.log[topic])  # type: ignore[attr-defined]
        return
    from micro.auth.grpc import GrpcAuth
    from micro.events.grpc import GrpcStream

    auth = GrpcAuth(harness.address, namespace="micro")
    token = (await auth.token(id="admin", secret="micro", namespace="micro")).access_token
    await auth.close()
    stream = GrpcStream(harness.address, namespace="micro", token=token)
    try:
        async with await stream.consume(topic, group=group, from_start=True) as sub:
            async for event in sub:
                if event.offset == 1:
                    break
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not [g for g in await stream.groups(topic) if g.name == group and g.position == 2]:
            assert loop.time() < deadline, "the group's position never moved past the events"
            await asyncio.sleep(0.05)
    finally:
        await stream.close()


async def test_publish_then_topics_groups_and_a_group_reset(harness: Harness) -> None:
    facade = await logged_in(harness)
    events = facade.events
    first = await events.publish("contract", '{"n":1}', {"source": "tui"})
    assert (first.topic, first.offset) == ("contract", 0) and first.id
    second = await events.publish("contract", '{"n":2}', {})
    assert second.offset == 1
    [topic] = [t for t in await events.topics() if t.name == "contract"]
    assert (topic.events, topic.first, topic.last, topic.next) == (2, 0, 1, 2)
    names = [t.name for t in await events.topics()]
    assert names == sorted(names)
    assert await events.groups("contract") == []
    await _make_group(harness, "contract", "billing")
    [group] = await events.groups("contract")
    assert (group.name, group.position, group.lag) == ("billing", 2, 0)
    assert await events.reset_group("contract", "billing", Start(offset=0)) == 0
    [group] = await events.groups("contract")
    assert (group.position, group.lag) == (0, 2)
    # to a time: the first event at or after it
    assert await events.reset_group("contract", "billing", Start(since=first.timestamp + 3600)) == 2
    with pytest.raises(errors.BadRequest):
        await events.reset_group("contract", "billing", END)  # nowhere to move it to
    with pytest.raises(errors.NotFound):
        await events.reset_group("contract", "nobody", Start(offset=0))
    with pytest.raises(errors.BadRequest):
        await events.publish("bad topic!", "{}", {})


async def _events(follower: Any, count: int) -> list[Event]:
    """The next ``count`` events ``follower`` brings (in batches of any size)."""
    got: list[Event] = []
    while len(got) < count:
        got += await asyncio.wait_for(anext(follower), DEADLINE)
    return got


async def test_following_replays_from_an_offset_or_a_time_then_goes_on(harness: Harness) -> None:
    facade = await logged_in(harness)
    events = facade.events
    stored = [await events.publish("replay", json.dumps({"n": n}), {"k": str(n)}) for n in range(3)]
    follower = events.follow("replay", Start(offset=1))
    try:
        got = await _events(follower, 2)
        assert [(e.offset, e.payload, e.metadata) for e in got] == [
            (1, b'{"n": 1}', {"k": "1"}),
            (2, b'{"n": 2}', {"k": "2"}),
        ]
        live = [await events.publish("replay", json.dumps({"n": n}), {}) for n in (3, 4)]
        assert [e.id for e in await _events(follower, 2)] == [e.id for e in live]
    finally:
        await follower.aclose()
    since = events.follow("replay", Start(since=stored[2].timestamp))
    try:
        assert [e.offset for e in await _events(since, 3)] == [2, 3, 4]
    finally:
        await since.aclose()


async def test_following_from_the_end_brings_only_new_events(harness: Harness) -> None:
    facade = await logged_in(harness)
    events = facade.events
    await events.publish("tail", '"old"', {})
    follower = events.follow("tail")
    waiting = asyncio.ensure_future(_events(follower, 1))
    try:
        # where "the end" is gets settled some time after the first read: publish until one shows
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEADLINE
        while not waiting.done():
            assert loop.time() < deadline, "following from the end never brought a new event"
            await events.publish("tail", '"new"', {})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiting), 0.2)
        assert {e.payload for e in waiting.result()} == {b'"new"'}
    finally:
        waiting.cancel()
        with contextlib.suppress(BaseException):
            await waiting
        await follower.aclose()


def test_start_payload_and_metadata_parse_as_the_cli_takes_them() -> None:
    assert parse_start("") == END and parse_start("end") == END
    assert parse_start("120") == Start(offset=120)
    ago = parse_start("10m")
    assert ago.since is not None and ago.flags() == ["--since", "10m"]
    assert parse_start("2026-01-02T15:04:05Z").since == 1767366245.0
    with pytest.raises(errors.BadRequest, match="give an offset"):
        parse_start("yesterday")
    assert parse_payload('{ "a" : [1, 2] }') == '{"a":[1,2]}'
    with pytest.raises(errors.BadRequest, match="invalid JSON payload"):
        parse_payload("{nope")
    assert parse_metadata(" a=1, b = x=y ,") == {"a": "1", "b": "x=y"}
    with pytest.raises(errors.BadRequest, match="expected key=value"):
        parse_metadata("novalue")
