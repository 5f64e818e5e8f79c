"""The one writer of a server's SQLite file: its connection, group commit, and checkpoints
in a worker thread. The store uses it; the events log will.

Connection: WAL with ``synchronous=NORMAL``, so a COMMIT hands its WAL frames to the OS and
they survive ``kill -9`` of the process (only a power loss can lose the last ones). The
connection is used only from the event loop: reads run on it inline (they see exactly what
was committed), and so do writes.

Writes: a caller submits a *unit* — a function run against the connection inside a
transaction, returning its result — and gets the result only after that transaction's
COMMIT. A unit submitted while the event loop has nothing else ready is committed at once,
inline, in a transaction of its own (a one-statement unit in SQLite's autocommit mode): no
hand-off, no wake-up, no suspension of the caller. A unit submitted while the loop is busy
(other callbacks ready: the calls of other writers being read, say), while others wait, or
while the writer is held (a checkpoint finishing, below) queues; the queue is committed as
one transaction (group commit) once the loop has nothing else ready, or once the first
has waited ``GATHER_SECONDS``, or at ``GATHER_UNITS`` units. Each multi-statement unit of a batch
runs inside its own SAVEPOINT, and a one-statement unit is undone alone by SQLite when its
statement fails: a unit that raises is rolled back alone and its exception goes to its
caller only; the rest commit.

Measured (``bench/events.py``, 16 concurrent publishers through gRPC): grpc.aio starts one
call per loop turn, so committing each write inline cost a transaction (~14 µs of SQLite
here, ~35 µs amid the gRPC work) per write, and gathering writes on the next turn only
gathered 1.06 per batch; waiting while the loop is busy gathers about three, and their
replies then leave together, which spares both sides wake-ups: 16 concurrent publishes went
from ~75% to ~92% of a bare gRPC echo's rate. A lone write (the loop idle) is committed
inline as before (one sequential client loses nothing), a timer would add its delay to
every lone write, and a writer thread gathered 1.2 and cost more CPU per write than it
saved (GIL hand-offs and wake-ups on both sides); never an ``asyncio.to_thread`` per write.

Checkpoints: a checkpoint copies the WAL into the database file and fsyncs both (milliseconds
each on ordinary disks). SQLite's automatic checkpoint would run it inside a commit, on the
event loop, stalling every service of the server. Here every ``checkpoint_units`` units a
worker thread runs it on its own connection in two passes: the bulk while writes go on, then,
with the writer held for a moment (units queue, reads go on), the few frames written
meanwhile, so the WAL is complete and the next commit starts it over instead of growing it
forever. The units queued meanwhile are committed as one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from micro import errors

__all__ = ["CHECKPOINT_UNITS", "GATHER_SECONDS", "GATHER_UNITS", "After", "SqliteWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")
# units (each about one WAL page) committed between checkpoints, SQLite's own default
CHECKPOINT_UNITS = 1000

# a busy loop's writes wait for others at most this long, or until this many queue, before
# their batch commits (with 16 concurrent publishers: about 3 a batch, waiting 0.15 ms at
# the median)
GATHER_SECONDS = 0.002
GATHER_UNITS = 256

# called once a unit's transaction is over: (whether it took effect, result or exception)
After = Callable[[bool, Any], None]
# (unit, its caller's future, its after, whether it is one statement)
_Queued = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", After | None, bool]
_Outcome = tuple[bool, Any]  # (took effect, result or exception)


class SqliteWriter:
    """Owns the SQLite file at ``path``: its connection, its writes, its checkpoints.

    Args:
        path: the database file (created with its folder, both private).
        name: what the file is, for error messages ("the store").
        setup: run once on the fresh connection (autocommit mode), e.g. a schema migration.
        checkpoint_units: units committed between checkpoints.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        name: str = "the database",
        setup: Callable[[sqlite3.Connection], None] | None = None,
        checkpoint_units: int = CHECKPOINT_UNITS,
    ) -> None:
        self.path = Path(path)
        self.name = name
        self.checkpoint_units = checkpoint_units
        # for tests and stats: completed checkpoints, committed transactions and units
        self.checkpoints = 0
        self.batches = 0
        self.units = 0
        self._setup = setup
        self._db: sqlite3.Connection | None = None
        self._queue: list[_Queued] = []
        self._held = False  # a checkpoint's second pass runs: units queue
        self._flushing = False  # a flush of the queue is scheduled
        self._gathering = 0.0  # since when (loop time) the queue waits for others to join
        self._drained: asyncio.Future[None] | None = None
        self._since_checkpoint = 0
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpoint_db: sqlite3.Connection | None = None  # used only in that thread
        self._checkpointing: asyncio.Task[None] | None = None

    # -- the connection --------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, opened on first use (with ``setup``); read on it only from the
        event loop, and write only through :meth:`run`."""
        if self._db is None:
            self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise errors.InternalServerError(f"cannot open {self.name} at {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            # checkpoints fsync: on the event loop they stalled every call for up to tens of
            # milliseconds, so they run in a worker thread on a connection of their own
            db.execute("PRAGMA wal_autocheckpoint=0")
            if self._setup is not None:
                self._setup(db)
        except BaseException as exc:
            db.close()
            if isinstance(exc, sqlite3.Error):
                raise errors.InternalServerError(f"cannot open {self.name} at {self.path}: {exc}") from exc
            raise
        return db

    # -- writes ----------------------------------------------------------------------------

    async def run(
        self, unit: Callable[[sqlite3.Connection], T], *, after: After | None = None, single: bool = False
    ) -> T:
        """Run ``unit`` in a transaction; its result once that transaction committed.

        ``after(took_effect, result_or_exception)`` is called right after the transaction,
        before the caller resumes, in the order units were submitted (to keep a cache in
        step with the file, say). A unit that raises is rolled back alone and its exception
        raised here. A queued unit whose caller was cancelled is skipped.

        ``single``: the unit changes the file with one statement, which it steps to the end,
        and raises only when that statement failed or changed nothing. Such a unit committed
        inline runs in autocommit mode: SQLite makes the statement its own transaction and
        commits it as the statement finishes (the same WAL commit as an explicit COMMIT; read
        cursors still open on the connection do not hold it back, only an unfinished write
        statement would), or undoes it whole. That spares the BEGIN and COMMIT statements
        around it, about a tenth of a lone write's cost. Queued, it joins its batch's
        transaction without a SAVEPOINT of its own (SQLite undoes a failed statement alone).

        Raises:
            whatever ``unit`` raises; sqlite3.Error when the transaction failed (then no
            unit of it took effect); InternalServerError when the file cannot be opened.
        """
        loop = asyncio.get_running_loop()
        if not self._held and not self._queue and not _busy(loop):
            ok, value = self._alone(unit) if single else self._commit([(unit, single)])[0]
            if after is not None:
                _call(after, ok, value, self.name)
            self._committed(1)
            if not ok:
                raise value
            return value  # type: ignore[no-any-return]
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((unit, future, after, single))
        if not self._held and not self._flushing:
            self._flushing = True
            self._gathering = loop.time()
            loop.call_soon(self._gather)
        return await future

    def _alone(self, unit: Callable[[sqlite3.Connection], Any]) -> _Outcome:
        """Run a ``single`` unit in autocommit mode (see :meth:`run`): committed when it
        returns, not at all when it raises."""
        db = self._db
        if db is None:
            try:
                db = self.connection
            except errors.MicroError as exc:
                return False, exc
        outcome = _attempt(unit, db)
        if outcome[0]:
            self.batches += 1
            self.units += 1
        return outcome

    def _commit(self, units: list[tuple[Callable[[sqlite3.Connection], Any], bool]]) -> list[_Outcome]:
        """Run ``units`` (each with whether it is one statement) in one transaction and
        commit it; each unit's outcome."""
        try:
            db = self.connection
            db.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, errors.MicroError) as exc:
            return [(False, exc)] * len(units)
        try:
            if len(units) == 1:  # nothing to protect from it: its failure rolls back the lot
                outcome = _attempt(units[0][0], db)
                if not outcome[0]:
                    with contextlib.suppress(sqlite3.Error):  # SQLite may have done it
                        db.execute("ROLLBACK")
                    return [outcome]
                outcomes = [outcome]
            else:
                outcomes = []
                for unit, single in units:
                    if single:  # SQLite undoes a failed statement alone (no SAVEPOINT needed)
                        outcome = _attempt(unit, db)
                        if not outcome[0] and not db.in_transaction:
                            # …unless it gave up the whole transaction (disk full, I/O)
                            raise sqlite3.OperationalError(f"the transaction was rolled back: {outcome[1]}")
                    else:
                        db.execute("SAVEPOINT unit")
                        outcome = _attempt(unit, db)
                        if not outcome[0]:
                            db.execute("ROLLBACK TO unit")
                        db.execute("RELEASE unit")
                    outcomes.append(outcome)
            db.execute("COMMIT")
        except sqlite3.Error as exc:  # the transaction itself failed: no unit took effect
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            log.error("committing to %s failed: %s", self.name, exc)
            return [(False, exc)] * len(units)
        self.batches += 1
        self.units += len(units)
        return outcomes

    def _gather(self) -> None:
        """Let writes join the queue while the loop is busy (see the module docstring), then
        commit it."""
        loop = asyncio.get_running_loop()
        if (
            _busy(loop)
            and not self._held
            and len(self._queue) < GATHER_UNITS
            and loop.time() - self._gathering < GATHER_SECONDS
        ):
            loop.call_soon(self._gather)
            return
        self._flush()

    def _flush(self) -> None:
        """Commit the queued units as one batch (on the event loop), then tell their callers."""
        self._flushing = False
        while self._queue and not self._held:
            batch = [queued for queued in self._queue if not queued[1].done()]
            self._queue = []
            outcomes = self._commit([(unit, single) for unit, _, _, single in batch])
            for (_, future, after, _), (ok, value) in zip(batch, outcomes, strict=True):
                if after is not None:
                    _call(after, ok, value, self.name)
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            self._committed(len(batch))
        if self._drained is not None and not self._queue:
            self._drained.set_result(None)
            self._drained = None

    def _hold(self) -> None:
        """Queue units instead of committing them, until :meth:`_release`."""
        self._held = True

    def _release(self) -> None:
        self._held = False
        if self._queue and not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def drain(self) -> None:
        """Wait until every queued unit has been committed (or failed)."""
        if not self._queue:
            return
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._drained)

    # -- checkpoints -----------------------------------------------------------------------

    def _committed(self, units: int) -> None:
        self._since_checkpoint += units
        if self._since_checkpoint >= self.checkpoint_units and self._checkpointing is None:
            with contextlib.suppress(RuntimeError):  # no running loop: the next commit will
                self._checkpointing = asyncio.get_running_loop().create_task(self._checkpoint_cycle())
                self._since_checkpoint = 0

    async def _checkpoint_cycle(self) -> None:
        loop = asyncio.get_running_loop()
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        try:
            await loop.run_in_executor(self._checkpointer, self._checkpoint)
            self._hold()
            try:
                await loop.run_in_executor(self._checkpointer, self._checkpoint)
            finally:
                self._release()
            self.checkpoints += 1
        except sqlite3.Error:
            log.exception("checkpointing %s failed", self.name)
        finally:
            self._checkpointing = None

    def _checkpoint(self) -> None:
        """One PASSIVE checkpoint (in the checkpoint thread)."""
        if self._checkpoint_db is None:
            self._checkpoint_db = sqlite3.connect(self.path, isolation_level=None)
            self._checkpoint_db.execute("PRAGMA busy_timeout=5000")
        self._checkpoint_db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _close_checkpoint_db(self) -> None:
        if self._checkpoint_db is not None:
            self._checkpoint_db.close()
            self._checkpoint_db = None

    async def close(self) -> None:
        """Finish a checkpoint under way, commit what is queued, close the connections."""
        if self._checkpointing is not None:
            await self._checkpointing
        await self.drain()
        if self._checkpointer is not None:
            await asyncio.get_running_loop().run_in_executor(self._checkpointer, self._close_checkpoint_db)
            self._checkpointer.shutdown()
            self._checkpointer = None
        if self._db is not None:
            self._db.close()
            self._db = None


def _busy(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether other callbacks are ready to run on ``loop`` this turn or the next. asyncio
    has no public question for it; a loop without the ready queue (another implementation)
    counts as idle: every write is committed at once, as if no other were near."""
    return bool(getattr(loop, "_ready", None))


def _attempt(unit: Callable[[sqlite3.Connection], Any], db: sqlite3.Connection) -> _Outcome:
    """(True, result) or (False, the exception) of one unit. A unit's own SQLite errors (a
    constraint, say) are its own; when SQLite gave up the whole transaction instead, the
    ROLLBACK TO that follows fails and so does the batch."""
    try:
        return True, unit(db)
    except Exception as exc:
        return False, exc


def _call(after: After, ok: bool, value: Any, name: str) -> None:
    try:
        after(ok, value)
    except Exception:  # a follower's bug must not hide the outcome from the caller
        log.exception("after a write to %s", name)
