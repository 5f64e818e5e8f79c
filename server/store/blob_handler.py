"""The public blob API (``store.BlobStore``): blobs of a namespace, streamed in chunks.

It serves the ``public`` area of :class:`~server.store.blob.DiskBlobStore` only: the
runtime's uploaded sources live in another area that no key given here can reach. Who may
call: an admin or a service account of the namespace, as for records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from micro import errors
from micro.proto.store import store_pb2, store_pb2_grpc
from micro.store.blob import BlobStore
from server.auth import context as ctx
from server.auth.context import Permission, Policy

__all__ = ["PERMISSIONS", "BlobStoreHandler"]


def _options_namespace(request: Any) -> str:
    return str(request.options.namespace)


PERMISSIONS = {
    "/store.BlobStore/Read": Permission(Policy.ADMIN_OR_SERVICE, _options_namespace),
    "/store.BlobStore/Delete": Permission(Policy.ADMIN_OR_SERVICE, _options_namespace),
    "/store.BlobStore/Write": Permission(Policy.ADMIN_OR_SERVICE),  # a stream: the call's namespace
}


class BlobStoreHandler(store_pb2_grpc.BlobStoreServicer):
    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    async def Read(
        self, request: store_pb2.BlobReadRequest, context: Any
    ) -> AsyncIterator[store_pb2.BlobReadResponse]:
        namespace = ctx.namespace(context, request.options.namespace)
        async for chunk in self.blobs.read(request.key, namespace=namespace):
            yield store_pb2.BlobReadResponse(blob=chunk)

    async def Write(self, request_iterator: Any, context: Any) -> store_pb2.BlobWriteResponse:
        iterator = request_iterator.__aiter__()
        try:
            first: store_pb2.BlobWriteRequest = await iterator.__anext__()
        except StopAsyncIteration:
            raise errors.BadRequest("a blob write needs at least one message") from None
        namespace = ctx.namespace(context, "")
        if first.options.namespace and first.options.namespace != namespace:
            raise errors.Forbidden("name the namespace of a blob write in micro-namespace")

        async def chunks() -> AsyncIterator[bytes]:
            yield first.blob
            async for message in iterator:
                yield message.blob

        await self.blobs.write(first.key, chunks(), namespace=namespace)
        return store_pb2.BlobWriteResponse()

    async def Delete(
        self, request: store_pb2.BlobDeleteRequest, context: Any
    ) -> store_pb2.BlobDeleteResponse:
        namespace = ctx.namespace(context, request.options.namespace)
        await self.blobs.delete(request.key, namespace=namespace)
        return store_pb2.BlobDeleteResponse()
