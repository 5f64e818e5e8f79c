"""Events: ordered, persistent, replayable streams with consumer groups.

Each topic is a log: events get contiguous offsets from 0. A consumer reads from an offset,
a time, the start, or (without a group) only new events; within a group each event goes to
one member and the group's position is kept; with manual ack an event not acked within
``ack_wait`` (or nacked) comes back, up to ``retry_limit`` times, then moves to the topic's
dead-letter topic ``<topic>.dead`` with the reason in its metadata.

Backends: :mod:`micro.events.memory` (in-process), :mod:`micro.events.grpc` (the events
service, the default inside services); the server adds SQLite. Inside a service::

    await micro.events.publish("orders", {"id": 1}, metadata={"source": "web"})
    async with await micro.events.consume("orders", group="billing") as events:
        async for event in events:
            print(event.offset, event.json())
"""

from __future__ import annotations

import builtins
import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from micro import errors

__all__ = [
    "DEAD_SUFFIX",
    "DEFAULT_ACK_WAIT",
    "DEFAULT_READ_LIMIT",
    "DEFAULT_RETRY_LIMIT",
    "MAX_OFFSET",
    "MAX_PAYLOAD_BYTES",
    "MAX_READ_LIMIT",
    "Event",
    "GroupInfo",
    "Publication",
    "Retention",
    "Stream",
    "Subscription",
    "TopicInfo",
    "check_group",
    "check_payload",
    "check_start",
    "check_topic",
    "consume",
    "dead_topic",
    "default",
    "encode_payload",
    "publish",
    "read",
    "set_default",
]

# an event's payload; larger objects belong in the blob store
MAX_PAYLOAD_BYTES = 1024 * 1024
DEFAULT_ACK_WAIT = 30.0
DEFAULT_RETRY_LIMIT = 5
DEFAULT_READ_LIMIT = 100
MAX_READ_LIMIT = 10_000
DEAD_SUFFIX = ".dead"
# the largest offset a request may name (a signed 64-bit integer in storage)
MAX_OFFSET = 2**63 - 1
_TOPIC = re.compile(r"[A-Za-z0-9_.-]{1,255}")


@dataclass(slots=True)
class Event:
    """One stored event. ``timestamp`` is unix seconds; ``attempt`` is 1 on first delivery."""

    id: str
    topic: str
    offset: int
    timestamp: float
    payload: bytes = b""
    metadata: dict[str, str] = field(default_factory=dict)
    attempt: int = 1

    def json(self) -> Any:
        """The payload decoded as JSON.

        Raises:
            BadRequest: the payload is not JSON.
        """
        try:
            return json.loads(self.payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.BadRequest(f"event {self.id} is not JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class Publication:
    """One event to publish in a batch (:meth:`Stream.publish_batch`)."""

    topic: str
    payload: bytes
    metadata: dict[str, str] | None = None
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class Retention:
    """How long a topic keeps its events: at most ``max_age`` seconds old, ``max_count``
    events and ``max_bytes`` of payload (None: no limit). Enforced in the background."""

    max_age: float | None = None
    max_count: int | None = None
    max_bytes: int | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.max_age, self.max_count, self.max_bytes))


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic: its retained events (offsets ``first`` to ``next - 1``) and retention."""

    name: str
    events: int
    first: int
    next: int
    retention: Retention = Retention()

    @property
    def last(self) -> int | None:
        """The last offset, None while the topic holds no event."""
        return self.next - 1 if self.events else None


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A consumer group of a topic: ``position`` (every event below it is done), ``lag``
    (events from it on), connected ``consumers`` and ``pending`` (delivered, not acked)."""

    name: str
    position: int
    lag: int
    consumers: int = 0
    pending: int = 0


def check_topic(topic: str, field: str = "topic") -> None:
    """Refuse a topic name outside ``[A-Za-z0-9_.-]{1,255}`` (one line naming ``field``)."""
    if not topic:
        raise errors.BadRequest(f"{field} is required")
    if _TOPIC.fullmatch(topic) is None:
        shown = topic if len(topic) <= 64 else topic[:61] + "..."
        raise errors.BadRequest(f"invalid {field} {shown!r}: use 1-255 of A-Z a-z 0-9 _ . -")


def check_group(group: str) -> None:
    """Group names follow the topic rule (an empty one means no group)."""
    if group:
        check_topic(group, "group")


