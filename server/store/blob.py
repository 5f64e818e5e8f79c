"""Blobs in diskcache files: :class:`DiskBlobStore`.

One diskcache per *area*: ``public`` holds what users and services write through the blob
API; ``runtime`` holds uploaded sources, which the public API never reaches (a service
account of a namespace must not be able to swap another service's code). Large values
become files of their own (diskcache's ``read=True``), so a blob is streamed from disk and
never held whole in memory. Writes go to a temporary file first: an upload over the size
limit or cut short stores nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from micro import errors
from micro.store.blob import CHUNK_BYTES, BlobInfo, BlobStore, check_key

__all__ = ["AREAS", "DiskBlobStore"]

AREAS = ("public", "runtime")


class DiskBlobStore(BlobStore):
    """Blobs of ``area`` under ``folder/<area>``; each at most ``limit`` bytes."""

    def __init__(self, folder: Path, *, area: str = "public", limit: int = 100 * 1024 * 1024) -> None:
        if area not in AREAS:
            raise ValueError(f"unknown blob area {area!r}")
        self.folder = folder / area
        self.area = area
        self.limit = limit
        self._cache: Any = None

    def _open(self) -> Any:
        if self._cache is None:
            import diskcache  # type: ignore[import-untyped]

            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            # no eviction: a blob stays until it is deleted
            self._cache = diskcache.Cache(str(self.folder), size_limit=2**62, eviction_policy="none")
        return self._cache

    @staticmethod
    def _key(key: str, namespace: str) -> str:
        return f"{namespace or 'micro'}/{check_key(key)}"

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, namespace: str = "") -> BlobInfo:
        full = self._key(key, namespace)
        digest = hashlib.sha256()
        size = 0
        with tempfile.TemporaryFile(dir=self._spool_dir()) as spool:
            async for chunk in chunks:
                size += len(chunk)
                if size > self.limit:
                    raise errors.TooLarge(f"the blob is over the limit of {_mib(self.limit)}")
                digest.update(chunk)
                await asyncio.to_thread(spool.write, chunk)
            spool.seek(0)
            await asyncio.to_thread(self._set, full, spool)
        return BlobInfo(size=size, sha256=digest.hexdigest())

    def _spool_dir(self) -> str:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return str(self.folder)

    def _set(self, key: str, spool: BinaryIO) -> None:
        self._open().set(key, spool, read=True)

    async def read(self, key: str, *, namespace: str = "") -> AsyncIterator[bytes]:
        full = self._key(key, namespace)
        opening = asyncio.ensure_future(asyncio.to_thread(self._open().get, full, None, read=True))
        try:
            handle = await asyncio.shield(opening)
        except asyncio.CancelledError:  # the thread opens it all the same: close it then
            opening.add_done_callback(_close_opened)
            raise
        if handle is None:
            raise errors.NotFound(f"blob {key} not found")
        try:
            while True:
                chunk = await asyncio.to_thread(handle.read, CHUNK_BYTES)
                if not chunk:
                    return
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str, *, namespace: str = "") -> None:
        full = self._key(key, namespace)
        await asyncio.to_thread(self._open().delete, full)

    async def drop_namespace(self, namespace: str) -> None:
        """Delete every blob of ``namespace``."""
        cache = self._open()
        prefix = f"{namespace}/"

        def drop() -> None:
            for key in list(cache.iterkeys()):
                if isinstance(key, str) and key.startswith(prefix):
                    cache.delete(key)

        await asyncio.to_thread(drop)

    async def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None


def _close_opened(opening: asyncio.Future[Any]) -> None:
    """Close the file a cancelled read opened after its caller left."""
    if not opening.cancelled() and opening.exception() is None and opening.result() is not None:
        opening.result().close()


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MiB"
