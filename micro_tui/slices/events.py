"""Area 3's facade slice: topics, consumer groups, a live consumer, publish, group reset.

The data types are the framework's own (:class:`micro.events.TopicInfo`,
:class:`~micro.events.GroupInfo`, :class:`~micro.events.Event`): :mod:`micro.events` imports
neither grpc nor protobuf, so the screen can import this module cheaply. :class:`Start` is
where a live view begins, parsed from what the user types (:func:`parse_start`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from micro import errors
from micro.events import Event, GroupInfo, TopicInfo

__all__ = [
    "END",
    "EventsFacade",
    "Start",
    "compact_json",
    "parse_metadata",
    "parse_payload",
    "parse_start",
    "rfc3339",
]


@dataclass(frozen=True, slots=True)
class Start:
    """Where a consumer begins: the end (only new events), an ``offset`` or a time
    (``since``, unix seconds). ``text`` is how the user said it (``10m``), for the CLI line."""

    offset: int | None = None
    since: float | None = None
    text: str = ""

    def describe(self) -> str:
        if self.offset is not None:
            return f"from offset {self.offset}"
        if self.since is not None:
            return f"since {self.text or rfc3339(self.since)}"
        return "from the end"

    def flags(self) -> list[str]:
        """The ``micro events consume`` flags that start here."""
        if self.offset is not None:
            return ["--offset", str(self.offset)]
        if self.since is not None:
            return ["--since", self.text or rfc3339(self.since)]
        return []


END = Start()


def rfc3339(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def parse_start(text: str) -> Start:
    """``""``/``end`` (new events only), an offset (``120``), a duration ago (``10m``) or an
    RFC 3339 time; anything else is one line of BadRequest."""
    text = text.strip()
    if text in ("", "end"):
        return END
    if text.isdigit():
        return Start(offset=int(text))
    from micro._duration import parse_duration

    try:
        return Start(since=time.time() - parse_duration(text), text=text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.BadRequest(
            f"start {text!r}: give an offset (120), a duration ago (10m) or a time (2026-01-02T15:04:05Z)"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return Start(since=stamp.timestamp(), text=text)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_payload(text: str) -> str:
    """The JSON payload as compact JSON (what ``micro events publish`` sends), else one line."""
    try:
        return compact_json(json.loads(text))
    except ValueError as exc:
        raise errors.BadRequest(f"invalid JSON payload: {exc}") from None
    except RecursionError:
        raise errors.BadRequest("the JSON payload is nested too deeply") from None


def parse_metadata(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (spaces around pairs ignored) as a dict; a bad pair is one line."""
    found: dict[str, str] = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise errors.BadRequest(f"invalid metadata {pair!r}: expected key=value")
        found[key.strip()] = value.strip()
    return found


class EventsFacade(Protocol):
    """What the events area reads and does, in the current env + namespace."""

    async def topics(self) -> list[TopicInfo]:
        """Every topic, sorted by name."""
        ...

    async def groups(self, topic: str) -> list[GroupInfo]:
        """The consumer groups of ``topic``, sorted by name."""
        ...

    def follow(self, topic: str, start: Start = END) -> AsyncIterator[list[Event]]:
        """The events of ``topic`` from ``start`` on, in batches (oldest first), then each
        batch as it is stored, until the caller stops. Outside any group: it moves no
        position."""
        ...

    async def publish(self, topic: str, payload: str, metadata: dict[str, str]) -> Event:
        """Store one event (``payload`` is JSON text); the event with its id and offset."""
        ...

    async def reset_group(self, topic: str, group: str, start: Start) -> int:
        """Move ``group`` to ``start``'s offset or time; its new position."""
        ...
