"""The blob store: DiskBlobStore directly and over gRPC (store.BlobStore) against a real
server; the public API never reaches the runtime's area of uploaded sources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from micro import errors
from micro.store._blob_grpc import GrpcBlobStore
from micro.store.blob import CHUNK_BYTES, BlobStore
from server.store.blob import DiskBlobStore


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read(blobs: BlobStore, key: str, namespace: str = "") -> bytes:
    return b"".join([chunk async for chunk in blobs.read(key, namespace=namespace)])


@pytest.fixture(params=["disk", "grpc"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path, server: Any) -> AsyncIterator[BlobStore]:
    if request.param == "disk":
        store: BlobStore = DiskBlobStore(tmp_path / "blobs", limit=4 * CHUNK_BYTES)
    else:
        store = GrpcBlobStore(server.bound_address)
    try:
        yield store
    finally:
        await store.close()


async def test_write_read_delete_large_blob_in_chunks(blobs: BlobStore) -> None:
    big = bytes(range(256)) * (CHUNK_BYTES // 256) + b"tail"  # more than one chunk
    info = await blobs.write("pics/big.bin", _chunks(big[:1000], big[1000:]))
    assert info.size == len(big)
    assert await _read(blobs, "pics/big.bin") == big
    await blobs.write("pics/big.bin", _chunks(b"replaced"))
    assert await _read(blobs, "pics/big.bin") == b"replaced"
    await blobs.delete("pics/big.bin")
    with pytest.raises(errors.NotFound):
        await _read(blobs, "pics/big.bin")
    await blobs.delete("pics/big.bin")  # missing: not an error


async def test_namespaces_are_apart(blobs: BlobStore) -> None:
    await blobs.write("k", _chunks(b"micro's"))
    await blobs.write("k", _chunks(b"other's"), namespace="other")
    assert await _read(blobs, "k") == b"micro's"
    assert await _read(blobs, "k", "other") == b"other's"


async def test_over_the_limit_stores_nothing(tmp_path: Path) -> None:
    blobs = DiskBlobStore(tmp_path / "blobs", limit=10)
    with pytest.raises(errors.TooLarge):
        await blobs.write("k", _chunks(b"123456", b"789012"))
    with pytest.raises(errors.NotFound):
        await _read(blobs, "k")
    await blobs.close()


async def test_the_public_api_does_not_reach_uploaded_sources(server: Any) -> None:
    runtime = server.backends.runtime
    upload = await runtime.upload("svc", _chunks(b"source archive"))
    assert await _read(runtime.blobs, f"sources/{upload}") == b"source archive"
    public = GrpcBlobStore(server.bound_address)
    try:
        with pytest.raises(errors.NotFound):
            await _read(public, f"sources/{upload}")
        await public.write(f"sources/{upload}", _chunks(b"swapped"))
        await public.delete(f"sources/{upload}")
    finally:
        await public.close()
    assert await _read(runtime.blobs, f"sources/{upload}") == b"source archive"


async def test_a_read_cancelled_while_opening_closes_the_file(tmp_path: Path) -> None:
    # the open runs in a thread that finishes after its caller left (a kill during a build):
    # the file it opened is closed then, not left to the garbage collector
    import asyncio
    import threading

    from tests._poll import eventually

    store = DiskBlobStore(tmp_path / "blobs")
    await store.write("src.tar.gz", _chunks(b"archive"))
    cache = store._open()
    release = threading.Event()
    entered = threading.Event()
    opened: list[Any] = []
    real_get = cache.get

    def slow_get(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(10)
        opened.append(real_get(*args, **kwargs))
        return opened[-1]

    cache.get = slow_get
    reader = asyncio.ensure_future(_read(store, "src.tar.gz"))
    await eventually(entered.is_set, "the read is opening the blob")
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    release.set()
    await eventually(
        lambda: bool(opened) and opened[0].closed, "the file opened for the cancelled read is closed"
    )
    await store.close()
