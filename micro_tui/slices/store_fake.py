"""The fake store slice (tests and snapshots): fixed records, a frozen clock.

Database ``micro`` holds tables ``micro``, ``sessions`` (records with a TTL) and ``users``
(JSON values, one binary); ``team-a`` holds ``orders``. Like the real server, every call
wants a login and a server that answers; writes are refused in a read-only env.
"""

from __future__ import annotations

import bisect
import json

from micro import errors
from micro.store import Order
from micro_tui.fake import FakeSession
from micro_tui.slices.store import PAGE, KeyPage, StoreRecord, VersionConflict

__all__ = ["FakeStore"]


def _fixture() -> dict[tuple[str, str], dict[str, StoreRecord]]:
    users = {}
    for i, name in enumerate(["ada", "alan", "barbara", "edsger", "grace", "ken", "linus", "margaret"]):
        key = f"user:{i + 1:04d}"
        value = {"name": name, "email": f"{name}@example.com", "admin": i % 3 == 0, "logins": i * 7}
        users[key] = StoreRecord(key, json.dumps(value).encode(), None, i + 1, {"owner": "signup"})
    users["avatar:0001"] = StoreRecord("avatar:0001", bytes(range(0, 256, 7)), None, 1)
    users["note"] = StoreRecord("note", b"plain text, not JSON [b]as written[/b]", None, 3)
    sessions = {
        f"sess:{i:03d}": StoreRecord(f"sess:{i:03d}", f'{{"user": "user:{i:04d}"}}'.encode(), 600.0 * i, 1)
        for i in range(1, 6)
    }
    orders = {
        f"order:{i:05d}": StoreRecord(f"order:{i:05d}", f'{{"total": {i * 3}.5}}'.encode(), None, 1)
        for i in range(1, 31)
    }
    micro = {"greeting": StoreRecord("greeting", b"hello world", None, 2)}
    return {
        ("micro", "micro"): micro,
        ("micro", "sessions"): sessions,
        ("micro", "users"): users,
        ("team-a", "orders"): orders,
    }


class FakeStore:
    """Records in memory, per (database, table), keys kept sorted (paging bisects them)."""

    def __init__(self, session: FakeSession) -> None:
        self._session = session
        self.records = _fixture()
        self._sorted: dict[tuple[str, str], list[str]] = {}
        self.listed: list[dict[str, object]] = []
        """Every listing asked for (its options): tests check that none uses an offset."""

    def _check(self) -> None:
        self._session.check()
        if self._session.login_required:
            raise errors.Unauthorized("an account is required")

    def _scope(self, database: str, table: str) -> tuple[str, str]:
        if table.startswith("_"):
            raise errors.Forbidden("tables starting with _ are internal to the server")
        return database or self._session.namespace, table or "micro"

    def _keys(self, scope: tuple[str, str]) -> list[str]:
        if scope not in self._sorted:
            self._sorted[scope] = sorted(self.records.get(scope, {}))
        return self._sorted[scope]

    def _writable(self) -> None:
        env = self._session.env
        if env.read_only:
            raise errors.BadRequest(f"Environment '{env.name}' is read-only")

    def fill(self, table: str, count: int, *, database: str = "micro") -> None:
        """``count`` keys ``key:0000000``… in ``table`` (a big table for paging tests)."""
        scope = (database, table)
        records = self.records.setdefault(scope, {})
        for i in range(count):
            key = f"key:{i:07d}"
            records[key] = StoreRecord(key, b"%d" % i, None, 1)
        self._sorted.pop(scope, None)

    async def databases(self) -> list[str]:
        self._check()
        return sorted({db for (db, _), records in self.records.items() if records})

    async def tables(self, database: str = "") -> list[str]:
        self._check()
        db = database or self._session.namespace
        return sorted(t for (d, t), records in self.records.items() if d == db and records)

    async def list_keys(
        self,
        *,
        database: str = "",
        table: str = "",
        prefix: str = "",
        suffix: str = "",
        limit: int = PAGE,
        start_after: str = "",
        order: Order = Order.ASC,
    ) -> KeyPage:
        self._check()
        self.listed.append({"table": table, "prefix": prefix, "start_after": start_after, "order": order})
        keys = self._keys(self._scope(database, table))
        found: list[str] = []
        if order is Order.ASC:
            start = bisect.bisect_left(keys, prefix)
            if start_after:
                start = max(start, bisect.bisect_right(keys, start_after))
            for key in keys[start:]:
                if not key.startswith(prefix):
                    break
                if key.endswith(suffix):
                    found.append(key)
                    if len(found) > limit:
                        break
        else:
            end = bisect.bisect_left(keys, start_after) if start_after else len(keys)
            for key in reversed(keys[:end]):
                if prefix and key < prefix:
                    break
                if key.startswith(prefix) and key.endswith(suffix):
                    found.append(key)
                    if len(found) > limit:
                        break
        return KeyPage(tuple(found[:limit]), len(found) > limit)

    async def read(self, key: str, *, database: str = "", table: str = "") -> StoreRecord:
        self._check()
        record = self.records.get(self._scope(database, table), {}).get(key)
        if record is None:
            raise errors.NotFound("not found")
        return record

    async def write(
        self,
        key: str,
        value: bytes,
        *,
        database: str = "",
        table: str = "",
        ttl: float | None = None,
        version: int | None = None,
    ) -> int:
        self._writable()
        self._check()
        if not key:
            raise errors.BadRequest("key is required")
        scope = self._scope(database, table)
        keys = self._keys(scope)
        records = self.records.setdefault(scope, {})
        current = records.get(key)
        at = current.version if current is not None else 0
        if version is not None and version != at:
            from micro.store.memory import stale_detail

            raise VersionConflict(stale_detail(at, version), current)
        records[key] = StoreRecord(key, value, ttl if ttl else None, at + 1)
        if current is None:
            bisect.insort(keys, key)
        return at + 1

    async def delete(self, key: str, *, database: str = "", table: str = "") -> None:
        self._writable()
        self._check()
        scope = self._scope(database, table)
        if self.records.get(scope, {}).pop(key, None) is not None:
            self._keys(scope).remove(key)
