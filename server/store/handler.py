"""The store service's gRPC servicer: protobuf ⇄ domain and input validation, nothing else.

Errors are raised as :class:`~micro.errors.MicroError`; the server's ErrorInterceptor turns
them into gRPC status codes with the ``micro-error`` trailer.

Internal tables: a table whose name starts with ``_`` belongs to the server (config keeps
each namespace's document, with its sealed secrets, in ``_config``). Callers never see them:
they are not listed, and reading, listing, writing or deleting one is refused (403), so a
store snapshot holds store data only. The server's own code reaches them in-process through
the :class:`~micro.store.Store` it shares; the check is here, at the wire.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from micro import errors
from micro.proto.store import store_pb2, store_pb2_grpc
from micro.store import DEFAULT_TABLE, MAX_KEY_BYTES, MAX_VALUE_BYTES, Record, Store
from micro.store._convert import (
    order_from_proto,
    record_to_proto,
    write_ttl,
    write_version,
)
from server.auth import context as ctx
from server.auth.context import Permission, Policy
from server.limits import check_length, check_metadata

__all__ = ["INTERNAL_PREFIX", "LIST_BATCH", "PERMISSIONS", "StoreHandler", "is_internal"]

# keys per ListResponse message, and per query of the store: a listing of a million keys is
# a thousand short steps of the event loop, not one long one
LIST_BATCH = 1000
# versions are SQLite integers
MAX_VERSION = 2**63 - 1
INTERNAL_PREFIX = "_"


def is_internal(table: str) -> bool:
    """Whether ``table`` is one the server keeps for itself."""
    return table.startswith(INTERNAL_PREFIX)


def _table(requested: str) -> str:
    """The table a call works on; internal ones are refused."""
    if is_internal(requested):
        raise errors.Forbidden(f"tables starting with {INTERNAL_PREFIX} are internal to the server")
    return requested or DEFAULT_TABLE


def _check_key(key: str, field: str = "key") -> None:
    if not key and field == "key":
        raise errors.BadRequest("key is required")
    size = len(key.encode())
    if size > MAX_KEY_BYTES:
        raise errors.BadRequest(f"{field} too long: {size} bytes (limit {MAX_KEY_BYTES})")


def _check_scope(database: str, table: str) -> None:
    if database or table:  # empty names are always short enough
        check_length("database", database)
        check_length("table", table)


def _options_database(request: Any) -> str:
    return str(request.options.database)


# every store call needs an admin or a service account of the database's namespace
# (v3's AuthorizeAdmin); the rules can only narrow it
PERMISSIONS = {
    "/store.Store/Read": Permission(Policy.ADMIN_OR_SERVICE, _options_database),
    "/store.Store/Write": Permission(Policy.ADMIN_OR_SERVICE, _options_database),
    "/store.Store/Delete": Permission(Policy.ADMIN_OR_SERVICE, _options_database),
    "/store.Store/List": Permission(Policy.ADMIN_OR_SERVICE, _options_database),
    "/store.Store/Databases": Permission(Policy.ADMIN_OR_SERVICE),
    "/store.Store/Tables": Permission(Policy.ADMIN_OR_SERVICE, lambda request: str(request.database)),
}


class StoreHandler(store_pb2_grpc.StoreServicer):
    """Serves :class:`~micro.store.Store` ``store`` as the ``store.Store`` gRPC service."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _database(self, context: Any, requested: str) -> str:
        """The database a call works on: the namespace the call acts in (the requested
        database, else the caller's namespace; checked by the call boundary)."""
        return ctx.namespace(context, requested)

    async def Read(self, request: store_pb2.ReadRequest, context: Any) -> store_pb2.ReadResponse:
        opts = request.options
        _check_scope(opts.database, opts.table)
        _check_key(request.key, "key" if not (opts.prefix or opts.suffix) else "prefix")
        table = _table(opts.table)
        records = await self.store.read(
            request.key,
            database=self._database(context, opts.database),
            table=table,
            prefix=opts.prefix,
            suffix=opts.suffix,
            limit=opts.limit,
            offset=opts.offset,
            order=order_from_proto(opts.order),
        )
        return store_pb2.ReadResponse(records=[record_to_proto(r) for r in records])

    async def Write(self, request: store_pb2.WriteRequest, context: Any) -> store_pb2.WriteResponse:
        record, opts = request.record, request.options
        _check_scope(opts.database, opts.table)
        _check_key(record.key)
        if record.metadata:
            check_metadata("record metadata", record.metadata)
        if len(record.value) > MAX_VALUE_BYTES:
            raise errors.TooLarge(
                f"value too large: {len(record.value)} bytes (limit {MAX_VALUE_BYTES});"
                " use the blob store for large objects"
            )
        if opts.ttl < 0 or opts.expiry < 0 or record.expiry < 0:
            raise errors.BadRequest("expiry must not be negative")
        version = write_version(opts)
        if version is not None and version > MAX_VERSION:
            raise errors.BadRequest(f"version out of range: {version} (limit {MAX_VERSION})")
        table = _table(opts.table)
        ttl = write_ttl(record, opts, time.time()) if opts.ttl or opts.expiry or record.expiry else None
        stored = await self.store.write(
            _domain_record(record, ttl),
            database=self._database(context, opts.database),
            table=table,
            version=version,
        )
        return store_pb2.WriteResponse(version=stored)

    async def Delete(self, request: store_pb2.DeleteRequest, context: Any) -> store_pb2.DeleteResponse:
        _check_scope(request.options.database, request.options.table)
        _check_key(request.key)
        table = _table(request.options.table)
        await self.store.delete(
            request.key,
            database=self._database(context, request.options.database),
            table=table,
        )
        return store_pb2.DeleteResponse()

    async def List(
        self, request: store_pb2.ListRequest, context: Any
    ) -> AsyncIterator[store_pb2.ListResponse]:
        """Keys in messages of at most LIST_BATCH, each read from the store as it is sent."""
        opts = request.options
        table = _table(opts.table)
        _check_scope(opts.database, opts.table)
        for field, value in (
            ("prefix", opts.prefix),
            ("suffix", opts.suffix),
            ("start_after", opts.start_after),
        ):
            _check_key(value, field)
        database = self._database(context, opts.database)
        left = opts.limit or None  # None: every key
        offset, start_after = opts.offset, opts.start_after
        while left is None or left > 0:
            want = LIST_BATCH if left is None else min(LIST_BATCH, left)
            keys = await self.store.list(
                database=database,
                table=table,
                prefix=opts.prefix,
                suffix=opts.suffix,
                limit=want,
                offset=offset,
                order=order_from_proto(opts.order),
                start_after=start_after,
            )
            if keys:
                yield store_pb2.ListResponse(keys=keys)
            if len(keys) < want:
                return
            if left is not None:
                left -= len(keys)
            offset, start_after = 0, keys[-1]

    async def Databases(
        self, request: store_pb2.DatabasesRequest, context: Any
    ) -> store_pb2.DatabasesResponse:
        own = self._database(context, "")
        caller = ctx.current()
        # the server's own databases (``_auth``) are never listed; others see their own
        found = [db for db in await self.store.databases() if not db.startswith("_")]
        if caller is not None and not ctx.is_micro_admin(caller.account):
            found = [db for db in found if db == own]
        # a namespace with config but no records holds only internal tables: not listed
        listed = []
        for db in found:
            if any(not is_internal(table) for table in await self.store.tables(db)):
                listed.append(db)
        return store_pb2.DatabasesResponse(databases=listed)

    async def Tables(self, request: store_pb2.TablesRequest, context: Any) -> store_pb2.TablesResponse:
        check_length("database", request.database)
        database = self._database(context, request.database)
        tables = [t for t in await self.store.tables(database) if not is_internal(t)]
        return store_pb2.TablesResponse(tables=tables)


def _domain_record(pb: store_pb2.Record, ttl: float | None) -> Record:
    return Record(pb.key, pb.value, ttl, dict(pb.metadata) if pb.metadata else {})
