"""The store over gRPC: the default store inside services and the CLI's.

Imports only grpc, the generated store code and micro's own small modules, so that
``micro store read`` starts fast.
"""

from __future__ import annotations

import builtins
from typing import Any

from micro import errors
from micro._grpc import rpc_errors
from micro._grpc_client import GrpcClient
from micro.proto.store import store_pb2, store_pb2_grpc
from micro.store import Order, Record, Store
from micro.store._convert import order_to_proto, record_from_proto, ttl_to_wire

__all__ = ["GrpcStore"]

_UINT32 = 2**32 - 1


def _counts(limit: int, offset: int) -> None:
    """``limit`` and ``offset`` as the wire carries them (uint32), else a BadRequest."""
    for name, value in (("limit", limit), ("offset", offset)):
        if not 0 <= value <= _UINT32:
            raise errors.BadRequest(f"{name} out of range: {value}")


class GrpcStore(GrpcClient, Store):
    """A :class:`~micro.store.Store` served by the store service at ``address``.

    An empty ``database`` means the caller's namespace (the server decides); an empty
    ``table`` means ``micro``.

    Args:
        address: ``host:port`` of the server (or proxy).
        namespace: sent as ``micro-namespace``; empty lets the server use its default.
        token: an access token, sent as ``authorization: Bearer …``.
        channel: an existing ``grpc.aio`` channel to use (not closed by :meth:`close`).
    """

    def _store(self) -> Any:
        return self._stub(store_pb2_grpc.StoreStub)

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
        _counts(limit, offset)
        request = store_pb2.ReadRequest(key=key)
        if database or table or prefix or suffix or limit or offset or order is not Order.ASC:
            request.options.CopyFrom(
                store_pb2.ReadOptions(
                    database=database,
                    table=table,
                    prefix=prefix,
                    suffix=suffix,
                    limit=limit,
                    offset=offset,
                    order=order_to_proto(order),
                )
            )
        with rpc_errors(self.address):
            response = await self._store().Read(request, metadata=self._metadata, timeout=self._timeout)
        return [record_from_proto(r) for r in response.records]

    async def write(
        self, record: Record, *, database: str = "", table: str = "", version: int | None = None
    ) -> int:
        # fields left at their defaults are not set, and the record is filled in place (a
        # Record passed to WriteRequest() is copied: three times the cost) on this hot path
        request = store_pb2.WriteRequest()
        pb = request.record
        pb.key, pb.value = record.key, record.value
        if record.metadata:
            request.record.metadata.update(record.metadata)
        if database or table or record.expiry or version is not None:
            options = request.options
            options.database, options.table = database, table
            options.ttl = ttl_to_wire(record.expiry)
            if version is not None:
                if not 0 <= version < 2**64:
                    raise errors.BadRequest(f"version out of range: {version}")
                options.version = version
        with rpc_errors(self.address):
            response = await self._store().Write(request, metadata=self._metadata, timeout=self._timeout)
        return int(response.version)

    async def delete(self, key: str, *, database: str = "", table: str = "") -> None:
        request = store_pb2.DeleteRequest(
            key=key, options=store_pb2.DeleteOptions(database=database, table=table)
        )
        await self._call(store_pb2_grpc.StoreStub, "Delete", request)

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
        _counts(limit, offset)
        request = store_pb2.ListRequest(
            options=store_pb2.ListOptions(
                database=database,
                table=table,
                prefix=prefix,
                suffix=suffix,
                limit=limit,
                offset=offset,
                order=order_to_proto(order),
                start_after=start_after,
            )
        )
        keys: list[str] = []
        with rpc_errors(self.address):
            async for response in self._store().List(request, metadata=self._metadata):
                keys.extend(response.keys)
        return keys

    async def databases(self) -> builtins.list[str]:
        response = await self._call(store_pb2_grpc.StoreStub, "Databases", store_pb2.DatabasesRequest())
        return list(response.databases)

    async def tables(self, database: str = "") -> builtins.list[str]:
        request = store_pb2.TablesRequest(database=database)
        response = await self._call(store_pb2_grpc.StoreStub, "Tables", request)
        return list(response.tables)
