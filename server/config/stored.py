"""The config service's backend: documents kept in the store, secrets sealed with AES-256-GCM.

Layout: one record per namespace, key ``document`` in table ``_config`` of the namespace's
database, holding the whole document as JSON. Tables starting with ``_`` are internal: the
store service neither lists nor serves them, so store snapshots never carry the document
(0.1.0 kept it in table ``config``; the store's schema migration moved it).

Every change is a read-modify-write guarded by the record's version
(``Store.write(version=...)``) and retried on a conflict, so concurrent
Sets on different paths never lose each other's writes, even between two servers
sharing one store; within this process a lock per namespace keeps them from colliding at all.
A document is one record, so it is bounded by the store's value limit (1 MiB): a change
that would grow it past that is refused (413); one that shrinks it is always allowed.

Secret leaves are stored as ``{"$secret": "<base64 nonce + ciphertext>"}`` (AES-256-GCM,
the namespace as associated data) with a key generated at first start in the server's data
folder (``config.key``, 0600). Merges treat them as opaque leaves; reads show
``"[secret]"`` unless asked to decrypt. Watch is fed in-process: it sees the changes made
through this server.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import os
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from micro import errors
from micro._paths import write_private
from micro.config import DEFAULT_NAMESPACE, Change, Config
from micro.config import _document as doc
from micro.config._feed import ChangeFeed
from micro.store import MAX_VALUE_BYTES, Record, Store

__all__ = ["KEY_FILE", "TABLE", "StoreConfig", "load_key"]

log = logging.getLogger(__name__)

TABLE = "_config"  # internal: hidden from the store API (server/store/handler.py)
DOCUMENT_KEY = "document"
KEY_FILE = "config.key"
MAX_ATTEMPTS = 50
_NONCE_BYTES = 12


def load_key(data_dir: Path) -> bytes:
    """The secret key in ``data_dir``, generated (0600) on first use."""
    path = data_dir / KEY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        key = AESGCM.generate_key(bit_length=256)
        write_private(path, base64.b64encode(key) + b"\n")
        log.info("generated the config secret key in %s", path)
        return key
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except ValueError as exc:
        raise errors.InternalServerError(f"config key {path} is corrupt") from exc
    if len(key) != 32:
        raise errors.InternalServerError(f"config key {path} is not a 256-bit key")
    return key


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _changed(
    old: dict[str, Any], change: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[dict[str, Any], bytes]:
    """The document ``change`` makes of ``old``, and its JSON (empty when it is unchanged)."""
    new = change(old)
    return new, b"" if new is old else _dump(new)


# documents up to this size are parsed and masked on the loop (a thread hop costs more)
_INLINE_BYTES = 64 * 1024
_T = TypeVar("_T")


async def _work(size: int, work: Callable[[], _T]) -> _T:
    """``work()`` on the loop for a small document, in a worker thread for a large one."""
    if size < _INLINE_BYTES:
        return work()
    return await asyncio.to_thread(work)


class StoreConfig(Config):
    def __init__(self, store: Store, *, key: bytes) -> None:
        self._store = store
        self._aead = AESGCM(key)
        self._feed = ChangeFeed()
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # lock, users

    # -- documents ------------------------------------------------------------------

    async def _load(self, namespace: str) -> tuple[dict[str, Any], int, int]:
        """The document of ``namespace``, its record version (0 when there is none) and its
        size in bytes."""
        try:
            records = await self._store.read(DOCUMENT_KEY, database=namespace, table=TABLE)
        except errors.NotFound:
            return {}, 0, 0
        record = records[0]
        try:
            document = await _work(len(record.value), lambda: json.loads(record.value))
        except ValueError as exc:
            raise errors.InternalServerError(f"config document of {namespace!r} is corrupt") from exc
        if not isinstance(document, dict):
            raise errors.InternalServerError(f"config document of {namespace!r} is corrupt")
        return document, record.version, len(record.value)

    async def _update(
        self, namespace: str, path: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        """Apply ``change`` to the document with optimistic concurrency, then publish it."""
        entry = self._locks.get(namespace)
        if entry is None:
            entry = self._locks[namespace] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                await self._apply(namespace, path, change)
        finally:
            # a lock per namespace being changed, not per namespace ever named
            users[0] -= 1
            if not users[0]:
                del self._locks[namespace]

    async def _apply(
        self, namespace: str, path: str, change: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        for attempt in range(MAX_ATTEMPTS):
            old, version, size = await self._load(namespace)
            # in a worker thread: merging into a document of up to 1 MiB and writing it out
            # takes tens of milliseconds, which the loop owes to every other caller
            new, data = await asyncio.to_thread(_changed, old, change)
            if new is old:
                return
            if len(data) > MAX_VALUE_BYTES and len(data) > size:
                raise errors.TooLarge(
                    f"config too large: the document of {namespace} would be {len(data)} bytes"
                    f" (limit {MAX_VALUE_BYTES}); large values belong in the blob store"
                )
            try:
                await self._store.write(
                    Record(key=DOCUMENT_KEY, value=data), database=namespace, table=TABLE, version=version
                )
            except errors.Conflict:
                # another server changed the document: back off a little and merge again
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
                continue
            watchers = self._feed.watchers(namespace)
            if watchers:
                changes = await _work(
                    len(data), functools.partial(self._feed.changes, watchers, path, old, new)
                )
                self._feed.deliver(changes)
            return
        raise errors.Conflict("config changed concurrently too often; try again")

    # -- secrets --------------------------------------------------------------------

    def _seal(self, namespace: str) -> Callable[[Any], str]:
        def seal(leaf: Any) -> str:
            nonce = os.urandom(_NONCE_BYTES)
            plain = json.dumps(leaf, ensure_ascii=False).encode()
            return base64.b64encode(nonce + self._aead.encrypt(nonce, plain, namespace.encode())).decode()

        return seal

    def _unseal(self, namespace: str) -> Callable[[Any], Any]:
        def unseal(payload: Any) -> Any:
            try:
                raw = base64.b64decode(str(payload), validate=True)
                plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], namespace.encode())
                return json.loads(plain)
            except (ValueError, InvalidTag) as exc:
                raise errors.InternalServerError("cannot decrypt a config secret (wrong key?)") from exc

        return unseal

    # -- Config ---------------------------------------------------------------------

    async def get(self, path: str = "", *, namespace: str = "", secret: bool = False) -> Any:
        ns = namespace or DEFAULT_NAMESPACE
        keys = doc.split(path, allow_root=True)
        document, _, size = await self._load(ns)
        node = doc.lookup(document, keys)
        unseal = self._unseal(ns)
        return await _work(size, lambda: doc.reveal(node, unseal) if secret else doc.mask(node))

    async def set(self, path: str, value: Any, *, namespace: str = "", secret: bool = False) -> None:
        ns = namespace or DEFAULT_NAMESPACE
        keys = doc.split(path)
        seal = self._seal(ns)

        def prepare() -> Any:
            doc.check_value(value, depth=len(keys))
            return doc.seal(value, seal) if secret else value

        stored = await asyncio.to_thread(prepare)  # a value may be up to 1 MiB of JSON
        await self._update(ns, path, lambda old: doc.set_at(old, keys, stored))

    async def delete(self, path: str, *, namespace: str = "") -> None:
        ns = namespace or DEFAULT_NAMESPACE
        keys = doc.split(path)
        await self._update(ns, path, lambda old: doc.delete(old, keys))

    def watch(self, path: str = "", *, namespace: str = "") -> AsyncIterator[Change]:
        return self._feed.subscribe(namespace or DEFAULT_NAMESPACE, path)
