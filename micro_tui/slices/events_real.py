"""The events slice over a real server: the framework's :class:`~micro.events.grpc.GrpcStream`
(imported on first use, in a thread, so the event loop keeps painting)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from micro import errors
from micro.events import Event, GroupInfo, TopicInfo
from micro_tui.real import RealSession, SessionClient
from micro_tui.slices.events import END, Start

if TYPE_CHECKING:
    from micro.events.grpc import GrpcStream

__all__ = ["RealEvents"]

PAGE = 1000
"""The most events one read brings."""
POLL_SECONDS = (0.1, 0.4)
"""How often a followed topic is read: soon again while events come, up to the second
figure while it is quiet."""


class RealEvents:
    """One events client per env + namespace + login, made again when one of them changes."""

    def __init__(self, session: RealSession) -> None:
        self._session = session
        self._clients: SessionClient[GrpcStream] = SessionClient(session, "micro.events.grpc", "GrpcStream")

    async def _stream(self) -> GrpcStream:
        return await self._clients.get()

    async def topics(self) -> list[TopicInfo]:
        return await (await self._stream()).topics()

    async def groups(self, topic: str) -> list[GroupInfo]:
        return await (await self._stream()).groups(topic)

    async def follow(self, topic: str, start: Start = END) -> AsyncIterator[list[Event]]:
        # pages of stored events (Store.Read), not the Consume stream: a stream costs a gRPC
        # message (and its Python handling) per event, a page one per hundreds of events,
        # which keeps the workspace answering keys while a topic takes thousands a second
        stream = await self._stream()
        if start.offset is not None:
            offset = start.offset
        elif start.since is not None:
            offset = await self._offset_since(stream, topic, start.since)
        else:
            found = [t for t in await stream.topics() if t.name == topic]
            offset = found[0].next if found else 0
        delay = POLL_SECONDS[0]
        while True:
            page = await stream.read(topic, offset=offset, limit=PAGE)
            if page:
                offset = page[-1].offset + 1
                yield page
                delay = POLL_SECONDS[0]
                if len(page) == PAGE:
                    continue  # more are stored already
            else:
                delay = min(delay * 2, POLL_SECONDS[1])  # a quiet topic is asked less often
            await asyncio.sleep(delay)

    async def _offset_since(self, stream: GrpcStream, topic: str, since: float) -> int:
        """The offset of the first event at or after ``since`` (as the server finds it for a
        consumer), waiting for one when none is stored yet."""
        subscription = await stream.consume(topic, since=since)
        try:
            return (await anext(subscription)).offset
        finally:
            with contextlib.suppress(Exception):
                await subscription.close()

    async def publish(self, topic: str, payload: str, metadata: dict[str, str]) -> Event:
        return await (await self._stream()).publish(topic, payload.encode(), metadata=metadata)

    async def reset_group(self, topic: str, group: str, start: Start) -> int:
        if start.offset is None and start.since is None:
            raise errors.BadRequest("give an offset or a time to reset a group to")
        return await (await self._stream()).reset_group(topic, group, offset=start.offset, since=start.since)
