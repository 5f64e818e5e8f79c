"""The store file's schema version: set on a new file, migrations in order and atomic, a
file from a newer micro refused, a 0.1.0 file brought up to date."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from micro import errors
from micro.store import Record
from server.store import _schema
from server.store.sqlite import SqliteStore

RELEASE_0_1 = Path(__file__).parent.parent / "fixtures" / "release-0.1.0"


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


async def test_a_new_file_carries_the_current_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.write(Record("k", b"v"))
    await store.close()
    assert user_version(tmp_path / "store.db") == _schema.VERSION >= 2
    assert sorted(_schema.MIGRATIONS) == list(range(1, _schema.VERSION + 1))


async def test_a_0_1_0_file_is_migrated_and_keeps_every_record(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    shutil.copyfile(RELEASE_0_1 / "store.db", path)
    before = rows(path, "SELECT db, tbl, key, value, version FROM records")
    assert user_version(path) == 0
    store = SqliteStore(path)
    try:
        # config's documents moved to its internal table, records and versions intact
        for namespace in ("micro", "acme"):
            document = (await store.read("document", database=namespace, table="_config"))[0]
            old = next(r for r in before if r[:3] == (namespace, "config", "document"))
            assert (document.value, document.version) == (old[3], old[4])
        assert await store.tables("micro") == ["_config", "config", "micro", "users"]
        assert (await store.read("mine", table="config"))[0].value == b"kept"
        assert await store.list(table="config") == ["mine"]
        assert (await store.read("alice", table="users"))[0].value == b'{"age": 30}'
        assert await store.list(database="_auth", table="accounts") == ["acme/alice", "micro/admin"]
    finally:
        await store.close()
    assert user_version(path) == _schema.VERSION
    after = rows(path, "SELECT db, tbl, key, value, version FROM records")
    moved = {
        (db, "_config" if (tbl, key) == ("config", "document") else tbl, key, v, n)
        for db, tbl, key, v, n in before
    }
    assert set(after) == moved


async def test_a_file_from_a_newer_micro_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.write(Record("k", b"v"))
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {_schema.VERSION + 1}")
    store = SqliteStore(path)
    with pytest.raises(errors.InternalServerError) as info:
        await store.read("k")
    assert info.value.detail == (
        f"the store {path} has schema version {_schema.VERSION + 1}, newer than this server knows"
        f" ({_schema.VERSION}); it was written by a newer micro"
    )
    await store.close()
    assert user_version(path) == _schema.VERSION + 1
    assert rows(path, "SELECT key FROM records") == [("k",)]


async def test_a_failing_migration_leaves_the_file_at_the_version_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.write(Record("k", b"v"))
    await store.close()

    def half_done(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM records")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setitem(_schema.MIGRATIONS, _schema.VERSION + 1, half_done)
    monkeypatch.setattr(_schema, "VERSION", _schema.VERSION + 1)
    store = SqliteStore(path)
    with pytest.raises(errors.InternalServerError, match="disk I/O error"):
        await store.read("k")
    await store.close()
    monkeypatch.undo()
    assert user_version(path) == _schema.VERSION
    assert rows(path, "SELECT key FROM records") == [("k",)]


async def test_user_tables_that_became_internal_are_named_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.db"
    db = sqlite3.connect(path)
    _schema.MIGRATIONS[1](db)  # a 0.1.0 file with a table named '_drafts' by a user
    db.execute("INSERT INTO records VALUES ('micro', '_drafts', 'd1', x'00', NULL, NULL, 1)")
    db.commit()
    db.close()
    with caplog.at_level(logging.WARNING, logger="server.store._schema"):
        store = SqliteStore(path)
        await store.list()
        await store.close()
    assert [r.getMessage() for r in caplog.records] == [
        "table _drafts of database micro is now internal (names starting with _ are reserved);"
        " its records stay in the file but the store no longer serves them"
    ]
