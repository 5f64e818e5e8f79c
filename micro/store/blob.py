"""The blob store: large binary objects by key, scoped per namespace, streamed in chunks.

Records of the store are small (1 MiB at most); blobs are for what is larger — uploaded
sources, files a service keeps. The server's backend keeps them in diskcache files
(``server.store.blob``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from micro import errors

__all__ = ["CHUNK_BYTES", "BlobInfo", "BlobStore", "check_key", "delete", "read", "read_chunks", "write"]

#: the size of the chunks blobs are streamed in
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What a write stored: its size in bytes and the sha256 of its content (hex)."""

    size: int
    sha256: str


def check_key(key: str) -> str:
    """``key`` when it can name a blob (1-1,024 characters, no NUL), else BadRequest."""
    if not key or len(key) > 1024 or "\0" in key:
        raise errors.BadRequest("a blob key must have 1 to 1,024 characters and no NUL")
    return key


class BlobStore(ABC):
    """Blobs by key, one space per namespace (empty: ``micro``)."""

    @abstractmethod
    async def write(self, key: str, chunks: AsyncIterable[bytes], *, namespace: str = "") -> BlobInfo:
        """Store the concatenated ``chunks`` under ``key`` (replacing what was there).

        Raises:
            TooLarge: the blob is over the store's size limit (nothing is stored).
        """

    @abstractmethod
    def read(self, key: str, *, namespace: str = "") -> AsyncIterator[bytes]:
        """The blob's content in chunks; NotFound when there is none."""

    @abstractmethod
    async def delete(self, key: str, *, namespace: str = "") -> None:
        """Remove the blob; a missing one is not an error."""

    async def drop_namespace(self, namespace: str) -> None:  # noqa: B027 - optional hook
        """Delete a deleted namespace's blobs (backends that keep any)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


# -- the module-level functions: the blob store of the service's namespace -----------------


async def _client() -> BlobStore:
    from micro import _platform

    await _platform.authenticate()
    from micro.store._blob_grpc import GrpcBlobStore

    return _platform.loop_client(
        "micro.store.blob", lambda address, ns, token: GrpcBlobStore(address, namespace=ns, token=token)
    )


async def write(key: str, data: bytes | AsyncIterable[bytes]) -> BlobInfo:
    """Store ``data`` (bytes, or chunks) under ``key`` in the service's namespace."""

    async def one() -> AsyncIterator[bytes]:
        assert isinstance(data, bytes)
        for start in range(0, max(len(data), 1), CHUNK_BYTES):
            yield data[start : start + CHUNK_BYTES]

    return await (await _client()).write(key, one() if isinstance(data, bytes) else data)


async def read(key: str) -> bytes:
    """The whole blob ``key`` (NotFound when there is none); stream big ones with
    ``read_chunks``."""
    return b"".join([chunk async for chunk in read_chunks(key)])


async def read_chunks(key: str) -> AsyncIterator[bytes]:
    """The blob ``key`` in chunks."""
    async for chunk in (await _client()).read(key):
        yield chunk


async def delete(key: str) -> None:
    """Remove the blob ``key``; a missing one is not an error."""
    await (await _client()).delete(key)
