"""``micro store snapshot`` / ``restore``: every record of a database as JSON lines.

The file starts with a header line
``{"format": "micro-store-snapshot", "version": 2, "database": …, "created": …}``; then one
record per line: ``{"table", "key", "value", ["encoding": "base64"], "expires_at", "metadata",
"version"}`` where ``expires_at`` is a unix time (null = never), so a restore later keeps the
original deadline and skips what has expired since. Keys are paged with ``start_after``, so
a snapshot never holds all keys at once.

A snapshot holds store data only: the server's internal tables (names starting with ``_``,
such as config's documents) are neither listed to it nor restored from a file. Version 1
files (micro 0.1.0) carried the namespace's config document as table ``config``, key
``document``, its secrets sealed with that server's key; a restore skips it.

A snapshot file is private (0600, whatever the umask) and appears only when complete: it is
written as ``.NAME.partial-PID`` beside the destination and renamed; an error, Ctrl-C or
SIGTERM removes it, and one left by a killed snapshot is removed by the next.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import glob
import json
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from commands import _client
from commands._output import Failure, err

if TYPE_CHECKING:
    from micro.environment import Context
    from micro.store import Record, Store

__all__ = ["FORMAT", "VERSION", "restore", "snapshot"]

FORMAT = "micro-store-snapshot"
VERSION = 2
READABLE = (1, VERSION)
INTERNAL_PREFIX = "_"  # the server's own tables (server/store/handler.py)
# what version 1 files carried besides store data: config's document (table, key)
OLD_CONFIG_DOCUMENT = ("config", "document")
PARTIAL = ".partial-"
PAGE = 256
BATCH = 64
CHUNK = 1 << 16  # bytes of the snapshot read at once


def _path(name: str) -> str:
    return name.removeprefix("file://")


@contextlib.contextmanager
def _progress(label: str, total: float | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr when it is a terminal; calls advance it."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
    columns += [MofNCompleteColumn() if total is None else TextColumn("{task.percentage:>3.0f}%")]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


def _partial(path: Path) -> Path:
    """Where a snapshot to ``path`` is written until it is complete."""
    return path.with_name(f".{path.name}{PARTIAL}{os.getpid()}")


def _remove_stale(path: Path) -> None:
    """Remove partial files of ``path`` left by snapshots that were killed (their process is
    gone); a snapshot still running keeps its own."""
    with contextlib.suppress(OSError):
        for partial in path.parent.glob(f".{glob.escape(path.name)}{PARTIAL}*"):
            pid = partial.name.rsplit(PARTIAL, 1)[1]
            if not pid.isdigit() or int(pid) == os.getpid() or not _alive(int(pid)):
                partial.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def _writer(destination: str) -> Iterator[IO[str]]:
    """stdout for ``-``; else a private partial file renamed over the destination when
    complete, and removed when not."""
    if destination in ("", "-"):
        yield sys.stdout
        sys.stdout.flush()
        return
    from micro.errors import BadRequest

    path = Path(_path(destination))
    _remove_stale(path)
    tmp = _partial(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BadRequest(f"cannot write {destination}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o600)  # the umask only takes bits away; a snapshot is 0600 exactly
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield f
            try:
                f.flush()
                os.fsync(f.fileno())
                os.replace(tmp, path)
            except OSError as exc:  # a full disk, a destination that is a folder
                raise BadRequest(f"cannot write {destination}: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def _sigterm_cancels() -> AsyncIterator[None]:
    """SIGTERM stops the command as Ctrl-C does, by cancelling its task, so every cleanup
    runs (the partial file goes); the command then exits 143."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    terminated = False

    def stop() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        yield
    except asyncio.CancelledError:
        if terminated:
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _line(table: str, record: Record, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {"table": table, "key": record.key}
    try:
        item["value"] = record.value.decode("utf-8")
    except UnicodeDecodeError:
        item["value"] = base64.b64encode(record.value).decode("ascii")
        item["encoding"] = "base64"
    item["expires_at"] = round(now + record.expiry, 3) if record.expiry else None
    item["metadata"] = dict(record.metadata)
    item["version"] = record.version
    return item


async def _read_one(store: Store, key: str, database: str, table: str) -> Record | None:
    from micro.errors import NotFound

    try:
        found = await store.read(key, database=database, table=table)
    except NotFound:  # expired or deleted since it was listed
        return None
    return found[0] if found else None


def snapshot(ctx: Context, destination: str, database: str) -> None:
    async def body() -> None:
        store = _client.store(ctx)
        try:
            async with _sigterm_cancels():
                await dump(store)
        finally:
            await store.close()

    async def dump(store: Store) -> None:
        tables = await store.tables(database)  # store data only: internal tables are not listed
        header = {"format": FORMAT, "version": VERSION, "database": database, "created": time.time()}
        with _writer(destination) as f, _progress("Snapshot", None) as advance:
            f.write(json.dumps(header) + "\n")
            for table in tables:
                after = ""
                while True:
                    keys = await store.list(database=database, table=table, limit=PAGE, start_after=after)
                    if not keys:
                        break
                    records = await asyncio.gather(*(_read_one(store, k, database, table) for k in keys))
                    now = time.time()
                    for record in records:
                        if record is not None:
                            f.write(json.dumps(_line(table, record, now), ensure_ascii=False) + "\n")
                    advance(len(keys))
                    after = keys[-1]

    _client.run(body)


def _record(item: dict[str, Any], now: float) -> tuple[str, Record] | None:
    """The table and record of one line; None when it has expired since the snapshot."""
    from micro.store import Record

    raw = str(item["value"])
    value = base64.b64decode(raw) if item.get("encoding") == "base64" else raw.encode("utf-8")
    ttl: float | None = None
    if item.get("expires_at") is not None:
        ttl = float(item["expires_at"]) - now
        if ttl <= 0:
            return None
    metadata = {str(k): str(v) for k, v in (item.get("metadata") or {}).items()}
    return str(item.get("table", "")), Record(
        key=str(item["key"]), value=value, expiry=ttl, metadata=metadata
    )


def _records_word(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def _reason(exc: BaseException) -> str:
    """Why a restore stopped, as the end of a sentence."""
    from commands.main import render_error
    from micro.errors import MicroError

    if isinstance(exc, asyncio.CancelledError):  # Ctrl-C
        return "interrupted"
    if isinstance(exc, SystemExit):  # SIGTERM, see _sigterm_cancels
        return "terminated"
    line = render_error(exc)[0]
    return line[:1].lower() + line[1:] if isinstance(exc, MicroError) else line


class _Restore:
    """Writes the records of a snapshot in concurrent batches, counting those written."""

    def __init__(self, store: Store, database: str) -> None:
        self.store = store
        self.database = database
        self.batch: list[tuple[str, Record]] = []
        self.written = 0
        self.refused: dict[str, int] = {}  # internal table -> records not restored
        self.started = False  # the header was read: a stop from here on says how far it got
        self.skip_config = False  # a version 1 file: its config document is not restored

    async def add(self, table: str, record: Record) -> None:
        if table.startswith(INTERNAL_PREFIX):
            self.refused[table] = self.refused.get(table, 0) + 1
            return
        self.batch.append((table, record))
        if len(self.batch) >= BATCH:
            await self.flush()

    async def flush(self) -> None:
        """Write the batch; every write finishes (and is counted) before an error is raised.

        Each write is counted as the server acknowledges it, so a Ctrl-C in the middle of a
        batch still says exactly how many records the database holds."""
        batch, self.batch = self.batch, []
        if not batch:
            return

        async def write(table: str, record: Record) -> None:
            await self.store.write(record, database=self.database, table=table)
            self.written += 1

        results = await asyncio.gather(*(write(t, r) for t, r in batch), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    def check_refused(self) -> None:
        """Fail naming the records of internal tables the file held (none were written)."""
        if not self.refused:
            return
        names = sorted(self.refused)
        tables = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        refused = sum(self.refused.values())
        raise Failure(
            f"Restored {_records_word(self.written)}; refused {_records_word(refused)}"
            f" of the server's internal tables ({tables})"
        )


class _Input:
    """The bytes of a snapshot (stdin or a file), read on a daemon thread a chunk or two ahead.

    A read on the event loop's thread blocks the loop until a pipe's producer sends more or
    ends, so Ctrl-C, whose first press only cancels the loop's task, would not end the
    restore (the pipe may stay open for minutes). Read here, the loop waits for a chunk
    where the cancel lands at once, as ``micro logs -f`` waits for its reader thread. The
    thread reads with ``os.read`` (no lock of ``sys.stdin`` held while it blocks) and is left
    blocked when the command ends; it closes the descriptor only if it opened it, once it
    stops (closed under a blocked read, the number could be reused for a socket it would
    then read from)."""

    def __init__(self, fd: int, *, owned: bool) -> None:
        self._fd = fd
        self._owned = owned
        self._loop = asyncio.get_running_loop()
        self._chunks: asyncio.Queue[bytes | OSError] = asyncio.Queue()
        self._credit = threading.Semaphore(2)  # chunks read ahead of the loop
        self._stopped = False
        self._ended = False
        threading.Thread(target=self._run, name="restore-input", daemon=True).start()

    def ready(self) -> bool:
        """A chunk (or the end) is here: :meth:`read` will not wait for the producer."""
        return self._ended or not self._chunks.empty()

    async def read(self) -> bytes:
        """The next chunk; ``b""`` at the end. Raises the OSError of a failed read."""
        if self._ended:
            return b""
        chunk = await self._chunks.get()
        self._credit.release()
        if isinstance(chunk, OSError) or not chunk:
            self._ended = True
        if isinstance(chunk, OSError):
            raise chunk
        return chunk

    def stop(self) -> None:
        """No more chunks are wanted (the thread ends after the read it may be blocked in)."""
        self._stopped = True
        self._credit.release()

    def _run(self) -> None:
        try:
            while True:
                self._credit.acquire()
                if self._stopped:
                    return
                chunk: bytes | OSError
                try:
                    chunk = os.read(self._fd, CHUNK)
                except OSError as exc:  # a folder, an I/O error
                    chunk = exc
                try:
                    self._loop.call_soon_threadsafe(self._chunks.put_nowait, chunk)
                except RuntimeError:  # the loop has closed: the command has ended
                    return
                if not isinstance(chunk, bytes) or not chunk:
                    return
        finally:
            if self._owned:
                os.close(self._fd)


async def _lines(
    source_input: _Input, source: str, waiting: Callable[[], Awaitable[None]]
) -> AsyncGenerator[tuple[int, str, int]]:
    """The numbered lines of the snapshot (the header is line 1), each with its size in bytes.
    Before waiting for the producer, ``waiting()`` runs (what it has sent is written while it
    is slow)."""
    from micro.errors import BadRequest

    pending = bytearray()
    number = 0
    ended = False
    while not ended:
        if not source_input.ready():
            await waiting()
        try:
            chunk = await source_input.read()
        except OSError as exc:
            raise BadRequest(f"cannot read {source}: {exc.strerror}") from exc
        ended = not chunk
        pending += chunk
        if ended and pending and not pending.endswith(b"\n"):
            pending += b"\n"  # the last line needs no newline
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            number += 1
            raw = bytes(pending[start : end + 1])
            start = end + 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                if number == 1:  # the header
                    raise BadRequest(f"not a micro store snapshot: {source}") from None
                raise BadRequest(f"line {number} of {source} is not UTF-8 text") from None
            yield number, line, len(raw)
        del pending[:start]


def restore(ctx: Context, source: str, database: str) -> None:
    from micro.errors import BadRequest, Forbidden, NotFound, Unauthorized, Unavailable

    path = None if source in ("", "-") else Path(_path(source))
    if path is None and sys.stdin.isatty():
        # reading a snapshot from the keyboard would wait in silence for one
        raise BadRequest("no snapshot to restore: give --source FILE or pipe one on stdin")
    try:
        fd = sys.stdin.fileno() if path is None else os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise BadRequest(f"cannot read {source}: {exc.strerror}") from exc
    except KeyboardInterrupt:
        # opening a FIFO waits for a writer: Ctrl-C there says what any interrupted restore says
        err(f"Restored {_records_word(0)}, then stopped: {_reason(asyncio.CancelledError())}")
        raise
    total = os.fstat(fd).st_size if path is not None else None

    async def body() -> None:
        store = _client.store(ctx)
        source_input = _Input(fd, owned=path is not None)
        restoring = _Restore(store, database)
        try:
            try:
                async with _sigterm_cancels():
                    await load(source_input, restoring)
            except (Exception, asyncio.CancelledError, SystemExit) as exc:
                refused = Unauthorized | Forbidden | NotFound | Unavailable
                outright = not restoring.started or isinstance(exc, refused)
                if isinstance(exc, Exception) and outright and not restoring.written:
                    # not a snapshot, or refused outright (a login to renew, another
                    # namespace, no such namespace, no server): said as every command says
                    # it, with its exit code
                    raise
                # how far it got, so the user knows what the database now holds
                line = f"Restored {_records_word(restoring.written)}, then stopped: {_reason(exc)}"
                if isinstance(exc, Exception):
                    raise Failure(line) from exc
                err(line)
                raise
            restoring.check_refused()
        finally:
            source_input.stop()
            await store.close()

    async def load(source_input: _Input, restoring: _Restore) -> None:
        with _progress("Restore", total) as advance:
            lines = _lines(source_input, source, restoring.flush)
            try:
                async for number, line, size in lines:
                    advance(size if total is not None else 1)
                    if number == 1:
                        header = _parse(line, source)
                        version = header.get("version")
                        if header.get("format") != FORMAT or version not in READABLE:
                            raise BadRequest(f"not a micro store snapshot: {source}")
                        restoring.started, restoring.skip_config = True, version == 1
                        continue
                    if not line.strip():
                        continue
                    try:
                        parsed = _record(_parse(line, source, number), time.time())
                    except (KeyError, ValueError, TypeError, AttributeError) as exc:
                        raise BadRequest(f"line {number} of {source} is not a snapshot record") from exc
                    if parsed is None:
                        continue
                    if restoring.skip_config and (parsed[0], parsed[1].key) == OLD_CONFIG_DOCUMENT:
                        continue  # 0.1.0's config document, sealed with that server's key
                    await restoring.add(*parsed)
            except BadRequest:
                await restoring.flush()  # a line it cannot use: the lines before it are written
                raise
            finally:
                await lines.aclose()
            if not restoring.started:  # an empty file
                raise BadRequest(f"not a micro store snapshot: {source}")
            await restoring.flush()

    _client.run(body)


def _parse(line: str, source: str, number: int = 1) -> dict[str, Any]:
    """One JSON object of the snapshot (line ``number``; the first is the header)."""
    from micro.errors import BadRequest

    try:
        data = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser can take
        data = None
    if not isinstance(data, dict):
        if number > 1:
            raise BadRequest(f"line {number} of {source} is not a snapshot record")
        raise BadRequest(f"not a micro store snapshot: {source}")
    return data
