"""A :class:`~micro.events.Stream` over a log kept by the backend: topics, offsets, groups,
retention — everything but the storage, which subclasses provide (memory, SQLite).

Each topic's bounds (``first`` retained offset, ``next`` offset to give) are kept in memory
(:class:`TopicState`, loaded once); storage hooks append, fetch, trim and keep group
positions. Delivery to consumers is :mod:`micro.events._group`. Retention runs every
``retention_seconds`` in the background and on :meth:`LogStream.enforce_retention`, with
the injectable ``clock`` (tests move time forward).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import itertools
import logging
import os
import time
from abc import abstractmethod
from collections.abc import Callable, Coroutine
from typing import Any

from micro import errors
from micro.events import (
    DEFAULT_ACK_WAIT,
    DEFAULT_READ_LIMIT,
    DEFAULT_RETRY_LIMIT,
    MAX_READ_LIMIT,
    Event,
    GroupInfo,
    Publication,
    Retention,
    Stream,
    Subscription,
    TopicInfo,
    check_group,
    check_payload,
    check_start,
    check_topic,
    dead_topic,
)
from micro.events._group import Consumer, Group

__all__ = ["DEFAULT_NAMESPACE", "READ_BYTES", "RETENTION_SECONDS", "LogStream", "TopicState"]

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "micro"
RETENTION_SECONDS = 60.0
# payload bytes of one read (a reply must stay well under the 16 MiB message limit)
READ_BYTES = 4 * 1024 * 1024
# the times a Timestamp carries (years 1 to 9999), in unix seconds
_MIN_TIME = -62_135_596_800.0
_MAX_TIME = 253_402_300_799.0


def _ids() -> Callable[[], str]:
    """Event ids shaped like UUIDs: a random prefix per process and a counter (a uuid4 per
    event cost a tenth of a publish)."""
    prefix = os.urandom(10).hex()
    head = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-"
    counter = itertools.count(int.from_bytes(os.urandom(6), "big"))
    return lambda: f"{head}{next(counter) & 0xFFFFFFFFFFFF:012x}"


new_id = _ids()


class TopicState:
    """What the stream keeps in memory about one topic."""

    __slots__ = (
        "anonymous", "busy", "deleted", "first", "groups", "key", "name", "namespace", "next", "retention",
        "staged",
    )  # fmt: skip

    def __init__(
        self, namespace: str, name: str, *, key: Any = None, first: int = 0, next: int = 0,
        retention: Retention = Retention(),
    ) -> None:  # fmt: skip
        self.namespace = namespace
        self.name = name
        self.key = key  # the backend's handle (None: not stored yet)
        self.first = first
        self.next = next
        self.retention = retention
        self.groups: dict[str, Group] = {}
        self.anonymous: set[Group] = set()
        self.deleted = False
        self.staged: Any = None  # the backend's scratch (writes not committed yet)
        self.busy = 0  # writes under way that may store the topic (it is not forgotten meanwhile)

    @property
    def unused(self) -> bool:
        """Known only because someone listened: nothing stored, no group, no consumer, no
        write under way."""
        return (
            self.key is None
            and self.staged is None
            and not self.busy
            and not self.groups
            and not self.anonymous
            and not self.deleted
        )

    def info(self) -> TopicInfo:
        return TopicInfo(self.name, self.next - self.first, self.first, self.next, self.retention)

    def wake(self) -> None:
        for group in self.groups.values():
            group.notifier.notify()
        for group in self.anonymous:
            group.notifier.notify()


class LogStream(Stream):
    """The delivery rules over a backend's log; see the module docstring.

    Args:
        clock: unix time for event timestamps and retention ages.
        retention_seconds: how often retention is enforced in the background.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, retention_seconds: float = RETENTION_SECONDS
    ) -> None:
        self.clock = clock
        self.retention_seconds = retention_seconds
        self._topics: dict[tuple[str, str], TopicState] = {}
        self._loaded = False
        self._retainer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- storage hooks ---------------------------------------------------------------------

    @abstractmethod
    async def _load(self) -> list[TopicState]:
        """Every stored topic (called once, before first use)."""

    @abstractmethod
    async def _store(self, topic: TopicState, events: list[Event]) -> None:
        """Append ``events`` (offsets set here, from ``topic.next``) and advance
        ``topic.next``; returns once they are durable. Creates the topic when its ``key``
        is None."""

    @abstractmethod
    async def _fetch(
        self, topic: TopicState, offset: int, limit: int, max_bytes: int = READ_BYTES
    ) -> list[Event]:
        """Up to ``limit`` stored events from ``offset`` on (at least one if any, at most
        about ``max_bytes`` of payload)."""

    @abstractmethod
    async def _offset_since(self, topic: TopicState, since: float) -> int:
        """The first offset whose timestamp is at or after ``since`` (``next`` if none)."""

    @abstractmethod
    async def _offset_for_bytes(self, topic: TopicState, max_bytes: int) -> int:
        """The lowest offset such that the events from it on hold at most ``max_bytes``."""

    @abstractmethod
    async def _positions(self, topic: TopicState) -> dict[str, int]:
        """The stored position of every group of ``topic``."""

    @abstractmethod
    async def _save_position(self, topic: TopicState, group: str, position: int) -> None: ...

    @abstractmethod
    async def _save_topic(self, topic: TopicState) -> None:
        """Store ``topic``'s retention (creating it when its ``key`` is None)."""

    @abstractmethod
    async def _trim(self, topic: TopicState, first: int) -> None:
        """Drop the events below ``first`` and make it ``topic.first``."""

    @abstractmethod
    async def _drop(self, topic: TopicState) -> None:
        """Remove ``topic``, its events and its groups from storage."""

    # -- topics ----------------------------------------------------------------------------

    async def _ready(self) -> None:
        if not self._loaded:
            for topic in await self._load():
                self._topics.setdefault((topic.namespace, topic.name), topic)
            self._loaded = True
            if any(t.retention for t in self._topics.values()):
                self._retain()

    def _retain(self) -> None:
        """Enforce retention in the background from now on (once a topic has one)."""
        if self._retainer is None and self.retention_seconds > 0:
            self._retainer = asyncio.get_running_loop().create_task(self._retain_forever())

    async def _topic(self, namespace: str, name: str, *, create: bool = False) -> TopicState | None:
        await self._ready()
        key = (namespace or DEFAULT_NAMESPACE, name)
        topic = self._topics.get(key)
        if topic is None and create:
            topic = self._topics[key] = TopicState(*key)
        return topic

    def forget_if_unused(self, topic: TopicState) -> None:
        """Drop a topic its last consumer-only listener left that was never stored: a tail of
        a topic name that does not exist must not stay in memory for good (callers choose
        the names)."""
        key = (topic.namespace, topic.name)
        if topic.unused and self._topics.get(key) is topic:
            del self._topics[key]

    async def _existing(self, namespace: str, name: str) -> TopicState:
        topic = await self._topic(namespace, name)
        if topic is None:
            raise errors.NotFound(f"topic {name} not found")
        return topic

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- publishing ------------------------------------------------------------------------

    def new_event(
        self, topic: str, payload: bytes, metadata: dict[str, str] | None, timestamp: float | None
    ) -> Event:
        check_topic(topic)
        check_payload(payload)
        if timestamp is not None and not _MIN_TIME <= timestamp <= _MAX_TIME:
            raise errors.BadRequest("timestamp out of range: use a time from year 1 to 9999")
        return Event(
            id=new_id(),
            topic=topic,
            offset=0,
            timestamp=self.clock() if timestamp is None else timestamp,
            payload=payload,
            metadata=dict(metadata) if metadata else {},
        )

    async def append(self, namespace: str, topic: str, events: list[Event]) -> None:
        """Store ``events`` (made by :meth:`new_event`) of one topic, in order."""
        state = await self._topic(namespace, topic, create=True)
        assert state is not None
        state.busy += 1
        try:
            await self._store(state, events)
        finally:
            state.busy -= 1
        state.wake()

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        metadata: dict[str, str] | None = None,
        timestamp: float | None = None,
        namespace: str = "",
    ) -> Event:
        event = self.new_event(topic, payload, metadata, timestamp)
        await self.append(namespace, topic, [event])
        return event

    async def publish_batch(
        self, items: builtins.list[Publication], *, namespace: str = ""
    ) -> builtins.list[Event]:
        made = [self.new_event(p.topic, p.payload, p.metadata, p.timestamp) for p in items]
        start = 0
        while start < len(made):  # one append per run of events of one topic
            end = start + 1
            while end < len(made) and made[end].topic == made[start].topic:
                end += 1
            await self.append(namespace, made[start].topic, made[start:end])
            start = end
        return made

    async def _dead(self, topic: TopicState, payload: bytes, metadata: dict[str, str]) -> None:
        name = dead_topic(topic.name)
        event = Event(new_id(), name, 0, self.clock(), payload, metadata)
        await self.append(topic.namespace, name, [event])

    # -- consuming -------------------------------------------------------------------------

    async def _start(
        self, topic: TopicState, offset: int | None, since: float | None, from_start: bool, default: int
    ) -> int:
        """Where a consumer or a reset starts (an offset below ``first`` is where trimming put
        it). A group's start is then kept at most at the end: :meth:`_group_start`."""
        if offset is not None:
            return max(topic.first, offset)
        if since is not None:
            return await self._offset_since(topic, since)
        if from_start:
            return topic.first
        return default

    async def _group_start(
        self, topic: TopicState, offset: int | None, since: float | None, from_start: bool
    ) -> int:
        """Where a new or reset group starts: an offset past the end is the end. Stored as the
        group's position, it would skip every event published below it later (a consumer
        without a group may wait for offset N; a group's position must not run ahead)."""
        return min(await self._start(topic, offset, since, from_start, topic.first), topic.next)

    async def consume(
        self,
        topic: str,
        *,
        group: str = "",
        offset: int | None = None,
        since: float | None = None,
        from_start: bool = False,
        manual_ack: bool = False,
        ack_wait: float = DEFAULT_ACK_WAIT,
        retry_limit: int = DEFAULT_RETRY_LIMIT,
        namespace: str = "",
    ) -> Subscription:
        check_topic(topic)
        check_group(group)
        check_start(offset, since, from_start, ack_wait=ack_wait, retry_limit=retry_limit)
        state = await self._topic(namespace, topic, create=True)
        assert state is not None
        if not group:
            position = await self._start(state, offset, since, from_start, state.next)
            joined = Group(self, state, "", position)
            state.anonymous.add(joined)
        else:
            found = state.groups.get(group)
            if found is None:
                stored = (await self._positions(state)).get(group) if state.key is not None else None
                found = state.groups.get(group)  # joined by another consumer meanwhile
                if found is None:
                    position = (
                        stored
                        if stored is not None
                        else await self._group_start(state, offset, since, from_start)
                    )
                    found = state.groups[group] = Group(self, state, group, position)
                    if stored is None:
                        if state.key is None:
                            await self._save_topic(state)
                        await self._save_position(state, group, position)
            joined = found
        return Consumer(joined, manual=manual_ack, ack_wait=ack_wait, retry_limit=retry_limit)

    # -- reading ---------------------------------------------------------------------------

    async def read(
        self, topic: str, *, offset: int = 0, limit: int = 0, namespace: str = ""
    ) -> builtins.list[Event]:
        check_topic(topic)
        check_start(offset, None, False)
        if not 0 <= limit <= MAX_READ_LIMIT:
            raise errors.BadRequest(f"limit must be 0 to {MAX_READ_LIMIT}: {limit}")
        state = await self._topic(namespace, topic)
        if state is None:
            return []
        start = max(offset, state.first)
        if start >= state.next:
            return []
        return await self._fetch(state, start, limit or DEFAULT_READ_LIMIT)

    async def topics(self, *, namespace: str = "") -> builtins.list[TopicInfo]:
        await self._ready()
        namespace = namespace or DEFAULT_NAMESPACE
        # a topic someone only listens to is not stored yet: not listed
        found = [
            t.info()
            for (ns, _), t in self._topics.items()
            if ns == namespace and not t.deleted and t.key is not None
        ]
        return sorted(found, key=lambda t: t.name)

    async def groups(self, topic: str, *, namespace: str = "") -> builtins.list[GroupInfo]:
        check_topic(topic)
        state = await self._existing(namespace, topic)
        positions = await self._positions(state) if state.key is not None else {}
        found: dict[str, GroupInfo] = {}
        for name, position in positions.items():
            found[name] = GroupInfo(name, position, max(0, state.next - max(position, state.first)))
        for name, group in state.groups.items():
            position = group.committed
            found[name] = GroupInfo(
                name,
                position,
                max(0, state.next - max(position, state.first)),
                consumers=len(group.members),
                pending=len(group.unacked),
            )
        return [found[name] for name in sorted(found)]

    # -- administration --------------------------------------------------------------------

    async def set_retention(self, topic: str, retention: Retention, *, namespace: str = "") -> None:
        check_topic(topic)
        for name, value in (
            ("max_age", retention.max_age),
            ("max_count", retention.max_count),
            ("max_bytes", retention.max_bytes),
        ):
            if value is not None and value <= 0:
                raise errors.BadRequest(f"{name} must be positive: {value}")
        state = await self._topic(namespace, topic, create=True)
        assert state is not None
        state.retention = retention
        state.busy += 1
        try:
            await self._save_topic(state)
        finally:
            state.busy -= 1
        if retention:
            self._retain()
            # at once (in the background: a big topic's trim must not hold the call up)
            self._spawn(self._enforce_logged(state))

    async def delete(self, topic: str, *, namespace: str = "") -> None:
        check_topic(topic)
        state = await self._existing(namespace, topic)
        await self._remove(state)

    async def _remove(self, state: TopicState) -> None:
        state.deleted = True
        self._topics.pop((state.namespace, state.name), None)
        state.wake()  # before stopping: a stopped consumer-only group leaves topic.anonymous
        for group in [*state.groups.values(), *state.anonymous]:
            group.stop()
        if state.key is not None:
            await self._drop(state)

    async def drop_namespace(self, namespace: str) -> None:
        await self._ready()
        for state in [t for (ns, _), t in self._topics.items() if ns == namespace]:
            await self._remove(state)

    async def reset_group(
        self,
        topic: str,
        group: str,
        *,
        offset: int | None = None,
        since: float | None = None,
        namespace: str = "",
    ) -> int:
        check_topic(topic)
        check_group(group)
        if not group:
            raise errors.BadRequest("group is required")
        check_start(offset, since, False)
        state = await self._existing(namespace, topic)
        live = state.groups.get(group)
        if live is None and (state.key is None or group not in await self._positions(state)):
            raise errors.NotFound(f"group {group} of topic {topic} not found")
        position = await self._group_start(state, offset, since, False)
        if live is not None:
            live.reset(position)
        await self._save_position(state, group, position)
        return position

    # -- retention -------------------------------------------------------------------------

    async def enforce_retention(self) -> int:
        """Trim every topic to its retention now; returns the events dropped."""
        await self._ready()
        dropped = 0
        for state in list(self._topics.values()):
            dropped += await self._enforce(state)
        return dropped

    async def _enforce_logged(self, state: TopicState) -> None:
        try:
            await self._enforce(state)
        except Exception:  # the background round tries again
            log.exception("enforcing the retention of %s failed", state.name)

    async def _enforce(self, state: TopicState) -> int:
        """Trim one topic to its retention now; returns the events dropped."""
        retention = state.retention
        if not retention or state.key is None or state.next == state.first:
            return 0
        cutoff = state.first
        if retention.max_count is not None:
            cutoff = max(cutoff, state.next - retention.max_count)
        if retention.max_age is not None:
            cutoff = max(cutoff, await self._offset_since(state, self.clock() - retention.max_age))
        if retention.max_bytes is not None:
            cutoff = max(cutoff, await self._offset_for_bytes(state, retention.max_bytes))
        cutoff = min(cutoff, state.next)
        if cutoff <= state.first or state.deleted:
            return 0
        dropped = cutoff - state.first
        await self._trim(state, cutoff)
        return dropped

    async def _retain_forever(self) -> None:
        while True:
            await asyncio.sleep(self.retention_seconds)
            try:
                await self.enforce_retention()
            except Exception:  # keep going: the next round may succeed
                log.exception("enforcing retention failed")

    async def close(self) -> None:
        if self._retainer is not None:
            self._retainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retainer
            self._retainer = None
        for state in list(self._topics.values()):  # a stopped group may forget its topic
            for group in [*state.groups.values(), *state.anonymous]:
                group.stop()
                for member in list(group.members):
                    member.closed = True
                group.notifier.notify()
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
