"""Consumer groups on a log (:mod:`micro.events._log`): who gets which event, acks,
redelivery timers and dead letters. Shared by every backend that keeps its log itself (memory,
SQLite), so the delivery rules are written once.

A group has a ``cursor`` (the next offset to hand out) and a ``committed`` position (every
offset below it is done). Members pull: each takes a redelivery first, else the next event
of the log (read ahead in batches), else waits; so the members of a group share its events
and each event goes to one of them. A consumer without a group gets a private, unsaved
group of its own. With manual ack a handed event stays *pending* until acked; one not acked
within its ``ack_wait`` (a timer on the loop) or nacked is queued for redelivery to any
member, and after ``retry_limit`` redeliveries is published to ``<topic>.dead`` instead.
Positions of named groups are saved: on every manual ack that moves them, and with
auto-ack once per batch read ahead and when the group goes idle (a server killed in between
redelivers at most that batch: at-least-once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import logging
from collections import deque
from typing import TYPE_CHECKING

from micro import errors
from micro.events import Event, Subscription

if TYPE_CHECKING:
    from micro.events._log import LogStream, TopicState

__all__ = ["MAX_INFLIGHT", "READ_AHEAD", "Consumer", "Group", "Notifier"]

log = logging.getLogger(__name__)

# events one manual-ack consumer may hold unacked before it gets no more
MAX_INFLIGHT = 1000
# events read from the log at once per group
READ_AHEAD = 256
# metadata a dead letter carries besides the event's own
DEAD_REASON = "micro-dead-reason"
_counter = itertools.count()


class Notifier:
    """Wakes every waiter at once (a tiny broadcast condition)."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def wait(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)


@dataclasses.dataclass(slots=True, eq=False)
class _Pending:
    """A handed event not acked yet (manual ack)."""

    event: Event
    attempt: int = 1
    consumer: Consumer | None = None
    deadline: float = 0.0
    ack_wait: float = 0.0
    retry_limit: int = 0
    done: bool = False


