"""Profiles pick the backend of every core service at once (``MICRO_PROFILE``).

``local`` (default): SQLite store and events log, memory registry — state under
``MICRO_HOME/server``. ``test``: everything in memory, in-process. Individual overrides:
``MICRO_STORE=memory|sqlite``, ``MICRO_EVENTS=memory|sqlite``.

Both are tables: :data:`PROFILES` says which backend each concern uses per profile, and
:data:`BACKENDS` how to build each; a new backend (PostgreSQL, NATS, etcd for ``platform``)
or concern (events, broker) is a row in each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from micro import errors, settings
from micro.broker import Broker
from micro.events import Stream
from micro.registry import Registry
from micro.store import Store

if TYPE_CHECKING:
    from server.upstream import Upstream

__all__ = ["BACKENDS", "PROFILES", "Backends", "build"]


def _memory_store(data_dir: Path) -> Store:
    from micro.store.memory import MemoryStore

    return MemoryStore()


def _sqlite_store(data_dir: Path) -> Store:
    from server.store.sqlite import SqliteStore

    return SqliteStore(data_dir / "store.db")


def _memory_registry(data_dir: Path) -> Registry:
    from micro.registry.memory import MemoryRegistry

    return MemoryRegistry()


def _memory_broker(data_dir: Path) -> Broker:
    from micro.broker.memory import MemoryBroker

    return MemoryBroker()


def _memory_events(data_dir: Path) -> Stream:
    from micro.events.memory import MemoryStream

    return MemoryStream()


def _sqlite_events(data_dir: Path) -> Stream:
    from server.events.sqlite import SqliteStream

    return SqliteStream(data_dir / "events.db")


def _local_runtime(data_dir: Path) -> Any:
    from server.runtime.local import LocalRuntime

    return LocalRuntime(data_dir.parent)  # builds, venvs and logs beside the server's data


def _disk_blobs(data_dir: Path) -> Any:
    from server.store.blob import DiskBlobStore

    return DiskBlobStore(data_dir / "blobs", area="public")


# concern → backend name → factory(data_dir)
BACKENDS: dict[str, dict[str, Callable[[Path], Any]]] = {
    "store": {"memory": _memory_store, "sqlite": _sqlite_store},
    "registry": {"memory": _memory_registry},
    "broker": {"memory": _memory_broker},
    "events": {"memory": _memory_events, "sqlite": _sqlite_events},
    "runtime": {"local": _local_runtime},
    "blobs": {"disk": _disk_blobs},
}

# profile → concern → backend name
PROFILES: dict[str, dict[str, str]] = {
    "local": {
        "store": "sqlite",
        "registry": "memory",
        "broker": "memory",
        "events": "sqlite",
        "runtime": "local",
        "blobs": "disk",
    },
    "test": {
        "store": "memory",
        "registry": "memory",
        "broker": "memory",
        "events": "memory",
        "runtime": "local",
        "blobs": "disk",
    },
}


@dataclass
class Backends:
    """What the core services run on; ``data_dir`` holds the server's files (keys…)."""

    data_dir: Path
    store: Store
    registry: Registry
    broker: Broker
    events: Stream
    runtime: Any  # server.runtime.LocalRuntime (imported when a server starts)
    blobs: Any  # server.store.blob.DiskBlobStore: the public area of the blob store
    # the server a core service run alone joined (None: this process is the server); what
    # the service needs of a core service it does not own and no backend stands for (the
    # auth service the runtime makes accounts with) it reaches through these clients
    upstream: Upstream | None = None

    async def drop_namespace(self, namespace: str) -> None:
        """Drop what the backends keep for a deleted ``namespace`` (the broker's
        subscriptions, the events' topics and groups, the runtime's services, sources and
        logs, the blobs; the store's database is dropped by auth itself)."""
        await self.broker.drop_namespace(namespace)
        await self.events.drop_namespace(namespace)
        await self.runtime.drop_namespace(namespace)
        await self.blobs.drop_namespace(namespace)

    async def close(self) -> None:
        await self.runtime.close()  # first: its services stop while the store still answers
        await self.events.close()
        await self.broker.close()
        await self.blobs.close()
        await self.store.close()
        await self.registry.close()


def _backend(concern: str, kind: str, data_dir: Path) -> Any:
    choices = BACKENDS[concern]
    factory = choices.get(kind)
    if factory is None:
        raise errors.BadRequest(f"unknown {concern} backend {kind!r} ({', '.join(choices)})")
    return factory(data_dir)


def build(
    profile: str,
    data_dir: Path,
    *,
    given: Mapping[str, Any] | None = None,
    upstream: Upstream | None = None,
) -> Backends:
    """The backends of ``profile``; concerns in ``given`` use the backend given instead
    (a core service run alone reaches what it does not own through the clients of the
    server it joined, ``upstream``)."""
    chosen = PROFILES.get(profile)
    if chosen is None:
        raise errors.BadRequest(f"unknown profile {profile!r} (one of {', '.join(PROFILES)})")
    given = given or {}
    told = settings.server()
    overrides = {"store": told.store, "events": told.events}  # a backend that replaces the profile's
    kinds = {c: overrides.get(c) or kind for c, kind in chosen.items() if c not in given}
    built = {c: _backend(c, kind, data_dir) for c, kind in kinds.items()}
    return Backends(data_dir=data_dir, **built, **given, upstream=upstream)
