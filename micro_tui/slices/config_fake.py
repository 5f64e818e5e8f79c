"""The fake config slice (tests and snapshots): one in-memory document per namespace, with
the server's merge, secret masking and watch."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

from micro_tui.fake import FakeSession
from micro_tui.slices.config import SECRET, ConfigChange, at

__all__ = ["FakeConfig", "sample_document"]


def sample_document() -> dict[str, Any]:
    """The fixture document of the ``micro`` namespace (snapshots show it)."""
    return {
        "db": {"host": "db.internal", "port": 5432, "pool": {"min": 2, "max": 16}},
        "features": {"beta": True, "regions": ["eu-west", "us-east"]},
        "greeting": "Hello [b]world[/b]",
        "payments": {"endpoint": "https://pay.example.com", "timeout": 2.5},
    }


def _merge(target: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and isinstance(target.get(key), dict):
        for k, v in value.items():
            _merge(target[key], k, v)
    else:
        target[key] = copy.deepcopy(value)


def _masked(value: Any, secrets: set[str], path: str) -> Any:
    if path in secrets:
        return SECRET
    if isinstance(value, dict):
        return {k: _masked(v, secrets, f"{path}.{k}" if path else k) for k, v in value.items()}
    return value


def _leaves(value: Any, path: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in _leaves(v, f"{path}.{k}")]
    return [path]


class FakeConfig:
    """Admin-only like the server (401 without a login). ``payments.api_key`` is a secret."""

    def __init__(self, session: FakeSession) -> None:
        self._session = session
        self.documents: dict[str, dict[str, Any]] = {"micro": sample_document()}
        self.documents["micro"]["payments"]["api_key"] = "sk-live-1234"
        self.secrets: dict[str, set[str]] = {"micro": {"payments.api_key"}}
        self._watchers: list[tuple[str, asyncio.Queue[ConfigChange]]] = []

    def _check(self) -> tuple[dict[str, Any], set[str]]:
        from micro import errors

        session = self._session
        session.check()
        if session.login_required:
            raise errors.Unauthorized("an account is required")
        ns = session.namespace
        return self.documents.setdefault(ns, {}), self.secrets.setdefault(ns, set())

    async def document(self) -> dict[str, Any]:
        doc, secrets = self._check()
        return dict(_masked(doc, secrets, ""))

    async def get(self, path: str, *, secret: bool = False) -> Any:
        from micro import errors

        doc, secrets = self._check()
        node: Any = doc
        for key in path.split(".") if path else ():
            if not isinstance(node, dict) or key not in node:
                raise errors.NotFound("not found")
            node = node[key]
        return copy.deepcopy(node) if secret else _masked(node, secrets, path)

    async def set(self, path: str, value: Any, *, secret: bool = False) -> None:
        doc, secrets = self._check()
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        if not isinstance(value, dict):  # a replaced subtree loses its secrets
            secrets -= {s for s in secrets if s == path or s.startswith(path + ".")}
        _merge(node, last, value)
        if secret:
            secrets.update(_leaves(value, path))
        self._emit(ConfigChange(path, _masked(at(doc, path), secrets, path)))

    async def delete(self, path: str) -> None:
        doc, secrets = self._check()
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            del node[last]
            secrets -= {s for s in secrets if s == path or s.startswith(path + ".")}
            self._emit(ConfigChange(path, None, deleted=True))

    def _emit(self, change: ConfigChange) -> None:
        for namespace, queue in self._watchers:
            if namespace == self._session.namespace:
                queue.put_nowait(change)

    async def watch(self) -> AsyncIterator[ConfigChange]:
        self._check()
        entry: tuple[str, asyncio.Queue[ConfigChange]] = (self._session.namespace, asyncio.Queue())
        self._watchers.append(entry)
        try:
            while True:
                yield await entry[1].get()
        finally:
            self._watchers.remove(entry)
