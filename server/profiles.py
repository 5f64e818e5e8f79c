"""Profiles pick the backend of every core service at once (``MICRO_PROFILE``).

``local`` (default): SQLite store, memory registry — state under ``MICRO_HOME/server``.
``test``: everything in memory, in-process. Individual overrides: ``MICRO_STORE=memory|sqlite``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from micro import errors
from micro.registry import Registry
from micro.store import Store

PROFILES = ("local", "test")


@dataclass
class Backends:
    """What the core services run on; ``data_dir`` holds the server's files (keys…)."""

    data_dir: Path
    store: Store
    registry: Registry

    async def close(self) -> None:
        await self.store.close()
        await self.registry.close()


def _store(kind: str, data_dir: Path) -> Store:
    if kind == "memory":
        from micro.store.memory import MemoryStore

        return MemoryStore()
    if kind == "sqlite":
        from server.store.sqlite import SqliteStore

        return SqliteStore(data_dir / "store.db")
    raise errors.BadRequest(f"unknown store backend {kind!r} (memory, sqlite)")


def build(profile: str, data_dir: Path) -> Backends:
    if profile not in PROFILES:
        raise errors.BadRequest(f"unknown profile {profile!r} (one of {', '.join(PROFILES)})")
    default_store = "memory" if profile == "test" else "sqlite"
    from micro.registry.memory import MemoryRegistry

    return Backends(
        data_dir=data_dir,
        store=_store(os.environ.get("MICRO_STORE", default_store), data_dir),
        registry=MemoryRegistry(),
    )
