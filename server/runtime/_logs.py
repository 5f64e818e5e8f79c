"""The log files of runtime services, and the followers fed as lines arrive.

Each service has ``MICRO_HOME/logs/<namespace>/<name>.log``: JSON lines ``{"ts", "stream",
"instance", "line"}`` (``ts`` in RFC 3339 with nanoseconds kept in ``ns``), rotated to
``.log.1`` past :data:`ROTATE_BYTES`. The supervisor writes each line once and hands it to
every follower's queue; a queue is bounded (:data:`FOLLOW_QUEUE`): a follower that does not
keep up loses lines, counted and told in its next batch, and never stalls the supervisor.
The last N lines are read from the end of the file, block by block.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from micro.runtime import LogBatch, LogRecord

__all__ = ["FOLLOW_QUEUE", "ROTATE_BYTES", "LogBook", "Logs"]

ROTATE_BYTES = 10 * 1024 * 1024
FOLLOW_QUEUE = 10_000
BATCH_LINES = 1000
_BLOCK = 64 * 1024


def _to_json(record: LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.ts / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    ts = f"{stamp}.{record.ts % 1_000_000_000:09d}Z"
    return json.dumps(
        {
            "ts": ts,
            "ns": record.ts,
            "stream": record.stream,
            "instance": record.instance,
            "line": record.line,
        },
        ensure_ascii=False,
    )


def _from_json(text: str) -> LogRecord | None:
    try:
        data = json.loads(text)
        return LogRecord(int(data["ns"]), str(data["stream"]), int(data["instance"]), str(data["line"]))
    except (ValueError, KeyError, TypeError):
        return None


class _Follower:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[LogRecord] = asyncio.Queue(FOLLOW_QUEUE)
        self.dropped = 0
        self.closed = False


class LogBook:
    """One service's log file and followers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._size = 0
        self.followers: set[_Follower] = set()

    def _open(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._size = self._file.tell()
        return self._file

    def write(self, stream: str, instance: int, line: str) -> None:
        record = LogRecord(time.time_ns(), stream, instance, line)
        text = _to_json(record) + "\n"
        f = self._open()
        f.write(text)
        f.flush()
        self._size += len(text)
        if self._size > ROTATE_BYTES:
            self._rotate()
        for follower in self.followers:
            try:
                follower.queue.put_nowait(record)
            except asyncio.QueueFull:
                follower.dropped += 1

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for follower in self.followers:
            follower.closed = True
            with_sentinel(follower)


def with_sentinel(follower: _Follower) -> None:
    """Wake a follower that waits for its next line (its book was closed)."""
    try:
        follower.queue.put_nowait(LogRecord(0, "", -1, ""))
    except asyncio.QueueFull:
        pass


def tail(path: Path, count: int, since_ns: int = 0) -> list[LogRecord]:
    """The last ``count`` records of ``path`` (and its rotated predecessor when needed) at or
    after ``since_ns``; ``count`` < 0: all. Reads from the end, block by block."""
    found: list[LogRecord] = []
    if count == 0:  # a file's reader below takes one record before it checks the count
        return found
    for file in (path, path.with_name(path.name + ".1")):
        if not file.exists():
            continue
        older = _tail_file(file, count - len(found) if count >= 0 else -1, since_ns)
        found = older + found
        if 0 <= count <= len(found) or (older and since_ns and older[0].ts < since_ns):
            break
    return found


def _tail_file(path: Path, count: int, since_ns: int) -> list[LogRecord]:
    records: list[LogRecord] = []
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        rest = b""
        while end > 0:
            start = max(0, end - _BLOCK)
            f.seek(start)
            block = f.read(end - start) + rest
            end = start
            lines = block.split(b"\n")
            rest = lines.pop(0) if start > 0 else b""
            for raw in reversed(lines):
                if not raw.strip():
                    continue
                record = _from_json(raw.decode("utf-8", errors="replace"))
                if record is None:
                    continue
                if since_ns and record.ts < since_ns:
                    records.reverse()
                    return records
                records.append(record)
                if 0 <= count <= len(records):
                    records.reverse()
                    return records
    records.reverse()
    return records


class Logs:
    """Every service's :class:`LogBook`, under ``folder`` (``MICRO_HOME/logs``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._books: dict[tuple[str, str], LogBook] = {}

    def path(self, namespace: str, name: str) -> Path:
        return self.folder / namespace / f"{name}.log"

    def book(self, namespace: str, name: str) -> LogBook:
        key = (namespace, name)
        book = self._books.get(key)
        if book is None:
            book = self._books[key] = LogBook(self.path(namespace, name))
        return book

    def exists(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self._books or self.path(namespace, name).exists()

    async def read(
        self, namespace: str, name: str, *, count: int, follow: bool, since: float = 0
    ) -> AsyncIterator[LogBatch]:
        """The last ``count`` records, then (``follow``) batches of new ones until cancelled."""
        follower = _Follower()
        book = self.book(namespace, name) if follow else None
        if book is not None:
            book.followers.add(follower)  # before reading the file: no line falls between
        try:
            since_ns = int(since * 1e9)
            last = await asyncio.to_thread(tail, self.path(namespace, name), count, since_ns)
            for start in range(0, len(last), BATCH_LINES):
                yield LogBatch(tuple(last[start : start + BATCH_LINES]))
            if book is None:
                return
            newest = last[-1].ts if last else 0
            while not follower.closed:
                first = await follower.queue.get()
                # what is queued now, up to a batch: a line waits for no timer (latency),
                # a burst goes in few messages
                batch = [first]
                while len(batch) < BATCH_LINES and not follower.queue.empty():
                    batch.append(follower.queue.get_nowait())
                # the runtime's own lines ("killed", "run …", instance -1) go too; the
                # wake-up sentinel (ts 0) and lines the tail already sent do not
                records = tuple(r for r in batch if r.ts > newest)
                dropped, follower.dropped = follower.dropped, 0
                if records or dropped:
                    yield LogBatch(records, dropped)
        finally:
            if book is not None:
                book.followers.discard(follower)

    def close(self) -> None:
        for book in self._books.values():
            book.close()
        self._books.clear()
