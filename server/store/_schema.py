"""The store file's schema version and its migrations, run when the file is opened.

Every SQLite file of the server carries the version of its layout in ``PRAGMA user_version``.
Opening a file applies each migration above its version in order, each in one transaction
with the version it reaches, so a server stopped half-way leaves the file at a version it
can start from again. A file of a newer version than :data:`VERSION` was written by a newer
micro; this one refuses it rather than guess at its layout.

Migrations are frozen once released: they name tables literally, as they were at the time,
never through constants that may change later. Add a new one for every layout change.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from micro import errors

__all__ = ["MIGRATIONS", "VERSION", "migrate"]

log = logging.getLogger(__name__)


def _records(db: sqlite3.Connection) -> None:
    """1: one table keyed by (database, table, key), as every release before versions kept
    it (so a file made by one is adopted as it is)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS records (
            db TEXT NOT NULL,
            tbl TEXT NOT NULL,
            key TEXT NOT NULL,
            value BLOB NOT NULL,
            expires_at REAL,
            metadata TEXT,
            version INTEGER NOT NULL,
            PRIMARY KEY (db, tbl, key)
        ) WITHOUT ROWID"""
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS records_expiry ON records (expires_at) WHERE expires_at IS NOT NULL"
    )


def _internal_config(db: sqlite3.Connection) -> None:
    """2: config's document of each namespace moves from table ``config`` (which the store
    API served, so snapshots carried it) to the internal table ``_config``.

    Tables starting with ``_`` are internal from this version on; any a user had made are
    kept but no longer served, and named in the log.
    """
    db.execute(
        "INSERT OR REPLACE INTO records (db, tbl, key, value, expires_at, metadata, version)"
        " SELECT db, '_config', key, value, expires_at, metadata, version FROM records"
        " WHERE tbl = 'config' AND key = 'document' AND db NOT LIKE '\\_%' ESCAPE '\\'"
    )
    db.execute(
        "DELETE FROM records WHERE tbl = 'config' AND key = 'document' AND db NOT LIKE '\\_%' ESCAPE '\\'"
    )
    hidden = db.execute(
        "SELECT DISTINCT db, tbl FROM records WHERE tbl LIKE '\\_%' ESCAPE '\\' AND tbl != '_config'"
        " AND db NOT LIKE '\\_%' ESCAPE '\\'"
    ).fetchall()
    for database, table in hidden:
        log.warning(
            "table %s of database %s is now internal (names starting with _ are reserved);"
            " its records stay in the file but the store no longer serves them",
            table,
            database,
        )


# version reached -> the migration that reaches it from the one before
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _records,
    2: _internal_config,
}
VERSION = max(MIGRATIONS)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file open on ``db`` (autocommit mode) to :data:`VERSION`.

    The version is read again inside each step's transaction, so a second process opening
    the file at the same time waits and then finds the work done.
    """
    adopted = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'records'").fetchone() is not None
    start: int | None = None
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            current = int(db.execute("PRAGMA user_version").fetchone()[0])
            if current > VERSION:
                raise errors.InternalServerError(
                    f"the store {path} has schema version {current}, newer than this server"
                    f" knows ({VERSION}); it was written by a newer micro"
                )
            if current == VERSION:
                db.execute("COMMIT")
                break
            MIGRATIONS[current + 1](db)
            db.execute(f"PRAGMA user_version = {current + 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        start = current if start is None else start
    if adopted and start is not None:
        log.info("migrated the store %s from schema version %d to %d", path, start, VERSION)
