"""The core services as uniform units, and the table the server composes them from.

A :class:`CoreService` is what one core service brings to a gRPC server: its servicers, their
descriptors (registered in the registry with their schemas), the permission of each method
(the call boundary applies them; see :mod:`server.auth.context`), and optionally a start
hook and the :class:`~micro.auth.Auth` it serves (the boundary reads keys, rules and
revocation records through it). :data:`CORE_SERVICES` lists them with the backends each
runs on, so adding a service (runtime, events, broker, network) is a row, not wiring.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

if TYPE_CHECKING:
    from micro.auth import Auth
    from server.auth.context import Permission
    from server.profiles import Backends
    from server.proxy import Forwarder

__all__ = ["ALWAYS_SERVED", "CORE_SERVICES", "CoreService", "CoreSpec", "build", "spec"]


@dataclass
class CoreService:
    """One core service: its name, the servicers it adds, their proto descriptors and the
    permission of each method (who may call it; see :mod:`server.auth.context`)."""

    name: str
    add: list[Callable[[grpc.aio.Server], None]]
    descriptors: list[Any] = field(default_factory=list)  # ServiceDescriptor
    permissions: Mapping[str, Permission] = field(default_factory=dict)
    start: Callable[[], Awaitable[None]] | None = None  # before the server serves
    auth: Auth | None = None  # the auth service's backend, for the call boundary
    # given the server's proxy once it exists (the network view reaches nodes through it)
    proxy: Callable[[Forwarder], None] | None = None


@dataclass(frozen=True, slots=True)
class CoreSpec:
    """A row of the table: a core service, how to build it, and the backends it uses."""

    name: str
    build: Callable[[Backends], CoreService]
    backends: tuple[str, ...]


def _registry(backends: Backends) -> CoreService:
    from server.registry import core

    return core(backends)


def _store(backends: Backends) -> CoreService:
    from server.store import core

    return core(backends)


def _config(backends: Backends) -> CoreService:
    from server.config import core

    return core(backends)


def _broker(backends: Backends) -> CoreService:
    from server.broker import core

    return core(backends)


def _events(backends: Backends) -> CoreService:
    from server.events import core

    return core(backends)


def _runtime(backends: Backends) -> CoreService:
    from server.runtime import core

    return core(backends)


def _network(backends: Backends) -> CoreService:
    from server.network import core

    return core(backends)


def _auth(backends: Backends) -> CoreService:
    from server import auth

    return auth.core(auth.build(backends))


CORE_SERVICES: tuple[CoreSpec, ...] = (
    CoreSpec("registry", _registry, ("registry",)),
    CoreSpec("store", _store, ("store", "blobs")),
    CoreSpec("config", _config, ("store",)),
    CoreSpec("events", _events, ("events",)),
    CoreSpec("auth", _auth, ("store", "registry", "events")),
    CoreSpec("broker", _broker, ("broker",)),
    # alone, its records stay in its own store (the processes are this machine's); the
    # registry and the accounts are the joined server's
    CoreSpec("runtime", _runtime, ("runtime", "store")),
    CoreSpec("network", _network, ()),  # owns no backend: reads the registry
)


#: what a ``micro server`` always serves itself, even asked to leave it out (``--without``):
#: its proxy resolves nodes in the registry and mints call tokens with the auth's key
ALWAYS_SERVED = frozenset({"registry", "auth"})


def build(backends: Backends, names: tuple[str, ...] | None = None) -> list[CoreService]:
    """The core services of a server (``names``: only those; None: all), wired to
    ``backends``."""
    return [spec.build(backends) for spec in CORE_SERVICES if names is None or spec.name in names]


def spec(name: str) -> CoreSpec:
    """The row of core service ``name``.

    Raises:
        NotFound: no core service has that name.
    """
    for row in CORE_SERVICES:
        if row.name == name:
            return row
    from micro import errors

    names = ", ".join(row.name for row in CORE_SERVICES)
    raise errors.NotFound(f"no core service {name!r} (one of {names})")
