"""``micro.broker.publish/subscribe`` inside a service: against micro.testing's in-memory
broker, and against a real server's broker service (the default client)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import micro.broker
from micro.broker import Message
from micro.testing import Platform, micro_platform

__all__ = ["micro_platform"]


async def _first(subscription: micro.broker.Subscription) -> Message:
    async with asyncio.timeout(30):
        return await anext(subscription)


async def test_publish_and_subscribe_use_the_in_memory_broker(micro_platform: Platform) -> None:
    async with await micro.broker.subscribe("news") as news:
        delivery = await micro.broker.publish("news", "hello", header={"lang": "en"})
        assert delivery.delivered == 1
        message = await _first(news)
    assert (message.body, message.header) == (b"hello", {"lang": "en"})
    assert micro_platform.broker.subscribers("news") == 0  # closed on leaving the block


async def test_the_default_client_reaches_the_servers_broker(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICRO_PROXY", server.bound_address)
    async with await micro.broker.subscribe("jobs", queue="workers") as jobs:
        assert server.backends.broker.subscribers("jobs") == 1
        delivery = await micro.broker.publish("jobs", b"\x00binary")
        assert (delivery.delivered, delivery.dropped) == (1, 0)
        assert (await _first(jobs)).body == b"\x00binary"
