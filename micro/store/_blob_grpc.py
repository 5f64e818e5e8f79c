"""The blob store over gRPC (``store.BlobStore``): the default inside services."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from micro._grpc import call_metadata, rpc_errors
from micro._grpc_client import GrpcClient
from micro.proto.store import store_pb2, store_pb2_grpc
from micro.store.blob import BlobInfo, BlobStore, check_key

__all__ = ["GrpcBlobStore"]


class GrpcBlobStore(GrpcClient, BlobStore):
    """A :class:`~micro.store.blob.BlobStore` served by the store service at ``address``; a
    namespace other than the client's goes in ``micro-namespace``."""

    per_loop = True

    def _md(self, namespace: str) -> tuple[tuple[str, str], ...]:
        return call_metadata(namespace=namespace or self.namespace, token=self._token, service="store")

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, namespace: str = "") -> BlobInfo:
        import hashlib

        check_key(key)
        digest = hashlib.sha256()
        size = 0

        async def requests() -> AsyncIterator[store_pb2.BlobWriteRequest]:
            nonlocal size
            first = True
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                yield (
                    store_pb2.BlobWriteRequest(key=key, blob=chunk)
                    if first
                    else store_pb2.BlobWriteRequest(blob=chunk)
                )
                first = False
            if first:
                yield store_pb2.BlobWriteRequest(key=key)

        with rpc_errors(self.address):
            await self._stub(store_pb2_grpc.BlobStoreStub).Write(requests(), metadata=self._md(namespace))
        return BlobInfo(size=size, sha256=digest.hexdigest())

    async def read(self, key: str, *, namespace: str = "") -> AsyncIterator[bytes]:
        check_key(key)
        request = store_pb2.BlobReadRequest(key=key, options=store_pb2.BlobOptions(namespace=namespace))
        call = self._stub(store_pb2_grpc.BlobStoreStub).Read(request, metadata=self._md(namespace))
        try:
            with rpc_errors(self.address):
                async for response in call:
                    yield bytes(response.blob)
        finally:
            call.cancel()

    async def delete(self, key: str, *, namespace: str = "") -> None:
        check_key(key)
        request = store_pb2.BlobDeleteRequest(key=key, options=store_pb2.BlobOptions(namespace=namespace))
        await self._call(store_pb2_grpc.BlobStoreStub, "Delete", request, metadata=self._md(namespace))
