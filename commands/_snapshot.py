"""``micro store snapshot`` / ``restore``: every record of a database as JSON lines.

The file starts with a header line
``{"format": "micro-store-snapshot", "version": 1, "database": …, "created": …}``; then one
record per line: ``{"table", "key", "value", ["encoding": "base64"], "expires_at", "metadata",
"version"}`` where ``expires_at`` is a unix time (null = never), so a restore later keeps the
original deadline and skips what has expired since. Keys are paged with ``start_after``, so
a snapshot never holds all keys at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from commands import _client

if TYPE_CHECKING:
    from micro.environment import Context
    from micro.store import Record, Store

__all__ = ["FORMAT", "VERSION", "restore", "snapshot"]

FORMAT = "micro-store-snapshot"
VERSION = 1
PAGE = 256
BATCH = 64


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


@contextlib.contextmanager
def _writer(destination: str) -> Iterator[IO[str]]:
    """stdout for ``-``; else a temporary file renamed over the destination when complete."""
    if destination in ("", "-"):
        yield sys.stdout
        sys.stdout.flush()
        return
    from micro.errors import BadRequest

    path = Path(_path(destination))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        f = tmp.open("w", encoding="utf-8")
    except OSError as exc:
        raise BadRequest(f"cannot write {destination}: {exc.strerror}") from exc
    try:
        with f:
            yield f
            try:
                f.flush()
                os.fsync(f.fileno())
                os.replace(tmp, path)
            except OSError as exc:  # a full disk, a destination that is a folder
                raise BadRequest(f"cannot write {destination}: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)


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
            tables = await store.tables(database)
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
        finally:
            await store.close()

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


def restore(ctx: Context, source: str, database: str) -> None:
    from micro.errors import BadRequest

    path = None if source in ("", "-") else Path(_path(source))
    if path is None and sys.stdin.isatty():
        # reading a snapshot from the keyboard would wait in silence for one
        raise BadRequest("no snapshot to restore: give --source FILE or pipe one on stdin")
    try:
        stream: IO[str] = sys.stdin if path is None else path.open(encoding="utf-8")
    except OSError as exc:
        raise BadRequest(f"cannot read {source}: {exc.strerror}") from exc
    total = path.stat().st_size if path is not None else None

    async def write_batch(store: Store, batch: list[tuple[str, Record]]) -> None:
        await asyncio.gather(*(store.write(r, database=database, table=t) for t, r in batch))

    async def body() -> None:
        store = _client.store(ctx)
        try:
            with stream, _progress("Restore", total) as advance:
                header = _parse(stream.readline(), source)
                if header.get("format") != FORMAT or header.get("version") != VERSION:
                    raise BadRequest(f"not a micro store snapshot: {source}")
                batch: list[tuple[str, Record]] = []
                for number, line in enumerate(stream, start=2):
                    advance(len(line.encode("utf-8")) if total is not None else 1)
                    if not line.strip():
                        continue
                    try:
                        parsed = _record(_parse(line, source, number), time.time())
                    except (KeyError, ValueError, TypeError, AttributeError) as exc:
                        raise BadRequest(f"line {number} of {source} is not a snapshot record") from exc
                    if parsed is not None:
                        batch.append(parsed)
                    if len(batch) >= BATCH:
                        await write_batch(store, batch)
                        batch = []
                await write_batch(store, batch)
        finally:
            await store.close()

    _client.run(body)


def _parse(line: str, source: str, number: int = 1) -> dict[str, Any]:
    """One JSON object of the snapshot (line ``number``; the first is the header)."""
    from micro.errors import BadRequest

    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if number > 1:
            raise BadRequest(f"line {number} of {source} is not a snapshot record")
        raise BadRequest(f"not a micro store snapshot: {source}")
    return data
