"""The embedded events log: an append-only SQLite file in WAL mode.

Layout: ``topics`` (id, namespace, name, first retained offset, retention), ``events`` keyed
by ``rowid = topic id << 40 | offset`` (so an event is found, and a topic's range read, by
rowid alone: no second index, 2^40 offsets per topic), and ``groups`` (topic, name,
position).

Writes go through the server's :class:`~server.sqlite_writer.SqliteWriter`: a publish is
one unit, committed inline when nothing waits and together with the others queued behind a
checkpoint otherwise (group commit); each returns only after its COMMIT, so an acknowledged
event survives ``kill -9``. Offsets are given inside the unit, in the order units commit,
and a topic's ``next`` moves only once its transaction committed (a failed transaction
gives none of its offsets away, so offsets stay contiguous). Reads run inline on the
writer's connection (they see exactly what was committed).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from micro import errors
from micro.events import Event, Retention
from micro.events._log import READ_BYTES, RETENTION_SECONDS, LogStream, TopicState
from server.sqlite_writer import SqliteWriter

__all__ = ["SqliteStream"]

SCHEMA_VERSION = 1
_SHIFT = 40
_SPAN = 1 << _SHIFT
# rows deleted per writer unit when trimming or dropping a topic: one short step at a time
_DELETE_BATCH = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ns TEXT NOT NULL,
    name TEXT NOT NULL,
    first INTEGER NOT NULL DEFAULT 0,
    retention TEXT NOT NULL DEFAULT '{}',
    UNIQUE (ns, name)
);
CREATE TABLE IF NOT EXISTS events (ts REAL NOT NULL, id TEXT NOT NULL, metadata TEXT, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
    topic INTEGER NOT NULL,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (topic, name)
) WITHOUT ROWID;
"""

_INSERT = "INSERT INTO events (rowid, ts, id, metadata, payload) VALUES (?, ?, ?, ?, ?)"
_UPSERT_TOPIC = (
    "INSERT INTO topics (ns, name, retention) VALUES (?, ?, ?)"
    " ON CONFLICT (ns, name) DO UPDATE SET retention = excluded.retention RETURNING id"
)
_FETCH = (
    "SELECT rowid, ts, id, metadata, payload FROM events"
    " WHERE rowid >= ? AND rowid < ? ORDER BY rowid LIMIT ?"
)


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise errors.InternalServerError(
            f"the events log at {path} is from a newer micro"
            f" (layout {version}, this one knows {SCHEMA_VERSION})"
        )
    db.executescript(_SCHEMA)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _retention_json(retention: Retention) -> str:
    raw = {"max_age": retention.max_age, "max_count": retention.max_count, "max_bytes": retention.max_bytes}
    return json.dumps({k: v for k, v in raw.items() if v is not None}, sort_keys=True)


def _retention(text: str) -> Retention:
    try:
        raw = json.loads(text)
        return Retention(raw.get("max_age"), raw.get("max_count"), raw.get("max_bytes"))
    except (ValueError, AttributeError):
        return Retention()


