"""An in-process store: zero dependencies, the full semantics (expiry, versions, paging).

Keys of each table are kept in a sorted list next to a dict, so a prefix is a range found
by bisection. Python orders ``str`` by code point, which is exactly the byte order of
their UTF-8 encoding, so keys sort as byte strings without encoding them.
"""

from __future__ import annotations

import builtins
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from micro import errors
from micro.store import DEFAULT_DATABASE, DEFAULT_TABLE, Order, Record, Store

__all__ = ["MemoryStore", "prefix_successor", "stale_detail"]


def prefix_successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    None when there is none (empty prefix, or only U+10FFFF characters).
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates never occur in valid keys
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None


@dataclass(slots=True)
class _Entry:
    value: bytes
    expires_at: float | None
    metadata: dict[str, str]
    version: int


@dataclass(slots=True)
class _Table:
    entries: dict[str, _Entry] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)  # sorted

    def remove(self, key: str) -> None:
        if self.entries.pop(key, None) is not None:
            i = bisect_left(self.keys, key)
            del self.keys[i]


class MemoryStore(Store):
    """Records in a dict per (database, table).

    Args:
        clock: returns the current unix time; tests inject one to move time forward.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._tables: dict[tuple[str, str], _Table] = {}

    def _table(self, database: str, table: str) -> _Table | None:
        return self._tables.get((database or DEFAULT_DATABASE, table or DEFAULT_TABLE))

    @staticmethod
    def _live(entry: _Entry, now: float) -> bool:
        return entry.expires_at is None or entry.expires_at > now

    def _record(self, key: str, entry: _Entry, now: float) -> Record:
        remaining = None if entry.expires_at is None else entry.expires_at - now
        return Record(key, entry.value, remaining, dict(entry.metadata), entry.version)

    def _select(
        self,
        tbl: _Table,
        now: float,
        *,
        prefix: str,
        suffix: str,
        order: Order,
        start_after: str,
    ) -> Generator[str, None, None]:
        """Live keys matching the filters, in order (before offset and limit)."""
        keys = tbl.keys
        lo = bisect_left(keys, prefix) if prefix else 0
        upper = prefix_successor(prefix)
        hi = bisect_left(keys, upper) if upper is not None else len(keys)
        if start_after:
            if order is Order.ASC:
                lo = max(lo, bisect_right(keys, start_after))
            else:
                hi = min(hi, bisect_left(keys, start_after))
        span = range(lo, hi) if order is Order.ASC else range(hi - 1, lo - 1, -1)
        expired: list[str] = []
        try:
            for i in span:
                key = keys[i]
                if suffix and not key.endswith(suffix):
                    continue
                if not self._live(tbl.entries[key], now):
                    expired.append(key)
                    continue
                yield key
        finally:
            for key in expired:
                tbl.remove(key)

    def _page(
        self,
        database: str,
        table: str,
        *,
        prefix: str,
        suffix: str,
        limit: int,
        offset: int,
        order: Order,
        start_after: str,
    ) -> builtins.list[tuple[str, _Entry]]:
        tbl = self._table(database, table)
        if tbl is None:
            return []
        now = self.clock()
        out: list[tuple[str, _Entry]] = []
        skipped = 0
        selected = self._select(tbl, now, prefix=prefix, suffix=suffix, order=order, start_after=start_after)
        for key in selected:
            if skipped < offset:
                skipped += 1
                continue
            out.append((key, tbl.entries[key]))
            if limit and len(out) >= limit:
                break
        selected.close()
        return out

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
        now = self.clock()
        if not prefix and not suffix:
            tbl = self._table(database, table)
            entry = tbl.entries.get(key) if tbl is not None else None
            if entry is None or tbl is None:
                raise errors.NotFound("not found")
            if not self._live(entry, now):
                tbl.remove(key)
                raise errors.NotFound("not found")
            return [self._record(key, entry, now)]
        page = self._page(
            database,
            table,
            prefix=key if prefix else "",
            suffix=key if suffix else "",
            limit=limit,
            offset=offset,
            order=order,
            start_after="",
        )
        return [self._record(k, e, now) for k, e in page]

    async def write(
        self, record: Record, *, database: str = "", table: str = "", version: int | None = None
    ) -> int:
        if record.expiry is not None and record.expiry < 0:
            raise errors.BadRequest("expiry must not be negative")
        now = self.clock()
        ident = (database or DEFAULT_DATABASE, table or DEFAULT_TABLE)
        tbl = self._tables.get(ident)
        if tbl is None:
            tbl = self._tables[ident] = _Table()
        current = tbl.entries.get(record.key)
        if current is not None and not self._live(current, now):
            tbl.remove(record.key)
            current = None
        at = current.version if current is not None else 0
        if version is not None and version != at:
            raise errors.Conflict(stale_detail(at, version))
        expires_at = now + record.expiry if record.expiry else None
        entry = _Entry(bytes(record.value), expires_at, dict(record.metadata), at + 1)
        if current is None:
            insort(tbl.keys, record.key)
        tbl.entries[record.key] = entry
        return entry.version

    async def delete(self, key: str, *, database: str = "", table: str = "") -> None:
        tbl = self._table(database, table)
        if tbl is not None:
            tbl.remove(key)

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
        page = self._page(
            database,
            table,
            prefix=prefix,
            suffix=suffix,
            limit=limit,
            offset=offset,
            order=order,
            start_after=start_after,
        )
        return [k for k, _ in page]

    def _has_live(self, tbl: _Table, now: float) -> bool:
        return any(self._live(e, now) for e in tbl.entries.values())

    async def databases(self) -> builtins.list[str]:
        now = self.clock()
        return sorted({db for (db, _), tbl in self._tables.items() if self._has_live(tbl, now)})

    async def tables(self, database: str = "") -> builtins.list[str]:
        now = self.clock()
        db = database or DEFAULT_DATABASE
        return sorted(t for (d, t), tbl in self._tables.items() if d == db and self._has_live(tbl, now))


def stale_detail(at: int, expected: int) -> str:
    """The Conflict detail of a conditional write that found the record at ``at``."""
    if expected == 0:
        return f"stale version: record exists at version {at}, expected it not to exist"
    if at == 0:
        return f"stale version: record does not exist, expected version {expected}"
    return f"stale version: record is at version {at}, expected {expected}"
