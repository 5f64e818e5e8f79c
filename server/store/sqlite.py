"""The embedded store: one SQLite table keyed by (database, table, key).

Durability and writes: the file belongs to a :class:`~server.sqlite_writer.SqliteWriter`
(WAL, ``synchronous=NORMAL``, checkpoints in a worker thread). Every write, delete and
sweep batch is one of its units: committed inline on the event loop (~20 us; a write is one
statement, committed by SQLite's autocommit without BEGIN and COMMIT around it), or, when
writes queue behind a checkpoint finishing, together with them in one transaction; each
returns only after its COMMIT, so an acknowledged write survives ``kill -9`` of the
process (only a power loss can lose the last ones).

Ordering: keys are TEXT with the BINARY collation, which compares their UTF-8 bytes, so
keys sort as byte strings. A prefix is a range on the primary key
(``key >= prefix AND key < successor``), never a scan.

Reads run inline on the event loop too, on the writer's connection, rather than in a
worker thread: a read costs ~8 us in-process, while handing each call to a thread made the
server spend 20-40% more CPU per gRPC call (the hop and its wake-ups cost more than the
query).
Exact reads of recently written or read small records come from a write-through cache.
``bench/store_throughput.py`` measures the whole path.

Schema: the file carries its layout's version and is migrated when opened
(:mod:`server.store._schema`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from micro import errors
from micro.store import DEFAULT_DATABASE, DEFAULT_TABLE, Order, Record, Store
from micro.store.memory import prefix_successor, stale_detail
from server.sqlite_writer import SqliteWriter
from server.store import _schema

__all__ = ["SqliteStore"]

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60.0
# exact reads of recently used small records are answered from memory
CACHE_ENTRIES = 10_000
CACHE_VALUE_BYTES = 4096

# (database, table, key) -> (value, expires_at, metadata, version) of a committed record
_Cached = tuple[bytes, float | None, dict[str, str], int]
_SWEEP_BATCH = 1000

_LIVE = "(expires_at IS NULL OR expires_at > ?)"

_READ = (
    "SELECT key, value, expires_at, metadata, version FROM records"
    f" WHERE db = ? AND tbl = ? AND key = ? AND {_LIVE}"
)
_VERSION = f"SELECT version FROM records WHERE db = ? AND tbl = ? AND key = ? AND {_LIVE}"

_UPSERT = f"""
INSERT INTO records (db, tbl, key, value, expires_at, metadata, version)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (db, tbl, key) DO UPDATE SET
    value = excluded.value,
    expires_at = excluded.expires_at,
    metadata = excluded.metadata,
    version = CASE WHEN {_LIVE} THEN version + 1 ELSE 1 END
RETURNING version
"""

# version 0: insert, or replace only a record that has expired
_CREATE = f"""
INSERT INTO records (db, tbl, key, value, expires_at, metadata, version)
VALUES (?, ?, ?, ?, ?, ?, 1)
ON CONFLICT (db, tbl, key) DO UPDATE SET
    value = excluded.value,
    expires_at = excluded.expires_at,
    metadata = excluded.metadata,
    version = 1
