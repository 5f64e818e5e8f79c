"""The broker in memory: the server's broker, and ``micro.testing``'s.

Fan-out happens inside :meth:`MemoryBroker.publish`, without awaiting: each subscriber has its
own bounded queue, so a publish costs the same whether subscribers keep up or not, and one that
does not keep up loses messages (counted) instead of slowing the others or growing memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from micro.broker import (
    QUEUE_BYTES,
    QUEUE_MESSAGES,
    Broker,
    Delivery,
    Message,
    Subscription,
    check_message,
    check_topic,
    message_size,
)

__all__ = ["MemoryBroker"]

_Topic = tuple[str, str]  # (namespace, topic)


class _Member(Subscription):
    """One subscriber: a bounded queue the broker fills and the subscriber drains."""

    def __init__(
        self, broker: MemoryBroker, key: _Topic, queue: str, max_messages: int, max_bytes: int
    ) -> None:
        self._broker = broker
        self.key = key
        self.queue = queue
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._items: deque[tuple[Message, int]] = deque()
        self._bytes = 0
        self._dropped = 0  # since the last message handed out
        self.dropped_total = 0
        self._wakeup = asyncio.Event()
        self.closed = False

    def offer(self, message: Message, size: int) -> bool:
        """Queue ``message`` if it fits; False (and counted) if it does not."""
        if len(self._items) >= self._max_messages or self._bytes + size > self._max_bytes:
            self._dropped += 1
            self.dropped_total += 1
            return False
        self._items.append((message, size))
        self._bytes += size
        self._wakeup.set()
        return True

    def has_room(self, size: int) -> bool:
        return len(self._items) < self._max_messages and self._bytes + size <= self._max_bytes

    async def __anext__(self) -> Message:
        while not self._items:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        queued, size = self._items.popleft()
        self._bytes -= size
        dropped, self._dropped = self._dropped, 0
        return Message(body=queued.body, header=queued.header, dropped=dropped)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._broker._remove(self)
            self._wakeup.set()


@dataclass
class _Group:
    """A queue group: members take turns; a full member is skipped."""

    members: list[_Member] = field(default_factory=list)
    turn: int = 0


@dataclass
class _Subscribers:
    plain: list[_Member] = field(default_factory=list)
    groups: dict[str, _Group] = field(default_factory=dict)


class MemoryBroker(Broker):
    """Pub/sub within one process. ``namespace`` defaults to ``micro``.

    Args:
        max_messages, max_bytes: each subscriber's queue bound.
    """

    def __init__(self, *, max_messages: int = QUEUE_MESSAGES, max_bytes: int = QUEUE_BYTES) -> None:
        self._topics: dict[_Topic, _Subscribers] = {}
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self.dropped = 0  # messages dropped for slow subscribers since start

    async def publish(self, topic: str, message: Message, *, namespace: str = "") -> Delivery:
        check_topic(topic)
        check_message(message.body, message.header)
        subscribers = self._topics.get((namespace or "micro", topic))
        if subscribers is None:
            return Delivery()
        size = message_size(message.body, message.header)
        # every subscriber gets the same (immutable in practice) message object
        shared = Message(body=bytes(message.body), header=dict(message.header))
        delivered = dropped = 0
        for member in subscribers.plain:
            if member.offer(shared, size):
                delivered += 1
            else:
                dropped += 1
        for group in subscribers.groups.values():
            count = len(group.members)
            for step in range(count):
                member = group.members[(group.turn + step) % count]
                if member.has_room(size):
                    member.offer(shared, size)
                    group.turn = (group.turn + step + 1) % count
                    delivered += 1
                    break
            else:  # every member is full: dropped once, for the member whose turn it was
                group.members[group.turn % count].offer(shared, size)
                group.turn = (group.turn + 1) % count
                dropped += 1
        self.dropped += dropped
        return Delivery(delivered=delivered, dropped=dropped)

    async def subscribe(self, topic: str, *, queue: str = "", namespace: str = "") -> Subscription:
        check_topic(topic)
        if queue:
            check_topic(queue, "queue")
        key = (namespace or "micro", topic)
        member = _Member(self, key, queue, self._max_messages, self._max_bytes)
        subscribers = self._topics.setdefault(key, _Subscribers())
        if queue:
            subscribers.groups.setdefault(queue, _Group()).members.append(member)
        else:
            subscribers.plain.append(member)
        return member

    def _remove(self, member: _Member) -> None:
        subscribers = self._topics.get(member.key)
        if subscribers is None:
            return
        if member.queue:
            group = subscribers.groups.get(member.queue)
            if group is not None and member in group.members:
                group.members.remove(member)
                if not group.members:
                    del subscribers.groups[member.queue]
        elif member in subscribers.plain:
            subscribers.plain.remove(member)
        if not subscribers.plain and not subscribers.groups:
            del self._topics[member.key]

    def subscribers(self, topic: str, *, namespace: str = "") -> int:
        """Subscribers of ``topic`` now connected (for tests and stats)."""
        subscribers = self._topics.get((namespace or "micro", topic))
        if subscribers is None:
            return 0
        return len(subscribers.plain) + sum(len(g.members) for g in subscribers.groups.values())

    def _members(self, keep: Callable[[_Topic], bool]) -> list[_Member]:
        found: list[_Member] = []
        for key, subscribers in self._topics.items():
            if keep(key):
                found.extend(subscribers.plain)
                found.extend(m for group in subscribers.groups.values() for m in group.members)
        return found

    async def drop_namespace(self, namespace: str) -> None:
        """End every subscription of ``namespace`` (it was deleted)."""
        for member in self._members(lambda key: key[0] == namespace):
            await member.close()

    async def close(self) -> None:
        """End every subscription."""
        for member in self._members(lambda key: True):
            await member.close()