class Group:
    """One consumer group of a topic (``name`` "" for a consumer's private one)."""

    def __init__(self, stream: LogStream, topic: TopicState, name: str, position: int) -> None:
        self.stream = stream
        self.topic = topic
        self.name = name
        self.cursor = position
        self.committed = position
        self.saved = position
        self.unacked: dict[int, _Pending] = {}
        self.redeliver: deque[_Pending] = deque()
        self.buffer: deque[Event] = deque()
        self.members: set[Consumer] = set()
        self.notifier = Notifier()
        self._timers: list[tuple[float, int, _Pending, int]] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def persistent(self) -> bool:
        return bool(self.name)

    # -- handing out -----------------------------------------------------------------------

    async def take(self, consumer: Consumer) -> Event:
        topic = self.topic
        while True:
            if consumer.closed:
                raise StopAsyncIteration
            if topic.deleted:  # its consumers hear why they stop (a clean end reads as "done")
                raise errors.NotFound(f"topic {topic.name} was deleted")
            while self.redeliver:
                pending = self.redeliver.popleft()
                if not pending.done:
                    pending.attempt += 1
                    return self._hand(
                        dataclasses.replace(pending.event, attempt=pending.attempt), consumer, pending
                    )
            if consumer.manual and len(consumer.inflight) >= MAX_INFLIGHT:
                await self.notifier.wait()
                continue
            while self.buffer and self.buffer[0].offset < topic.first:  # trimmed meanwhile
                self.buffer.popleft()
            if self.buffer:
                event = self.buffer.popleft()
                self.cursor = event.offset + 1
                return self._hand(event, consumer, None)
            if self.cursor < topic.first:  # trimmed by retention meanwhile
                self.cursor = topic.first
                if not self.unacked:
                    self.committed = max(self.committed, topic.first)
            if self.cursor < topic.next:
                if self.persistent and self.committed != self.saved:
                    await self.save()
                cursor = self.cursor
                events = await self.stream._fetch(topic, cursor, READ_AHEAD)
                if events and not self.buffer and self.cursor == cursor:
                    self.buffer.extend(events)
                    self.cursor = events[0].offset
                continue
            if self.persistent and self.committed != self.saved:
                await self.save()
                continue
            await self.notifier.wait()

    def _hand(self, event: Event, consumer: Consumer, pending: _Pending | None) -> Event:
        if consumer.manual:
            if pending is None:
                pending = self.unacked[event.offset] = _Pending(event)
            pending.consumer = consumer
            pending.ack_wait = consumer.ack_wait
            pending.retry_limit = consumer.retry_limit
            pending.deadline = asyncio.get_running_loop().time() + consumer.ack_wait
            consumer.inflight[event.id] = pending
            self._schedule(pending)
            return event
        if pending is not None:  # a redelivery taken with auto-ack: done now
            pending.done = True
            self.unacked.pop(event.offset, None)
        self._advance()
        return event

    def _advance(self) -> None:
        committed, unacked = self.committed, self.unacked
        while committed < self.cursor and committed not in unacked:
            committed += 1
        self.committed = committed

    async def save(self) -> None:
        """Store the committed position (named groups)."""
        if not self.persistent or self.committed == self.saved:
            return
        position = self.committed
        self.saved = position
        await self.stream._save_position(self.topic, self.name, position)

    # -- acks ------------------------------------------------------------------------------

    async def ack(self, consumer: Consumer, event_id: str) -> None:
        pending = consumer.inflight.pop(event_id, None)
        if pending is None or pending.done:
            return  # auto-ack, unknown, or already redelivered elsewhere: at-least-once
        self._done(pending)
        if len(consumer.inflight) == MAX_INFLIGHT - 1:
            self.notifier.notify()
        await self.save()

    def _done(self, pending: _Pending) -> None:
        pending.done = True
        self.unacked.pop(pending.event.offset, None)
        self._advance()

    async def nack(self, consumer: Consumer, event_id: str) -> None:
        pending = consumer.inflight.pop(event_id, None)
        if pending is None or pending.done:
            return
        self._retry(pending, "nacked")

    def _retry(self, pending: _Pending, reason: str) -> None:
        if 0 <= pending.retry_limit < pending.attempt:
            self.stream._spawn(self._dead_letter(pending, reason))
            self.notifier.notify()  # its consumer holds one event fewer
        else:
            self.redeliver.append(pending)
            self.notifier.notify()

    async def _dead_letter(self, pending: _Pending, reason: str) -> None:
        event = pending.event
        metadata = {
            **event.metadata,
            DEAD_REASON: reason,
            "micro-dead-topic": event.topic,
            "micro-dead-offset": str(event.offset),
            "micro-dead-id": event.id,
            "micro-dead-attempts": str(pending.attempt),
        }
        if self.name:
            metadata["micro-dead-group"] = self.name
        try:
            await self.stream._dead(self.topic, event.payload, metadata)
        except Exception:
            log.exception("moving event %s of %s to its dead-letter topic failed", event.id, event.topic)
            self.redeliver.append(pending)  # try again with the next failure
            self.notifier.notify()
            return
        if pending.done:  # acked meanwhile after all
            return
        self._done(pending)
        await self.save()

    # -- ack_wait timers -------------------------------------------------------------------

    def _schedule(self, pending: _Pending) -> None:
        entry = (pending.deadline, next(_counter), pending, pending.attempt)
        heapq.heappush(self._timers, entry)
        if self._timers[0] is entry:
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._timers:
            self._timer = asyncio.get_running_loop().call_at(self._timers[0][0], self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        while self._timers and self._timers[0][0] <= now:
            _, _, pending, attempt = heapq.heappop(self._timers)
            if pending.done or pending.attempt != attempt or pending.consumer is None:
                continue
            if pending.consumer.inflight.get(pending.event.id) is not pending:
                continue  # nacked meanwhile
            del pending.consumer.inflight[pending.event.id]
            self._retry(pending, f"not acknowledged within {pending.ack_wait:g}s")
        self._arm()

    # -- members ---------------------------------------------------------------------------

    def reset(self, position: int) -> None:
        """Move to ``position``, forgetting what was pending."""
        for pending in self.unacked.values():
            pending.done = True
        self.unacked.clear()
        self.redeliver.clear()
        self.buffer.clear()
        for member in self.members:
            member.inflight.clear()
        self.cursor = self.committed = self.saved = position
        self.notifier.notify()

    def leave(self, consumer: Consumer) -> None:
        self.members.discard(consumer)
        self.notifier.notify()
        if not self.persistent:
            self.stop()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timers.clear()
        self.topic.anonymous.discard(self)
        self.stream.forget_if_unused(self.topic)


class Consumer(Subscription):
    """One member of a group: the :class:`~micro.events.Subscription` backends hand out."""

    def __init__(self, group: Group, *, manual: bool, ack_wait: float, retry_limit: int) -> None:
        self.group = group
        self.manual = manual
        self.ack_wait = ack_wait
        self.retry_limit = retry_limit
        self.inflight: dict[str, _Pending] = {}
        self.closed = False
        group.members.add(self)

    async def __anext__(self) -> Event:
        return await self.group.take(self)

    async def ack(self, event: Event) -> None:
        if self.manual:
            await self.group.ack(self, event.id)

    async def nack(self, event: Event) -> None:
        if self.manual:
            await self.group.nack(self, event.id)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.group.leave(self)
        try:
            await self.group.save()
        except Exception:
            log.exception("saving the position of group %s failed", self.group.name)