class SqliteStream(LogStream):
    """Event streams in the SQLite file at ``path`` (created with its folder, both private).

    Args:
        path: the database file.
        clock: unix time for timestamps and retention (tests inject one).
        retention_seconds: how often retention is enforced in the background.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], float] = time.time,
        retention_seconds: float = RETENTION_SECONDS,
    ) -> None:
        super().__init__(clock=clock, retention_seconds=retention_seconds)
        self.path = Path(path)
        self._writer = SqliteWriter(
            self.path, name="the events log", setup=lambda db: _migrate(db, self.path)
        )

    @property
    def writer(self) -> SqliteWriter:
        return self._writer

    def _db(self) -> sqlite3.Connection:
        return self._writer.connection

    # -- storage hooks ---------------------------------------------------------------------

    async def _load(self) -> list[TopicState]:
        db = self._db()
        found = []
        for key, ns, name, first, retention in db.execute(
            "SELECT id, ns, name, first, retention FROM topics"
        ):
            base = key << _SHIFT
            row = db.execute(
                "SELECT rowid FROM events WHERE rowid >= ? AND rowid < ? ORDER BY rowid DESC LIMIT 1",
                (base, base + _SPAN),
            ).fetchone()
            next_ = max(first, row[0] - base + 1) if row else first
            found.append(
                TopicState(ns, name, key=key, first=first, next=next_, retention=_retention(retention))
            )
        return found

    async def _store(self, topic: TopicState, events: list[Event]) -> None:
        rows = [
            (e.timestamp, e.id, json.dumps(e.metadata, ensure_ascii=False) if e.metadata else None, e.payload)
            for e in events
        ]

        def unit(db: sqlite3.Connection) -> tuple[int, int]:
            key, start = topic.staged or (topic.key, topic.next)
            if key is None:
                key = db.execute(
                    _UPSERT_TOPIC, (topic.namespace, topic.name, _retention_json(topic.retention))
                ).fetchone()[0]
            base = (key << _SHIFT) + start
            if len(rows) == 1:
                db.execute(_INSERT, (base, *rows[0]))
            else:
                db.executemany(_INSERT, [(base + i, *row) for i, row in enumerate(rows)])
            topic.staged = (key, start + len(rows))  # last: a unit that failed gave nothing away
            return key, start

        def after(ok: bool, value: Any) -> None:
            if ok:
                key, start = value
                topic.key = key
                topic.next = max(topic.next, start + len(rows))
                if topic.staged == (key, topic.next):
                    topic.staged = None
            else:  # this unit, or its whole transaction, failed: start over from what committed
                topic.staged = None

        # one event of a stored topic is one INSERT: committed by SQLite's autocommit
        single = len(rows) == 1 and topic.key is not None
        start = (await self._writer.run(unit, after=after, single=single))[1]
        for i, event in enumerate(events):
            event.offset = start + i

    async def _fetch(
        self, topic: TopicState, offset: int, limit: int, max_bytes: int = READ_BYTES
    ) -> list[Event]:
        if topic.key is None:
            return []
        base = int(topic.key) << _SHIFT
        found: list[Event] = []
        size = 0
        name = topic.name
        for rowid, ts, id_, metadata, payload in self._db().execute(
            _FETCH, (base + offset, base + _SPAN, limit)
        ):
            if found and size + len(payload) > max_bytes:
                break
            size += len(payload)
            found.append(
                Event(id_, name, rowid - base, ts, payload, json.loads(metadata) if metadata else {})
            )
        return found

    async def _offset_since(self, topic: TopicState, since: float) -> int:
        if topic.key is None:
            return topic.next
        base = int(topic.key) << _SHIFT
        row = (
            self._db()
            .execute(
                "SELECT rowid FROM events WHERE rowid >= ? AND rowid < ? AND ts >= ? ORDER BY rowid LIMIT 1",
                (base + topic.first, base + _SPAN, since),
            )
            .fetchone()
        )
        return int(row[0]) - base if row else topic.next

    async def _offset_for_bytes(self, topic: TopicState, max_bytes: int) -> int:
        if topic.key is None:
            return topic.next
        base = int(topic.key) << _SHIFT
        size = 0
        for rowid, length in self._db().execute(
            "SELECT rowid, length(payload) FROM events WHERE rowid >= ? AND rowid < ? ORDER BY rowid DESC",
            (base + topic.first, base + _SPAN),
        ):
            size += length
            if size > max_bytes:
                return int(rowid) - base + 1
        return topic.first

    async def _positions(self, topic: TopicState) -> dict[str, int]:
        if topic.key is None:
            return {}
        rows = self._db().execute("SELECT name, position FROM groups WHERE topic = ?", (topic.key,))
        return {str(name): int(position) for name, position in rows}

    async def _save_position(self, topic: TopicState, group: str, position: int) -> None:
        if topic.key is None:
            await self._save_topic(topic)
        key = topic.key

        def unit(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO groups (topic, name, position) VALUES (?, ?, ?)"
                " ON CONFLICT (topic, name) DO UPDATE SET position = excluded.position",
                (key, group, position),
            )

        await self._writer.run(unit)

    async def _save_topic(self, topic: TopicState) -> None:
        retention = _retention_json(topic.retention)

        def unit(db: sqlite3.Connection) -> int:
            return int(db.execute(_UPSERT_TOPIC, (topic.namespace, topic.name, retention)).fetchone()[0])

        key = await self._writer.run(unit)
        if topic.key is None:
            topic.key = key

    async def _trim(self, topic: TopicState, first: int) -> None:
        base = int(topic.key) << _SHIFT
        start = topic.first
        while start < first:
            end = min(first, start + _DELETE_BATCH)

            def unit(db: sqlite3.Connection, lo: int = start, hi: int = end) -> None:
                db.execute("DELETE FROM events WHERE rowid >= ? AND rowid < ?", (base + lo, base + hi))
                db.execute("UPDATE topics SET first = ? WHERE id = ?", (hi, topic.key))

            await self._writer.run(unit)
            topic.first = start = end

    async def _drop(self, topic: TopicState) -> None:
        key = topic.key
        base = key << _SHIFT

        def unit(db: sqlite3.Connection) -> None:  # first: the topic is gone at once
            db.execute("DELETE FROM topics WHERE id = ?", (key,))
            db.execute("DELETE FROM groups WHERE topic = ?", (key,))

        await self._writer.run(unit)
        # then its events, a batch per unit (the id is never given again: AUTOINCREMENT)
        start, end = base + topic.first, base + max(topic.next, topic.first)
        while start < end:
            hi = min(end, start + _DELETE_BATCH)

            def rows(db: sqlite3.Connection, lo: int = start, hi: int = hi) -> None:
                db.execute("DELETE FROM events WHERE rowid >= ? AND rowid < ?", (lo, hi))

            await self._writer.run(rows)
            start = hi

    async def close(self) -> None:
        await super().close()
        await self._writer.close()