def check_payload(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise errors.BadRequest(f"payload too large: {len(payload)} bytes (limit {MAX_PAYLOAD_BYTES})")


def check_start(
    offset: int | None, since: float | None, from_start: bool, *, ack_wait: float = 1.0, retry_limit: int = 0
) -> None:
    """Refuse a negative offset, more than one start, a non-positive ack_wait or a retry
    limit below -1 (one line naming the option)."""
    if offset is not None and offset < 0:
        raise errors.BadRequest(f"offset must not be negative: {offset}")
    if offset is not None and offset > MAX_OFFSET:
        raise errors.BadRequest(f"offset out of range: {offset} (limit {MAX_OFFSET})")
    if sum((offset is not None, since is not None, from_start)) > 1:
        raise errors.BadRequest("give at most one of offset, since and from_start")
    if not ack_wait > 0:
        raise errors.BadRequest(f"ack_wait must be positive: {ack_wait}")
    if retry_limit < -1:
        raise errors.BadRequest(f"retry_limit must be -1 (no limit) or more: {retry_limit}")


def dead_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return topic + DEAD_SUFFIX


def encode_payload(payload: Any) -> bytes:
    """``bytes`` as they are, ``str`` as UTF-8, anything else as compact JSON."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise errors.BadRequest(f"payload is not JSON-serialisable: {exc}") from None


class Subscription(ABC):
    """Events of one consumer, in offset order (redeliveries may come later).

    Iterate it (``async for event in sub``); with manual ack, :meth:`ack` or :meth:`nack`
    each event. Close it (or use ``async with``) to leave the group.
    """

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    @abstractmethod
    async def __anext__(self) -> Event:
        """The next event (waits for one)."""

    @abstractmethod
    async def ack(self, event: Event) -> None:
        """Mark ``event`` done (a no-op with auto-ack)."""

    @abstractmethod
    async def nack(self, event: Event) -> None:
        """Give ``event`` back for redelivery now (a no-op with auto-ack)."""

    @abstractmethod
    async def close(self) -> None:
        """Stop consuming; unacked events come back to the group after their ack_wait."""

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class Stream(ABC):
    """Persistent event streams. ``namespace`` "" means the caller's (``micro`` in-process)."""

    @abstractmethod
    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        metadata: dict[str, str] | None = None,
        timestamp: float | None = None,
        namespace: str = "",
    ) -> Event:
        """Append an event; returns it (with its id and offset) once it is stored."""

    async def publish_batch(
        self, items: builtins.list[Publication], *, namespace: str = ""
    ) -> builtins.list[Event]:
        """Publish ``items`` in order; all are checked before any is stored. Backends
        store a batch together where they can (the streamed publish uses this)."""
        return [
            await self.publish(
                p.topic, p.payload, metadata=p.metadata, timestamp=p.timestamp, namespace=namespace
            )
            for p in items
        ]

    @abstractmethod
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
        """Subscribe to ``topic``; the subscription is in place when this returns.

        Start: without a group, ``offset``, ``since`` or ``from_start`` if given, else only
        new events; a group resumes its position, and starts where those say (default: the
        beginning) only when it is new. ``retry_limit`` redeliveries at most (-1: no limit).
        """

    @abstractmethod
    async def read(
        self, topic: str, *, offset: int = 0, limit: int = 0, namespace: str = ""
    ) -> builtins.list[Event]:
        """Stored events from ``offset`` (the first retained one at or after it), oldest
        first, at most ``limit`` (0: :data:`DEFAULT_READ_LIMIT`). An unknown topic: none."""

    @abstractmethod
    async def topics(self, *, namespace: str = "") -> builtins.list[TopicInfo]:
        """Topics of the namespace, sorted by name."""

    @abstractmethod
    async def groups(self, topic: str, *, namespace: str = "") -> builtins.list[GroupInfo]:
        """Consumer groups of ``topic``, sorted by name."""

    @abstractmethod
    async def set_retention(self, topic: str, retention: Retention, *, namespace: str = "") -> None:
        """Set ``topic``'s retention (an empty one keeps everything)."""

    @abstractmethod
    async def delete(self, topic: str, *, namespace: str = "") -> None:
        """Remove ``topic``, its events and groups (NotFound when it does not exist)."""

    @abstractmethod
    async def reset_group(
        self,
        topic: str,
        group: str,
        *,
        offset: int | None = None,
        since: float | None = None,
        namespace: str = "",
    ) -> int:
        """Move ``group`` to ``offset`` or the first event at or after ``since``; returns
        the new position. Its pending events are forgotten."""

    async def drop_namespace(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """Remove every topic and group of ``namespace`` (the server's backends do)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


# --- module-level client: ``await micro.events.publish("orders", {...})`` inside a service ----

_default: Stream | None = None


def set_default(stream: Stream | None) -> None:
    """Use ``stream`` for the module-level functions (None: the events service again)."""
    global _default
    _default = stream


def default() -> Stream:
    """The stream the module-level functions use."""
    if _default is not None:
        return _default
    from micro import _platform
    from micro.events.grpc import GrpcStream

    return _platform.loop_client(
        "micro.events", lambda address, ns, token: GrpcStream(address, namespace=ns, token=token)
    )


async def _client() -> Stream:
    if _default is None:
        from micro import _platform

        await _platform.authenticate()
    return default()


async def publish(
    topic: str, payload: Any, *, metadata: dict[str, str] | None = None, timestamp: float | None = None
) -> Event:
    """Publish ``payload`` (bytes, str, or anything JSON-serialisable) to ``topic``."""
    return await (await _client()).publish(
        topic, encode_payload(payload), metadata=metadata, timestamp=timestamp
    )


async def consume(
    topic: str,
    *,
    group: str = "",
    offset: int | None = None,
    since: float | None = None,
    from_start: bool = False,
    manual_ack: bool = False,
    ack_wait: float = DEFAULT_ACK_WAIT,
    retry_limit: int = DEFAULT_RETRY_LIMIT,
) -> Subscription:
    """Subscribe to ``topic`` (see :meth:`Stream.consume`)."""
    return await (await _client()).consume(
        topic,
        group=group,
        offset=offset,
        since=since,
        from_start=from_start,
        manual_ack=manual_ack,
        ack_wait=ack_wait,
        retry_limit=retry_limit,
    )


async def read(topic: str, *, offset: int = 0, limit: int = 0) -> builtins.list[Event]:
    """Stored events of ``topic`` from ``offset`` (see :meth:`Stream.read`)."""
    return await (await _client()).read(topic, offset=offset, limit=limit)
