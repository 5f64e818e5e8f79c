"""The store slice over a real server: the framework's :class:`~micro.store.grpc.GrpcStore`.

One client per env + namespace + login, made on first use (its grpc import runs in a
thread, so the event loop keeps painting) and replaced when the session moves on.
"""

from __future__ import annotations

from typing import Any

from micro import errors
from micro.store import Order
from micro_tui.real import RealSession, SessionClient
from micro_tui.slices.store import PAGE, KeyPage, StoreRecord, VersionConflict

__all__ = ["RealStore"]


def _record(record: Any) -> StoreRecord:
    return StoreRecord(record.key, record.value, record.expiry, record.version, dict(record.metadata))


class RealStore:
    def __init__(self, session: RealSession) -> None:
        self._session = session
        self._clients: SessionClient[Any] = SessionClient(session, "micro.store.grpc", "GrpcStore")

    async def _store(self) -> Any:
        return await self._clients.get()

    def _writable(self) -> None:
        """A read-only env refuses a write before anything is sent, as the CLI does."""
        self._session.context.require_writable()

    async def databases(self) -> list[str]:
        return sorted(await (await self._store()).databases())

    async def tables(self, database: str = "") -> list[str]:
        return sorted(await (await self._store()).tables(database))

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
        # one more than the page: whether another page follows, without a count
        keys = await (await self._store()).list(
            database=database,
            table=table,
            prefix=prefix,
            suffix=suffix,
            limit=limit + 1,
            order=order,
            start_after=start_after,
        )
        return KeyPage(tuple(keys[:limit]), len(keys) > limit)

    async def read(self, key: str, *, database: str = "", table: str = "") -> StoreRecord:
        [record] = await (await self._store()).read(key, database=database, table=table)
        return _record(record)

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
        from micro.store import Record

        self._writable()
        store = await self._store()
        try:
            return int(
                await store.write(
                    Record(key, value, expiry=ttl or None), database=database, table=table, version=version
                )
            )
        except errors.Conflict as exc:
            if version is None:
                raise
            try:
                current: StoreRecord | None = await self.read(key, database=database, table=table)
            except errors.NotFound:
                current = None
            raise VersionConflict(exc.detail, current) from exc

    async def delete(self, key: str, *, database: str = "", table: str = "") -> None:
        self._writable()
        await (await self._store()).delete(key, database=database, table=table)