WHERE NOT {_LIVE}
RETURNING version
"""

_UPDATE_AT = f"""
UPDATE records SET value = ?, expires_at = ?, metadata = ?, version = version + 1
WHERE db = ? AND tbl = ? AND key = ? AND version = ? AND {_LIVE}
RETURNING version
"""


class SqliteStore(Store):
    """Records in the SQLite file at ``path`` (created with its folder, both private).

    Args:
        path: the database file.
        clock: returns the current unix time; tests inject one to move time forward.
        sweep_seconds: how often expired records are deleted in the background.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Callable[[], float] = time.time,
        sweep_seconds: float = SWEEP_SECONDS,
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.sweep_seconds = sweep_seconds
        self._writer = SqliteWriter(
            self.path, name="the store", setup=partial(_schema.migrate, path=self.path)
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._cache: OrderedDict[tuple[str, str, str], _Cached] = OrderedDict()

    # -- connection ------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """The writer's connection, for reads (writes go through ``self._writer.run``)."""
        conn = self._writer.connection
        if self._sweeper is None:
            with contextlib.suppress(RuntimeError):  # no running loop: sweep later
                self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        return conn

    # -- records ---------------------------------------------------------------------------

    @staticmethod
    def _scope(database: str, table: str) -> tuple[str, str]:
        return database or DEFAULT_DATABASE, table or DEFAULT_TABLE

    async def read(
        self,
        key: str,
        *,
        database: str = "",
        table: str = "",
        prefix: bool = False,
        suffix: bool = False,
        limit: int = 0,
        offset: int = 0,
        order: Order = Order.ASC,
    ) -> builtins.list[Record]:
        db, tbl = self._scope(database, table)
        now = self.clock()
        conn = self._conn()
        if not prefix and not suffix:
            return [self._read_exact((db, tbl, key), now, conn)]
        sql, args = _select(
            "key, value, expires_at, metadata, version",
            db,
            tbl,
            now,
            prefix=key if prefix else "",
            suffix=key if suffix else "",
            limit=limit,
            offset=offset,
            order=order,
            start_after="",
        )
        return [_record(row, now) for row in conn.execute(sql, args)]

    async def write(
        self, record: Record, *, database: str = "", table: str = "", version: int | None = None
    ) -> int:
        expiry = record.expiry
        if expiry is not None and expiry < 0:
            raise errors.BadRequest("expiry must not be negative")
        db, tbl = database or DEFAULT_DATABASE, table or DEFAULT_TABLE
        now = self.clock()
        expires_at = now + expiry if expiry else None
        given = record.metadata
        metadata = json.dumps(given) if given else None
        value = bytes(record.value)
        key = record.key
        args: tuple[Any, ...]
        if version is None:
            sql, args = _UPSERT, (db, tbl, key, value, expires_at, metadata, now)
        elif version == 0:
            sql, args = _CREATE, (db, tbl, key, value, expires_at, metadata, now)
        else:
            sql, args = _UPDATE_AT, (value, expires_at, metadata, db, tbl, key, version, now)

        # one statement, stepped to its end (fetchall), changing nothing when it raises
        def unit(conn: sqlite3.Connection) -> int:
            rows = conn.execute(sql, args).fetchall()
            if not rows:
                at = conn.execute(_VERSION, (db, tbl, key, now)).fetchone()
                raise errors.Conflict(stale_detail(at[0] if at else 0, version or 0))
            return int(rows[0][0])

        def after(ok: bool, new_version: Any) -> None:
            if ok:
                self._remember((db, tbl, key), (value, expires_at, dict(given) if given else {}, new_version))

        if self._sweeper is None:
            self._conn()
        return await self._writer.run(unit, after=after, single=True)

    async def delete(self, key: str, *, database: str = "", table: str = "") -> None:
        db, tbl = self._scope(database, table)
        ident = (db, tbl, key)

        def unit(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM records WHERE db = ? AND tbl = ? AND key = ?", ident)

        def after(ok: bool, _: Any) -> None:
            if ok:
                self._cache.pop(ident, None)

        self._conn()
        await self._writer.run(unit, after=after)

    # -- the read cache --------------------------------------------------------------------
    # Write-through: every write and delete of this store updates it right after its commit
    # (on the event loop, before anything else runs), and this store is the file's only
    # writer (one server per MICRO_HOME), so it never serves a stale record. Expiry is
    # checked on every hit.

    def _read_exact(self, ident: tuple[str, str, str], now: float, conn: sqlite3.Connection) -> Record:
        cached = self._cache.get(ident)
        if cached is None:
            row = conn.execute(_READ, (*ident, now)).fetchone()
            if row is None:
                raise errors.NotFound("not found")
            cached = (row[1], row[2], json.loads(row[3]) if row[3] else {}, row[4])
            self._remember(ident, cached)
        else:
            if cached[1] is not None and cached[1] <= now:
                del self._cache[ident]
                raise errors.NotFound("not found")
            self._cache.move_to_end(ident)
        value, expires_at, metadata, version = cached
        remaining = None if expires_at is None else expires_at - now
        return Record(ident[2], value, remaining, dict(metadata), version)

    def _remember(self, ident: tuple[str, str, str], entry: _Cached) -> None:
        if len(entry[0]) > CACHE_VALUE_BYTES:
            self._cache.pop(ident, None)
            return
        self._cache[ident] = entry
        self._cache.move_to_end(ident)
        if len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)

    async def list(
        self,
        *,
        database: str = "",
        table: str = "",
        prefix: str = "",
        suffix: str = "",
        limit: int = 0,
        offset: int = 0,
        order: Order = Order.ASC,
        start_after: str = "",
    ) -> builtins.list[str]:
        db, tbl = self._scope(database, table)
        sql, args = _select(
            "key",
            db,
            tbl,
            self.clock(),
            prefix=prefix,
            suffix=suffix,
            limit=limit,
            offset=offset,
            order=order,
            start_after=start_after,
        )
        return [row[0] for row in self._conn().execute(sql, args)]

    # -- databases and tables --------------------------------------------------------------
    # A skip scan: jump from one distinct value to the next on the primary key, then ask
    # whether it holds a live record; costs one index seek per value, not one per row.

    async def databases(self) -> builtins.list[str]:
        conn, now = self._conn(), self.clock()
        found: list[str] = []
        row = conn.execute("SELECT db FROM records ORDER BY db LIMIT 1").fetchone()
        while row is not None:
            db = row[0]
            if conn.execute(f"SELECT 1 FROM records WHERE db = ? AND {_LIVE} LIMIT 1", (db, now)).fetchone():
                found.append(db)
            row = conn.execute("SELECT db FROM records WHERE db > ? ORDER BY db LIMIT 1", (db,)).fetchone()
        return found

    async def tables(self, database: str = "") -> builtins.list[str]:
        conn, now = self._conn(), self.clock()
        db = database or DEFAULT_DATABASE
        found: list[str] = []
        row = conn.execute("SELECT tbl FROM records WHERE db = ? ORDER BY tbl LIMIT 1", (db,)).fetchone()
        while row is not None:
            tbl = row[0]
            live = conn.execute(
                f"SELECT 1 FROM records WHERE db = ? AND tbl = ? AND {_LIVE} LIMIT 1", (db, tbl, now)
            ).fetchone()
            if live:
                found.append(tbl)
            row = conn.execute(
                "SELECT tbl FROM records WHERE db = ? AND tbl > ? ORDER BY tbl LIMIT 1", (db, tbl)
            ).fetchone()
        return found

    # -- expiry ----------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete expired records now, in batches (yielding between them); returns how many
        went."""
        self._conn()
        now = self.clock()
        total = 0

        def unit(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM records WHERE (db, tbl, key) IN (SELECT db, tbl, key FROM records"
                " WHERE expires_at <= ? LIMIT ?)",
                (now, _SWEEP_BATCH),
            ).rowcount

        while True:
            n = await self._writer.run(unit)
            total += n
            if n < _SWEEP_BATCH:
                return total
            await asyncio.sleep(0)  # a lone unit commits inline: let other calls in

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                swept = await self.sweep()
            except sqlite3.Error:
                log.exception("sweeping expired records failed")
            else:
                if swept:
                    log.debug("swept %d expired records", swept)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self._writer.close()
        self._cache.clear()


def _record(row: tuple[Any, ...], now: float) -> Record:
    key, value, expires_at, metadata, version = row
    remaining = None if expires_at is None else expires_at - now
    return Record(key, value, remaining, json.loads(metadata) if metadata else {}, version)


def _select(
    columns: str,
    db: str,
    tbl: str,
    now: float,
    *,
    prefix: str,
    suffix: str,
    limit: int,
    offset: int,
    order: Order,
    start_after: str,
) -> tuple[str, list[Any]]:
    """The query of a listing: a range on the primary key, then the filters."""
    where = ["db = ?", "tbl = ?", _LIVE]
    args: list[Any] = [db, tbl, now]
    if prefix:
        where.append("key >= ?")
        args.append(prefix)
        upper = prefix_successor(prefix)
        if upper is not None:
            where.append("key < ?")
            args.append(upper)
    if start_after:
        where.append("key > ?" if order is Order.ASC else "key < ?")
        args.append(start_after)
    if suffix:
        # compared as bytes: substr/length of TEXT stop at a NUL; LIKE would ignore ASCII case
        raw = suffix.encode()
        where.append("substr(CAST(key AS BLOB), -?) = ?")
        args += [len(raw), raw]
    direction = "DESC" if order is Order.DESC else "ASC"
    sql = f"SELECT {columns} FROM records WHERE {' AND '.join(where)} ORDER BY key {direction}"
    if limit or offset:
        sql += " LIMIT ? OFFSET ?"
        args += [limit or -1, offset]
    return sql, args
