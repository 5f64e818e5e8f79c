"""In-process event streams: the ``test`` profile's and :mod:`micro.testing`'s.

The log of each topic is a list in memory (lost with the process); delivery, groups, acks,
dead letters and retention are the shared rules of :mod:`micro.events._log`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

from micro.events import Event
from micro.events._log import READ_BYTES, RETENTION_SECONDS, LogStream, TopicState

__all__ = ["MemoryStream"]


class _Log:
    __slots__ = ("events", "positions")

    def __init__(self) -> None:
        self.events: list[Event] = []  # events[i].offset == topic.first + i
        self.positions: dict[str, int] = {}


class MemoryStream(LogStream):
    """Event streams in memory.

    Args:
        clock: unix time for timestamps and retention (tests inject one).
        retention_seconds: how often retention is enforced in the background.
    """

    def __init__(
        self, *, clock: Callable[[], float] | None = None, retention_seconds: float = RETENTION_SECONDS
    ) -> None:
        if clock is None:
            super().__init__(retention_seconds=retention_seconds)
        else:
            super().__init__(clock=clock, retention_seconds=retention_seconds)

    @staticmethod
    def _log(topic: TopicState) -> _Log:
        if topic.key is None:
            topic.key = _Log()
        log: _Log = topic.key
        return log

    async def _load(self) -> list[TopicState]:
        return []

    async def _store(self, topic: TopicState, events: list[Event]) -> None:
        log = self._log(topic)
        for event in events:
            event.offset = topic.next
            topic.next += 1
        log.events.extend(events)

    async def _fetch(
        self, topic: TopicState, offset: int, limit: int, max_bytes: int = READ_BYTES
    ) -> list[Event]:
        if topic.key is None:
            return []
        start = max(offset, topic.first) - topic.first
        found: list[Event] = []
        size = 0
        for event in self._log(topic).events[start : start + limit]:
            if found and size + len(event.payload) > max_bytes:
                break
            size += len(event.payload)
            found.append(event)
        return found

    async def _offset_since(self, topic: TopicState, since: float) -> int:
        events = self._log(topic).events
        for event in events:  # timestamps may come from publishers: not sorted
            if event.timestamp >= since:
                return event.offset
        return topic.next

    async def _offset_for_bytes(self, topic: TopicState, max_bytes: int) -> int:
        events = self._log(topic).events
        sizes = [0]
        for event in reversed(events):
            sizes.append(sizes[-1] + len(event.payload))
        keep = bisect.bisect_right(sizes, max_bytes) - 1  # events from the end that fit
        return topic.next - keep

    async def _positions(self, topic: TopicState) -> dict[str, int]:
        return dict(self._log(topic).positions)

    async def _save_position(self, topic: TopicState, group: str, position: int) -> None:
        self._log(topic).positions[group] = position

    async def _save_topic(self, topic: TopicState) -> None:
        self._log(topic)

    async def _trim(self, topic: TopicState, first: int) -> None:
        log = self._log(topic)
        del log.events[: first - topic.first]
        topic.first = first

    async def _drop(self, topic: TopicState) -> None:
        topic.key = None
