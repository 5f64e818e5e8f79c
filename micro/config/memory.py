"""An in-process config: documents per namespace in a dict, for tests and the test profile.

Secrets are marked in the document (``{"$secret": value}``) and kept in the clear: nothing
here is at rest. The server's :class:`~server.config.stored.StoreConfig` encrypts them.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

from micro.config import DEFAULT_NAMESPACE, Change, Config
from micro.config import _document as doc
from micro.config._feed import ChangeFeed

__all__ = ["MemoryConfig"]


class MemoryConfig(Config):
    def __init__(self) -> None:
        self._documents: dict[str, dict[str, Any]] = {}
        self._feed = ChangeFeed()

    async def get(self, path: str = "", *, namespace: str = "", secret: bool = False) -> Any:
        keys = doc.split(path, allow_root=True)
        node = doc.lookup(self._documents.get(namespace or DEFAULT_NAMESPACE, {}), keys)
        shown = doc.reveal(node, lambda payload: payload) if secret else doc.mask(node)
        return copy.deepcopy(shown)

    async def set(self, path: str, value: Any, *, namespace: str = "", secret: bool = False) -> None:
        keys = doc.split(path)
        doc.check_value(value, depth=len(keys))
        value = copy.deepcopy(value)
        if secret:
            value = doc.seal(value, lambda leaf: leaf)
        ns = namespace or DEFAULT_NAMESPACE
        old = self._documents.get(ns, {})
        new = doc.set_at(old, keys, value)
        self._documents[ns] = new
        self._feed.publish(ns, path, old, new)

    async def delete(self, path: str, *, namespace: str = "") -> None:
        keys = doc.split(path)
        ns = namespace or DEFAULT_NAMESPACE
        old = self._documents.get(ns, {})
        new = doc.delete(old, keys)
        if new is old:
            return
        self._documents[ns] = new
        self._feed.publish(ns, path, old, new)

    def watch(self, path: str = "", *, namespace: str = "") -> AsyncIterator[Change]:
        return self._feed.subscribe(namespace or DEFAULT_NAMESPACE, path)
