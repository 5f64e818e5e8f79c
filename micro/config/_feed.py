"""An in-process change feed: fans config changes out to watchers through asyncio queues.

A watcher of path W sees a change at path P when P is W or below it (as published), and
when P is above W and the value at W actually changed (re-expressed as a change at W: a set
of ``{"db": {...}}`` is seen by a watcher of ``db.host`` as a change of ``db.host``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from micro import errors
from micro.config import Change
from micro.config import _document as doc

__all__ = ["ChangeFeed"]

log = logging.getLogger(__name__)

# a watcher that falls this far behind is dropped (it gets Unavailable and may watch again)
MAX_PENDING = 1000

_OVERFLOW = object()


class _Watcher:
    __slots__ = ("keys", "queue")

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, change: Change) -> None:
        if self.queue.qsize() >= MAX_PENDING:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(_OVERFLOW)
            return
        self.queue.put_nowait(change)


class ChangeFeed:
    """Watchers per namespace; backends call :meth:`publish` after each change."""

    def __init__(self) -> None:
        self._watchers: dict[str, set[_Watcher]] = {}

    def subscribe(self, namespace: str, path: str) -> AsyncIterator[Change]:
        """Changes for ``path`` in ``namespace``; subscribed before this returns."""
        watcher = _Watcher(doc.split(path, allow_root=True))
        self._watchers.setdefault(namespace, set()).add(watcher)
        return self._drain(namespace, watcher)

    async def _drain(self, namespace: str, watcher: _Watcher) -> AsyncIterator[Change]:
        try:
            while True:
                item = await watcher.queue.get()
                if item is _OVERFLOW:
                    raise errors.Unavailable("config watch fell behind; watch again")
                yield item
        finally:
            watchers = self._watchers.get(namespace)
            if watchers is not None:
                watchers.discard(watcher)
                if not watchers:
                    del self._watchers[namespace]

    def publish(self, namespace: str, path: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Tell watchers of ``namespace`` that ``path`` changed from document ``old`` to ``new``."""
        self.deliver(self.changes(self.watchers(namespace), path, old, new))

    def watchers(self, namespace: str) -> list[_Watcher]:
        """The watchers of ``namespace`` now (a copy, for :meth:`changes`)."""
        return list(self._watchers.get(namespace, ()))

    @staticmethod
    def changes(
        watchers: list[_Watcher], path: str, old: dict[str, Any], new: dict[str, Any]
    ) -> list[tuple[_Watcher, Change]]:
        """What each of ``watchers`` is told of ``path`` changing; pure, so a backend with
        large documents can work it out in a worker thread. Watchers of the same path share
        one change (masking a large value once, not once per watcher)."""
        if not watchers:
            return []
        keys = doc.split(path, allow_root=True)
        now = datetime.now(UTC)
        seen: dict[tuple[str, ...], Change | None] = {}
        found: list[tuple[_Watcher, Change]] = []
        for watcher in watchers:
            watched = tuple(watcher.keys)
            if watched not in seen:
                seen[watched] = _change_for(watcher.keys, keys, old, new, now)
            change = seen[watched]
            if change is not None:
                found.append((watcher, change))
        return found

    @staticmethod
    def deliver(changes: list[tuple[_Watcher, Change]]) -> None:
        """Queue what :meth:`changes` found (on the event loop)."""
        for watcher, change in changes:
            watcher.put(change)


def _change_for(
    watched: list[str], changed: list[str], old: dict[str, Any], new: dict[str, Any], now: datetime
) -> Change | None:
    if changed[: len(watched)] == watched:
        target = changed
    elif watched[: len(changed)] == changed:
        target = watched
        if _node(old, target) == _node(new, target):
            return None
    else:
        return None
    node = _node(new, target)
    path = ".".join(target)
    if node is _GONE:
        return Change(path=path, value=None, deleted=True, timestamp=now)
    return Change(path=path, value=doc.mask(node), deleted=False, timestamp=now)


_GONE = object()


def _node(document: dict[str, Any], keys: list[str]) -> Any:
    try:
        return doc.lookup(document, keys)
    except errors.NotFound:
        return _GONE
