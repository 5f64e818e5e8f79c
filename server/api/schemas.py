"""The registered schemas the gateway encodes and decodes with, kept until the registry says
they changed.

A service's schemas are kept per registry domain for as long as a watch of that domain is
open: any change the registry publishes for a service (a version registered or gone, a
node added or lapsed) drops what is kept for it, and the next request reads it again. The
compiled part of a schema — its descriptor pool and message classes, the expensive part —
is kept per service version and reused while the version registers the same descriptors,
so a node coming or going costs a registry read, not a recompilation. A watch that ends
(the registry closed it, or it fell behind) drops everything kept for its domain.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from micro import errors
from micro.auth import DEFAULT_NAMESPACE
from micro.client.dynamic import Schema
from micro.registry import Registry, Service
from server.debug import CORE_PACKAGES

__all__ = ["AUTH_OVER_HTTP", "SchemaCache", "callable_in", "domain_of", "exposed", "read"]

log = logging.getLogger("micro.api")

#: what the auth service answers over HTTP: logging in and checking a token; accounts,
#: rules and namespaces are managed over gRPC only (a browser's cookie cannot reach them)
AUTH_OVER_HTTP = frozenset({"Auth.Token", "Auth.Inspect"})

#: domains watched at once; past it the least recently watched is closed (its entries go)
MAX_DOMAINS = 256
#: services kept per domain
MAX_SERVICES = 1024


class _Exposed(Schema):
    """The auth service's schema with only :data:`AUTH_OVER_HTTP` endpoints."""

    @property
    def endpoints(self) -> list[Any]:
        return [e for e in super().endpoints if e.name in AUTH_OVER_HTTP]


def exposed(schema: Schema) -> Schema:
    """``schema`` as HTTP callers see it (the auth service's Token and Inspect only)."""
    if schema.name != "auth":
        return schema
    shown = _Exposed(schema.service)
    shown._pool = schema._pool  # the compiled descriptors are the same
    return shown


def domain_of(namespace: str, service: str) -> str:
    """Where ``service`` is registered for a caller in ``namespace``: core services serve
    every namespace and are registered in micro's."""
    return DEFAULT_NAMESPACE if service in CORE_PACKAGES else namespace


Read = Callable[[str, str], Awaitable[list[Schema]]]


async def read(registry: Registry, domain: str, name: str) -> list[Schema]:
    """Every registered version of ``name`` in ``domain``, read now.

    Raises:
        NotFound: ``Service "<name>" not found``.
    """
    try:
        versions = await registry.get_service(name, domain=domain)
    except errors.NotFound:
        versions = []
    if not versions:
        raise errors.NotFound(f'Service "{name}" not found')
    return [Schema(version) for version in versions]


async def callable_in(
    registry: Registry, namespace: str, schemas: Read | None = None, *, only: str | None = None
) -> list[Schema]:
    """The first version of every service ``namespace`` can call over HTTP (core services
    from micro's registrations, the rest from the namespace's), as HTTP callers see them;
    ``only``: that service alone. ``schemas`` reads a service's versions (default: now).

    Raises:
        NotFound: ``only`` is not registered.
    """
    if schemas is None:
        schemas = functools.partial(read, registry)
    if only is not None:
        return [exposed((await schemas(domain_of(namespace, only), only))[0])]
    found: list[Schema] = []
    for domain in dict.fromkeys((DEFAULT_NAMESPACE, namespace)):
        names = dict.fromkeys(e.name for e in await registry.list_services(domain=domain))
        for name in names:
            if domain != domain_of(namespace, name):
                continue
            try:
                versions = await schemas(domain, name)
            except errors.NotFound:
                continue  # gone since the listing
            found.append(exposed(versions[0]))
    return found


class _Domain:
    """What is kept for one registry domain, and the watch that keeps it current."""

    def __init__(self) -> None:
        self.services: dict[str, list[Schema]] = {}
        self.versions: dict[tuple[str, str], Schema] = {}  # (service, version) → compiled
        self.task: asyncio.Task[None] | None = None


