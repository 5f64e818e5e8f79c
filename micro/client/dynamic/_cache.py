"""Schemas of services, cached per service version in ``MICRO_HOME/cache`` between
processes and in memory for the process, else fetched from the registry."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from micro import errors
from micro.client.dynamic._schema import Method, Schema, check_method_name, find_endpoint, service_not_found
from micro.registry import Service

__all__ = ["CACHE_SECONDS", "Schemas"]

log = logging.getLogger(__name__)

# how long a cached schema is trusted before the registry is asked again (seconds)
CACHE_SECONDS = 600.0


class Schemas:
    """Service schemas from ``MICRO_HOME/cache``, else the registry at ``address``.

    Args:
        address: the micro server (its registry).
        namespace: the caller's namespace (the registry's domain).
        token: an access token for the registry.
        cache: keep schemas in ``MICRO_HOME/cache`` between processes.
    """

    def __init__(
        self, address: str, *, namespace: str = "", token: str | None = None, cache: bool = True
    ) -> None:
        self.address = address
        self.namespace = namespace
        self.token = token
        self._use_cache = cache
        self._memory: dict[tuple[str, str], tuple[list[Schema], bool]] = {}
        self._registry: Any = None

    def _cache(self) -> Any:
        from diskcache import Cache  # type: ignore[import-untyped]

        from micro import _paths

        return Cache(str(_paths.cache_dir() / "schemas"))

    def _index_key(self, service: str, domain: str) -> str:
        where = hashlib.sha256(self.address.encode()).hexdigest()[:12]
        return f"{where}/{domain or self.namespace or 'micro'}/{service}"

    def _registry_client(self) -> Any:
        if self._registry is None:
            from micro.registry.grpc import GrpcRegistry

            self._registry = GrpcRegistry(self.address, namespace=self.namespace, token=self.token)
        return self._registry

    async def close(self) -> None:
        if self._registry is not None:
            await self._registry.close()
            self._registry = None

    def cached(self, service: str, *, domain: str = "") -> list[Schema] | None:
        """The cached schemas of every version of ``service``, or None."""
        if not self._use_cache:
            return None
        from micro.proto.registry import registry_pb2
        from micro.registry._convert import service_from_proto

        try:
            with self._cache() as cache:
                keys = cache.get(self._index_key(service, domain))
                if not isinstance(keys, list):
                    return None
                schemas = []
                for key in keys:
                    raw = cache.get(key)
                    if not isinstance(raw, bytes):
                        return None
                    schemas.append(Schema(service_from_proto(registry_pb2.Service.FromString(raw))))
        except Exception:  # a broken cache is only a slower start
            log.debug("schema cache unreadable", exc_info=True)
            return None
        return schemas or None

    def _store(self, service: str, domain: str, versions: list[Service]) -> None:
        if not self._use_cache:
            return
        from dataclasses import replace

        from micro.registry._convert import service_to_proto

        try:
            with self._cache() as cache:
                keys = []
                for version in versions:
                    raw = service_to_proto(replace(version, nodes=[])).SerializeToString()
                    digest = hashlib.sha256(raw).hexdigest()[:16]
                    key = f"{self._index_key(service, domain)}/{version.version}/{digest}"
                    cache.set(key, raw, expire=CACHE_SECONDS * 6)
                    keys.append(key)
                cache.set(self._index_key(service, domain), keys, expire=CACHE_SECONDS)
        except Exception:
            log.debug("schema cache not writable", exc_info=True)

    async def fetch(self, service: str, *, domain: str = "") -> list[Service]:
        """Every registered version of ``service`` (nodes included), from the registry.

        Raises:
            micro.errors.NotImplementedError_: ``Service "X" not found``.
        """
        try:
            found: list[Service] = await self._registry_client().get_service(service, domain=domain)
        except errors.NotFound as exc:
            raise service_not_found(service) from exc
        if not found:
            raise service_not_found(service)
        self._store(service, domain, found)
        self._memory[(service, domain)] = ([Schema(s) for s in found], True)
        return found

    async def get(self, service: str, *, domain: str = "", refresh: bool = False) -> list[Schema]:
        """The schemas of every version of ``service``, cached unless ``refresh``."""
        if not refresh:
            held = self._memory.get((service, domain))
            if held is not None:
                return held[0]
            cached = self.cached(service, domain=domain)
            if cached is not None:
                self._memory[(service, domain)] = (cached, False)
                return cached
        await self.fetch(service, domain=domain)
        return self._memory[(service, domain)][0]

    def is_fresh(self, service: str, *, domain: str = "") -> bool:
        """Whether the schemas held for ``service`` came from the registry in this process."""
        held = self._memory.get((service, domain))
        return held is not None and held[1]

    async def method(self, service: str, endpoint: str, *, domain: str = "") -> Method:
        """The endpoint ``Handler.Method`` of ``service``; a cached miss asks the registry."""
        check_method_name(endpoint)
        schemas = await self.get(service, domain=domain)
        try:
            return find_endpoint(schemas, endpoint, service=service)
        except errors.NotImplementedError_:
            if self.is_fresh(service, domain=domain):
                raise
        return find_endpoint(await self.get(service, domain=domain, refresh=True), endpoint, service=service)
