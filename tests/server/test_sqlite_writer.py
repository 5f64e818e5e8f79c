"""The shared SQLite writer (server/sqlite_writer.py): results only after their COMMIT,
batch-mates unharmed by a failing unit, acknowledged units surviving kill -9, checkpoints
that happen without stalling writes."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.sqlite_writer import SqliteWriter
from tests._poll import eventually


def _table(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")


def _insert(i: int, v: str = "x") -> object:
    def unit(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO t (id, v) VALUES (?, ?)", (i, v))
        return i

    return unit


def _ids(path: Path) -> set[int]:
    with sqlite3.connect(path) as db:  # a connection of its own: sees only what committed
        return {row[0] for row in db.execute("SELECT id FROM t")}


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[SqliteWriter]:
    w = SqliteWriter(tmp_path / "data" / "w.db", setup=_table)
    yield w
    await w.close()


async def test_a_result_is_delivered_only_after_its_commit(writer: SqliteWriter) -> None:
    seen: list[set[int]] = []
    result = await writer.run(_insert(1), after=lambda ok, value: seen.append(_ids(writer.path)))
    assert result == 1
    assert seen == [{1}]  # committed before anyone was told
    assert _ids(writer.path) == {1}


async def test_a_lone_unit_commits_at_once(writer: SqliteWriter) -> None:
    batches = writer.batches
    assert await writer.run(_insert(1)) == 1
    assert writer.batches == batches + 1


async def test_units_queued_while_held_commit_in_one_batch(writer: SqliteWriter) -> None:
    await writer.run(_insert(0))
    batches = writer.batches
    writer._hold()  # as while a checkpoint finishes
    units = [asyncio.create_task(writer.run(_insert(i))) for i in range(1, 11)]
    for _ in range(20):  # plenty of loop turns for an unheld writer to commit them
        await asyncio.sleep(0)
    assert not any(u.done() for u in units)
    assert writer.connection.execute("SELECT count(*) FROM t").fetchone()[0] == 1  # reads go on
    writer._release()
    assert await asyncio.gather(*units) == list(range(1, 11))
    assert writer.batches == batches + 1  # all ten in one transaction
    assert _ids(writer.path) == set(range(11))


async def test_a_failing_unit_does_not_fail_its_batch_mates(writer: SqliteWriter) -> None:
    def fails(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO t (id, v) VALUES (100, 'rolled back')")
        raise ValueError("this unit fails")

    def duplicate(db: sqlite3.Connection) -> int:  # a unit's own SQLite error is its own
        db.execute("INSERT INTO t (id, v) VALUES (1, 'again')")
        return -1

    writer._hold()
    batches = writer.batches
    outcomes: list[tuple[bool, object]] = []
    tasks = [
        asyncio.create_task(writer.run(_insert(1))),
        asyncio.create_task(writer.run(fails, after=lambda ok, value: outcomes.append((ok, value)))),
        asyncio.create_task(writer.run(_insert(2))),
        asyncio.create_task(writer.run(duplicate)),
        asyncio.create_task(writer.run(_insert(3))),
    ]
    await asyncio.sleep(0)
    writer._release()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0::2] == [1, 2, 3]
    assert isinstance(results[1], ValueError)
    assert isinstance(results[3], sqlite3.IntegrityError)
    assert writer.batches == batches + 1  # one transaction for all five
    assert _ids(writer.path) == {1, 2, 3}  # the failing unit's insert went with it
    assert [ok for ok, _ in outcomes] == [False]


async def test_a_failing_lone_unit_rolls_back_and_the_writer_goes_on(writer: SqliteWriter) -> None:
    def fails(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t (id, v) VALUES (7, 'no')")
        raise ValueError("no")

    with pytest.raises(ValueError):
        await writer.run(fails)
    assert await writer.run(_insert(8)) == 8
    assert _ids(writer.path) == {8}


async def test_a_single_statement_unit_is_committed_by_itself_before_its_caller_is_told(
    writer: SqliteWriter,
) -> None:
    await writer.run(_insert(0))
    reading = writer.connection.execute("SELECT id FROM t")  # a read left under way
    assert reading.fetchone() == (0,)
    seen: list[set[int]] = []
    result = await writer.run(_insert(1), after=lambda ok, value: seen.append(_ids(writer.path)), single=True)
    assert result == 1
    assert seen == [{0, 1}]  # committed (no BEGIN, no COMMIT) before anyone was told
    assert not writer.connection.in_transaction
    with pytest.raises(sqlite3.IntegrityError):  # fails whole, and the writer goes on
        await writer.run(_insert(1, "again"), single=True)
    assert await writer.run(_insert(2)) == 2
    assert _ids(writer.path) == {0, 1, 2}


async def test_single_statement_units_queued_while_held_join_the_batch(writer: SqliteWriter) -> None:
    await writer.run(_insert(0))
    batches = writer.batches
    writer._hold()
    units = [asyncio.create_task(writer.run(_insert(i), single=True)) for i in range(1, 6)]
    await asyncio.sleep(0)
    writer._release()
    assert await asyncio.gather(*units) == list(range(1, 6))
    assert writer.batches == batches + 1
    assert _ids(writer.path) == set(range(6))


async def test_writes_that_arrive_while_the_loop_is_busy_commit_together(writer: SqliteWriter) -> None:
    await writer.run(_insert(0))
    batches = writer.batches
    # five callers started in one turn: each finds the others ready to run, so none commits
    # alone; they gather and commit as one transaction once the loop has nothing else ready
    results = await asyncio.gather(*(writer.run(_insert(i), single=i % 2 == 0) for i in range(1, 6)))
    assert results == list(range(1, 6))
    assert writer.batches == batches + 1
    assert _ids(writer.path) == set(range(6))


async def test_a_loop_that_stays_busy_does_not_hold_a_write_back(writer: SqliteWriter) -> None:
    spinning = True

    async def spin() -> None:  # always ready to run: the loop is never idle
        while spinning:
            await asyncio.sleep(0)

    spinner = asyncio.create_task(spin())
    await asyncio.sleep(0)
    try:
        batches = writer.batches
        assert await asyncio.wait_for(writer.run(_insert(1), single=True), 10) == 1
        assert writer.batches == batches + 1
    finally:
        spinning = False
        await spinner
    assert _ids(writer.path) == {1}


async def test_a_failing_single_statement_unit_does_not_fail_its_batch_mates(writer: SqliteWriter) -> None:
    await writer.run(_insert(1))
    writer._hold()
    tasks = [asyncio.create_task(writer.run(_insert(i), single=True)) for i in (2, 1, 3)]
    await asyncio.sleep(0)
    writer._release()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] == 2 and results[2] == 3
    assert isinstance(results[1], sqlite3.IntegrityError)  # the duplicate, undone alone
    assert _ids(writer.path) == {1, 2, 3}


async def test_reads_on_the_connection_see_every_acknowledged_unit(writer: SqliteWriter) -> None:
    for i in range(20):
        await writer.run(_insert(i))
        assert writer.connection.execute("SELECT count(*) FROM t").fetchone()[0] == i + 1


async def test_checkpoints_happen_and_do_not_stall_writes(
    writer: SqliteWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer.checkpoint_units = 10
    slow, bulk_running = threading.Event(), threading.Event()
    real_checkpoint = writer._checkpoint
    passes = 0

    def slow_checkpoint() -> None:  # a first pass that takes as long as the test wants
        nonlocal passes
        passes += 1
        if passes == 1:
            bulk_running.set()
            slow.wait(30)
        real_checkpoint()

    monkeypatch.setattr(writer, "_checkpoint", slow_checkpoint)
    for i in range(10):
        await writer.run(_insert(i, "x" * 1000))
    await eventually(bulk_running.is_set, "a checkpoint starting after 10 units")
    # its first pass is under way: writes go on, acknowledged one by one
    for i in range(10, 60):  # (a stalled write fails here rather than hang)
        assert await asyncio.wait_for(writer.run(_insert(i, "x" * 1000)), 30) == i
    assert writer.checkpoints == 0
    slow.set()
    await eventually(lambda: writer.checkpoints == 1, "the checkpoint completing")
    for i in range(60, 65):  # the WAL starts over: these take its first frames
        await writer.run(_insert(i, "x" * 1000))
    # the 50 units written meanwhile start the next checkpoint: a checkpoint of our own
    # while it runs would find the WAL busy
    await eventually(lambda: writer._checkpointing is None, "the next checkpoint finishing")
    with sqlite3.connect(writer.path) as db:
        frames = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    assert 0 < frames < 20  # 60 units went through it before
    assert len(_ids(writer.path)) == 65


_ACKNOWLEDGER = textwrap.dedent(
    """
    import asyncio, sys
    from server.sqlite_writer import SqliteWriter

    def table(db):
        db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")

    def insert(i):
        def unit(db):
            db.execute("INSERT INTO t VALUES (?, ?)", (i, "v" * 200))
            return i
        return unit

    async def main(path):
        writer = SqliteWriter(path, setup=table, checkpoint_units=50)
        i = 0
        while True:  # 8 concurrent units at a time (half in autocommit), each printed once acknowledged
            units = (writer.run(insert(i + k), single=k % 2 == 0) for k in range(8))
            for done in await asyncio.gather(*units):
                print(done, flush=True)
            i += 8

    asyncio.run(main(sys.argv[1]))
    """
)


def test_acknowledged_units_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    acked: list[int] = []
    # the context manager closes the pipe (an open one is a ResourceWarning, an error here)
    with subprocess.Popen(
        [sys.executable, "-c", _ACKNOWLEDGER, str(path)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # past several checkpoints, then die mid-stream
                acked.append(int(line))
                if len(acked) >= 600:
                    break
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 600
    assert set(acked) <= _ids(path)


def test_one_event_loop_after_another(tmp_path: Path) -> None:
    """A file used by one ``asyncio.run`` after another (CLI commands do that) is not tied
    to the first loop."""
    w = SqliteWriter(tmp_path / "w.db", setup=_table)
    assert asyncio.run(w.run(_insert(1))) == 1
    assert asyncio.run(asyncio.wait_for(w.run(_insert(2)), 30)) == 2
    asyncio.run(w.close())
    assert _ids(w.path) == {1, 2}
