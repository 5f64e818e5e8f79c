"""What only the SQLite log promises: state across reopening, group commit through the shared
writer with offsets contiguous even when a transaction fails, and private files.

The Stream semantics themselves are in tests/micro/events/test_contract.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from micro.events import Publication, Retention
from server.events.sqlite import SqliteStream


@pytest.fixture
async def stream(tmp_path: Path) -> AsyncIterator[SqliteStream]:
    stream = SqliteStream(tmp_path / "server" / "events.db")
    yield stream
    await stream.close()


async def test_topics_offsets_retention_and_groups_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    first = SqliteStream(path)
    for i in range(5):
        await first.publish("orders", b"%d" % i, metadata={"i": str(i)}, namespace="team")
    await first.set_retention("orders", Retention(max_count=3, max_age=60.0), namespace="team")
    await first.enforce_retention()
    async with await first.consume("orders", group="billing", manual_ack=True, namespace="team") as sub:
        event = await sub.__anext__()
        await sub.ack(event)
    await first.close()

    again = SqliteStream(path)
    try:
        [info] = await again.topics(namespace="team")
        assert (info.first, info.next, info.retention) == (2, 5, Retention(max_age=60.0, max_count=3))
        assert (await again.publish("orders", b"5", namespace="team")).offset == 5
        [group] = await again.groups("orders", namespace="team")
        assert (group.name, group.position) == ("billing", 3)
        stored = await again.read("orders", namespace="team")
        assert [(e.offset, e.metadata.get("i")) for e in stored] == [(2, "2"), (3, "3"), (4, "4"), (5, None)]
    finally:
        await again.close()


async def test_concurrent_publishes_queued_behind_the_writer_commit_together(stream: SqliteStream) -> None:
    await stream.publish("warm", b"0")  # opens the file
    writer = stream.writer
    batches = writer.batches
    writer._hold()  # as while a checkpoint finishes
    pending = [asyncio.ensure_future(stream.publish("batch", b"%d" % i)) for i in range(20)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in pending)  # none acknowledged before its commit
    writer._release()
    events = await asyncio.gather(*pending)
    assert writer.batches == batches + 1  # one transaction for all twenty
    assert [e.offset for e in events] == list(range(20))


async def test_a_failed_transaction_gives_no_offsets_away(stream: SqliteStream) -> None:
    await stream.publish("t", b"0")
    writer = stream.writer
    writer._hold()
    doomed = [asyncio.ensure_future(stream.publish("t", b"x")) for _ in range(3)]
    await asyncio.sleep(0)
    real = writer._commit

    Unit = tuple[Callable[[sqlite3.Connection], object], bool]  # (unit, whether one statement)

    def failing(units: list[Unit]) -> list[tuple[bool, object]]:
        """The units run, then their transaction fails (as a COMMIT on a full disk would)."""
        db = writer.connection
        db.execute("BEGIN IMMEDIATE")
        for unit, _single in units:
            unit(db)
        db.execute("ROLLBACK")
        return [(False, sqlite3.OperationalError("disk I/O error"))] * len(units)

    writer._commit = failing  # type: ignore[method-assign,assignment]
    writer._release()
    results = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(r, sqlite3.OperationalError) for r in results)
    writer._commit = real  # type: ignore[method-assign]
    assert (await stream.publish("t", b"1")).offset == 1
    assert [e.offset for e in await stream.read("t")] == [0, 1]


async def test_the_file_is_private(stream: SqliteStream) -> None:
    await stream.publish("t", b"1")
    assert stream.path.stat().st_mode & 0o777 == 0o600
    assert stream.path.parent.stat().st_mode & 0o777 == 0o700


async def test_deleting_a_large_topic_removes_every_row_and_a_new_one_starts_at_zero(
    stream: SqliteStream,
) -> None:
    await stream.publish_batch([Publication("big", b"x")] * 12_000)  # more than one delete batch
    await stream.publish("kept", b"1")
    await stream.delete("big")
    rows = stream.writer.connection.execute("SELECT count(*) FROM events").fetchone()[0]
    assert rows == 1
    assert (await stream.publish("big", b"again")).offset == 0
