"""The events slice over a real server: the framework's :class:`~micro.events.grpc.GrpcStream`
(imported on first use, in a thread, so the event loop keeps painting)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from micro import errors
from micro.events import Event, GroupInfo, TopicInfo
from micro_tui.real import RealSession
from micro_tui.slices.events import END, Start

if TYPE_CHECKING:
    from micro.events.grpc import GrpcStream

__all__ = ["RealEvents"]

_GRPC = "micro.events.grpc"


class RealEvents:
    """One events client per env + namespace + login, made again when one of them changes."""

    def __init__(self, session: RealSession) -> None:
        self._session = session
        self._client: GrpcStream | None = None
        self._key: tuple[str, str, str | None] = ("", "", None)

    async def _stream(self) -> GrpcStream:
        session = self._session
        key = (session.address, session.namespace, session.token)
        if self._client is None or key != self._key:
            if _GRPC not in sys.modules:
                await asyncio.to_thread(importlib.import_module, _GRPC)
            from micro.events.grpc import GrpcStream

            old, self._client, self._key = (
                self._client,
                GrpcStream(key[0], namespace=key[1], token=key[2]),
                key,
            )
            if old is not None:
                await old.close()
        return self._client

    async def topics(self) -> list[TopicInfo]:
        return await (await self._stream()).topics()

    async def groups(self, topic: str) -> list[GroupInfo]:
        return await (await self._stream()).groups(topic)

    async def consume(self, topic: str, start: Start = END) -> AsyncIterator[Event]:
        stream = await self._stream()
        subscription = await stream.consume(topic, offset=start.offset, since=start.since)
        try:
            async for event in subscription:
                yield event
        finally:
            with contextlib.suppress(Exception):
                await subscription.close()

    async def publish(self, topic: str, payload: str, metadata: dict[str, str]) -> Event:
        return await (await self._stream()).publish(topic, payload.encode(), metadata=metadata)

    async def reset_group(self, topic: str, group: str, start: Start) -> int:
        if start.offset is None and start.since is None:
            raise errors.BadRequest("give an offset or a time to reset a group to")
        return await (await self._stream()).reset_group(topic, group, offset=start.offset, since=start.since)
