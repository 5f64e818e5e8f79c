"""The fake events slice (tests and snapshots): a few topics with fixed events and groups,
held to what the real one does by the contract suite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

from micro import errors
from micro.events import Event, GroupInfo, Retention, TopicInfo, check_group, check_topic
from micro_tui.fake import FakeSession
from micro_tui.slices.events import END, Start

__all__ = ["FakeEvents"]

EPOCH = 1_767_268_800.0  # 2026-01-01T12:00:00Z: the fixture's events are this old and on


def _fixture() -> dict[str, list[Event]]:
    orders = [
        Event(
            f"ev-{n:04d}",
            "orders",
            n,
            EPOCH + n * 1.5,
            json.dumps(
                {"id": 1000 + n, "item": ["book", "pen", "lamp"][n % 3], "qty": n % 4 + 1},
                separators=(",", ":"),
            ).encode(),
            {"source": "web"} if n % 2 else {"source": "app", "trace": f"t{n}"},
        )
        for n in range(12)
    ]
    payments = [
        Event(
            f"pay-{n:04d}",
            "payments",
            n,
            EPOCH + 60 + n,
            json.dumps({"order": 1000 + n, "ok": True}, separators=(",", ":")).encode(),
        )
        for n in range(3)
    ]
    return {"orders": orders, "orders.dead": [], "payments": payments}


class FakeEvents:
    """``orders`` (12 events, groups ``billing`` and ``shipping``), ``payments`` (3, a
    retention), ``orders.dead`` (empty). Publishing wakes every live consumer."""

    def __init__(self, session: FakeSession) -> None:
        self._session = session
        self.log: dict[str, list[Event]] = _fixture()
        self.retention: dict[str, Retention] = {"payments": Retention(max_age=7 * 86400.0)}
        self.positions: dict[tuple[str, str], int] = {("orders", "billing"): 9, ("orders", "shipping"): 12}
        self.consumers: dict[tuple[str, str], int] = {("orders", "billing"): 1}
        self._live: dict[str, list[asyncio.Queue[Event]]] = {}
        self.published: list[Event] = []

    async def topics(self) -> list[TopicInfo]:
        self._session.check()
        found = []
        for name in sorted(self.log):
            events = self.log[name]
            first = events[0].offset if events else 0
            found.append(
                TopicInfo(
                    name, len(events), first, first + len(events), self.retention.get(name, Retention())
                )
            )
        return found

    async def groups(self, topic: str) -> list[GroupInfo]:
        self._session.check()
        size = len(self.log.get(topic, []))
        return [
            GroupInfo(group, position, max(0, size - position), self.consumers.get((t, group), 0))
            for (t, group), position in sorted(self.positions.items())
            if t == topic
        ]

    async def follow(self, topic: str, start: Start = END) -> AsyncIterator[list[Event]]:
        check_topic(topic)
        self._session.check()
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._live.setdefault(topic, []).append(queue)
        try:
            stored = [
                replace(e)
                for e in self.log.get(topic, [])
                if (start.offset is not None and e.offset >= start.offset)
                or (start.since is not None and e.timestamp >= start.since)
            ]
            if stored:
                yield stored
            while True:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                yield batch
        finally:
            self._live[topic].remove(queue)

    async def publish(self, topic: str, payload: str, metadata: dict[str, str]) -> Event:
        check_topic(topic)
        self._session.check()
        events = self.log.setdefault(topic, [])
        offset = events[-1].offset + 1 if events else 0
        stamp = events[-1].timestamp + 1 if events else EPOCH
        event = Event(f"fake-{topic}-{offset}", topic, offset, stamp, payload.encode(), dict(metadata))
        events.append(event)
        self.published.append(event)
        for queue in self._live.get(topic, []):
            queue.put_nowait(replace(event))
        return event

    async def reset_group(self, topic: str, group: str, start: Start) -> int:
        check_topic(topic)
        check_group(group)
        self._session.check()
        if start.offset is None and start.since is None:
            raise errors.BadRequest("give an offset or a time to reset a group to")
        if topic not in self.log:
            raise errors.NotFound(f"topic {topic} not found")
        if (topic, group) not in self.positions:
            raise errors.NotFound(f"group {group} of topic {topic} not found")
        events = self.log[topic]
        if start.offset is not None:
            position = start.offset
        else:
            position = next((e.offset for e in events if e.timestamp >= (start.since or 0)), len(events))
        self.positions[(topic, group)] = position
        return position
