"""What only the SQLite backend promises: durability across kill -9, private files, prefix
listing as a primary-key range, background sweeping and checkpointing.

The Store semantics themselves are in tests/micro/store/test_contract.py."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from micro import errors
from micro.store import Order, Record
from server.store import sqlite as sqlite_module
from server.store.sqlite import SqliteStore, _select
from tests._poll import eventually


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "server" / "store.db")
    yield store
    await store.close()


def count_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM records").fetchone()[0])


async def poll(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    await eventually(condition, "the store's background work", timeout=timeout, interval=0.01)


_WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from micro.store import Record
    from server.store.sqlite import SqliteStore

    async def main(path, n):
        store = SqliteStore(path)
        for i in range(n):
            await store.write(Record(f"key-{i}", f"value-{i}".encode()))
        # every write returned: die at once, without closing or checkpointing
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "server" / "store.db"
    n = 2500  # past CHECKPOINT_UNITS, so a checkpoint may be under way when it dies
    proc = subprocess.run([sys.executable, "-c", _WRITER, str(path), str(n)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    store = SqliteStore(path)
    try:
        keys = await store.list()
        assert len(keys) == n
        [record] = await store.read(f"key-{n - 1}")
        assert record.value == f"value-{n - 1}".encode()
    finally:
        await store.close()


async def test_store_file_and_folder_are_private(store: SqliteStore) -> None:
    await store.write(Record("k", b""))
    assert os.stat(store.path.parent).st_mode & 0o777 == 0o700
    assert os.stat(store.path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("order", [Order.ASC, Order.DESC])
async def test_prefix_listing_is_a_primary_key_range(store: SqliteStore, order: Order) -> None:
    await store.write(Record("k", b""))
    sql, args = _select(
        "key",
        "micro",
        "micro",
        0.0,
        prefix="user/",
        suffix=".json",
        limit=10,
        offset=5,
        order=order,
        start_after="user/5",
    )
    plan = " ".join(row[-1] for row in store._conn().execute(f"EXPLAIN QUERY PLAN {sql}", args))
    assert "USING PRIMARY KEY (db=? AND tbl=? AND key>? AND key<?)" in plan
    assert "TEMP B-TREE" not in plan  # the index gives the order: no sort


async def test_sweep_deletes_expired_records(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "store.db", clock=clock)
    try:
        for i in range(2500):  # more than one sweep batch
            await store.write(Record(f"gone-{i}", b"", expiry=5))
        await store.write(Record("stays", b""))
        await store.write(Record("later", b"", expiry=60))
        clock.now += 10
        assert await store.sweep() == 2500
        assert count_rows(store.path) == 2
    finally:
        await store.close()


async def test_background_sweeper_runs_until_closed(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "store.db", clock=clock, sweep_seconds=0.01)
    await store.write(Record("gone", b"", expiry=5))
    await store.write(Record("stays", b""))
    clock.now += 10
    await poll(lambda: count_rows(store.path) == 1)
    await store.close()
    assert store._sweeper is None


async def test_checkpoints_keep_the_wal_from_growing(store: SqliteStore) -> None:
    store._writer.checkpoint_units = 20
    wal = Path(f"{store.path}-wal")
    for i in range(400):
        await store.write(Record(f"k{i:04}", b"x" * 200))
        if store._writer._checkpointing is not None:
            await store._writer._checkpointing
    # without checkpoints every commit appends a page: 400 pages, 1.6 MB
    assert wal.stat().st_size < 60 * 4096
    assert store._writer.checkpoints == 400 // 20
    assert len(await store.list()) == 400


async def test_writes_queued_behind_a_checkpoint_commit_together_and_a_conflict_fails_alone(
    store: SqliteStore,
) -> None:
    await store.write(Record("taken", b"0"))
    batches = store._writer.batches
    store._writer._hold()  # as while a checkpoint finishes
    writes = [asyncio.create_task(store.write(Record(f"k{i}", b"v"))) for i in range(10)]
    stale = asyncio.create_task(store.write(Record("taken", b"1"), version=0))  # it exists
    await asyncio.sleep(0)
    store._writer._release()
    results = await asyncio.gather(*writes, stale, return_exceptions=True)
    assert store._writer.batches == batches + 1
    assert results[:10] == [1] * 10
    assert isinstance(results[10], errors.Conflict)
    assert len(await store.list()) == 11
    [record] = await store.read("taken")
    assert (record.value, record.version) == (b"0", 1)
    # the cache followed each unit of the batch: reads from the file agree
    store._cache.clear()
    assert [r.version for r in await store.read("k", prefix=True)] == [1] * 10


async def test_two_writes_of_one_key_in_one_batch_leave_the_cache_at_the_last(store: SqliteStore) -> None:
    await store.write(Record("other", b""))
    store._writer._hold()
    writes = [asyncio.create_task(store.write(Record("k", v))) for v in (b"1", b"2")]
    await asyncio.sleep(0)
    store._writer._release()
    first, second = await asyncio.gather(*writes)
    assert (first, second) == (1, 2)
    [record] = await store.read("k")  # from the cache
    assert (record.value, record.version) == (b"2", 2)


async def test_read_cache_is_bounded_and_skips_large_values(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "CACHE_ENTRIES", 10)
    for i in range(30):
        await store.write(Record(f"k{i:02}", f"v{i}".encode()))
    for i in range(30):
        [record] = await store.read(f"k{i:02}")
        assert record.value == f"v{i}".encode()
    assert len(store._cache) == 10
    big = b"x" * (sqlite_module.CACHE_VALUE_BYTES + 1)
    await store.write(Record("big", big))
    [record] = await store.read("big")
    assert record.value == big
    assert ("micro", "micro", "big") not in store._cache


async def test_cached_reads_follow_writes_deletes_and_expiry(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(tmp_path / "store.db", clock=clock)
    try:
        await store.write(Record("k", b"1", metadata={"a": "1"}))
        [first] = await store.read("k")
        first.metadata["a"] = "changed by the caller"
        await store.write(Record("k", b"2", expiry=5), version=1)
        [record] = await store.read("k")
        assert (record.value, record.version, record.metadata) == (b"2", 2, {})
        clock.now += 6
        with pytest.raises(errors.NotFound):
            await store.read("k")
        await store.write(Record("k", b"3", metadata={"b": "2"}))
        [record] = await store.read("k")
        assert (record.value, record.version, record.metadata) == (b"3", 1, {"b": "2"})
        await store.delete("k")
        with pytest.raises(errors.NotFound):
            await store.read("k")
    finally:
        await store.close()
