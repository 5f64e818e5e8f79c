"""``@service.subscribe`` against micro.testing's in-memory events: the handler runs per event
of the group, an event is acked when it returns and nacked when it raises (so it comes back,
then goes to ``<topic>.dead``), and ``micro.events`` publishes and reads in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

import micro
import micro.events
from micro import errors
from micro.events import Event
from micro.testing import Platform, micro_platform
from tests._poll import eventually

__all__ = ["micro_platform"]


@contextlib.asynccontextmanager
async def running(service: micro.Service) -> AsyncIterator[None]:
    """The service's subscriptions consuming (without serving gRPC)."""
    tasks = [asyncio.create_task(sub.run()) for sub in service._subscriptions]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_handler_gets_each_event_and_a_raise_nacks_until_the_dead_letter(
    micro_platform: Platform,
) -> None:
    service = micro.Service("billing")
    handled: list[tuple[int, int]] = []

    @service.subscribe("orders", group="billing", ack_wait=5, retry_limit=1)
    async def on_order(event: Event) -> None:
        handled.append((event.json()["id"], event.attempt))
        if event.json().get("fail"):
            raise RuntimeError("no")

    async with running(service):
        await micro.events.publish("orders", {"id": 1})
        await micro.events.publish("orders", {"id": 2, "fail": True})
        await micro.events.publish("orders", {"id": 3})

        async def dead() -> bool:
            return bool(await micro.events.read("orders.dead"))

        await eventually(dead, "order 2 reached orders.dead")
    assert sorted(handled) == [(1, 1), (2, 1), (2, 2), (3, 1)]
    [letter] = await micro_platform.events.read("orders.dead")
    assert letter.json() == {"id": 2, "fail": True}
    [group] = await micro_platform.events.groups("orders")
    assert group.position == 3


async def test_plain_functions_are_handlers_too(micro_platform: Platform) -> None:
    service = micro.Service("audit")
    seen: list[bytes] = []
    service.subscribe("log")(lambda event: seen.append(event.payload))
    async with running(service):
        await eventually(lambda: bool(micro_platform.events._topics), "the subscription is in place")
        await micro.events.publish("log", b"raw")
        await eventually(lambda: seen == [b"raw"], "the plain handler ran")


def test_subscribe_refuses_a_bad_topic_or_group() -> None:
    service = micro.Service("x")
    with pytest.raises(errors.BadRequest, match="invalid topic"):
        service.subscribe("a b")
    with pytest.raises(errors.BadRequest, match="invalid group"):
        service.subscribe("t", group="a/b")