class SchemaCache:
    """Schemas of services by registry domain, invalidated by the registry's watch.

    Args:
        registry: where schemas are read and changes watched.
        changed: called with a domain when one of its services changed (the gateway drops
            its OpenAPI documents).
    """

    def __init__(self, registry: Registry, *, changed: Callable[[str], None] | None = None) -> None:
        self.registry = registry
        self.changed = changed
        self._domains: dict[str, _Domain] = {}
        self.reads = 0  # registry reads made (tests count them)

    async def service(self, domain: str, name: str) -> list[Schema]:
        """Every registered version of ``name`` in ``domain``.

        Raises:
            NotFound: ``Service "<name>" not found``.
        """
        kept = self._domains.get(domain)
        if kept is not None:
            found = kept.services.get(name)
            if found is not None:
                return found
        kept = await self._watched(domain)
        self.reads += 1
        try:
            versions = await self.registry.get_service(name, domain=domain)
        except errors.NotFound:
            versions = []
        if not versions:
            raise errors.NotFound(f'Service "{name}" not found')
        schemas = [self._compiled(kept, version) for version in versions]
        if kept is self._domains.get(domain):  # still watched: keep it
            if len(kept.services) >= MAX_SERVICES:
                kept.services.clear()
            kept.services[name] = schemas
            current = {(name, v.version) for v in versions}
            for key in [k for k in kept.versions if k[0] == name and k not in current]:
                del kept.versions[key]
            for schema in schemas:
                kept.versions[(name, schema.version)] = schema
        return schemas

    async def namespace(self, namespace: str) -> list[Schema]:
        """What ``namespace`` can call here (see :func:`callable_in`), from what is kept."""
        return await callable_in(self.registry, namespace, self.service)

    def watching(self, domain: str) -> bool:
        """Whether changes in ``domain`` are followed (what is derived from it may be kept)."""
        kept = self._domains.get(domain)
        return kept is not None and kept.task is not None and not kept.task.done()

    @staticmethod
    def _compiled(kept: _Domain, version: Service) -> Schema:
        """``version``'s schema, the one compiled before when it registers the same protos."""
        held = kept.versions.get((version.name, version.version))
        if (
            held is not None
            and held.service.descriptor_set == version.descriptor_set
            and held.service.endpoints == version.endpoints
        ):
            return held
        return Schema(version)

    async def _watched(self, domain: str) -> _Domain:
        """The entry of ``domain``, its watch opened first (so no change made after the read
        that follows can be missed)."""
        kept = self._domains.get(domain)
        if kept is not None and kept.task is not None and not kept.task.done():
            return kept
        kept = _Domain()
        try:
            watcher = self.registry.watch(domain=domain)
            ready = getattr(watcher, "ready", None)
            if ready is not None:
                await ready()
        except errors.MicroError as exc:
            # nothing is kept without a watch: every request reads the registry
            log.warning("no registry watch of %r: schemas are read on every request (%s)", domain, exc)
            return kept
        if len(self._domains) >= MAX_DOMAINS:
            oldest = next(iter(self._domains))
            self._drop(oldest)
        kept.task = asyncio.create_task(self._follow(domain, kept, watcher), name=f"api-schemas-{domain}")
        self._domains[domain] = kept
        return kept

    async def _follow(self, domain: str, kept: _Domain, watcher: Any) -> None:
        try:
            async for result in watcher:
                kept.services.pop(result.service.name, None)
                if result.action == "delete":
                    kept.versions.pop((result.service.name, result.service.version), None)
                if self.changed is not None:
                    self.changed(domain)
        except errors.MicroError as exc:
            log.info("registry watch of %r ended (%s): its schemas are read again", domain, exc)
        finally:
            if self._domains.get(domain) is kept:
                del self._domains[domain]
            if self.changed is not None:
                self.changed(domain)
            aclose = getattr(watcher, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    def _drop(self, domain: str) -> None:
        kept = self._domains.pop(domain, None)
        if kept is not None and kept.task is not None:
            kept.task.cancel()

    async def close(self) -> None:
        """Close every watch."""
        tasks = [kept.task for kept in self._domains.values() if kept.task is not None]
        self._domains.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
