"""The workspace's disk cache (diskcache under ``MICRO_HOME/cache``): the last registry
snapshot per server and namespace, shown before the network answers, and the namespaces a
user has visited per environment. A broken cache only costs a slower start."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

__all__ = [
    "deadline",
    "known_namespaces",
    "remember_deadline",
    "remember_namespace",
    "services",
    "store_services",
]

log = logging.getLogger(__name__)


def _open() -> Any:
    from diskcache import Cache  # type: ignore[import-untyped]

    from micro import _paths

    return Cache(str(_paths.cache_dir() / "workspace"))


def _key(address: str, namespace: str) -> str:
    return "services/" + hashlib.sha256(f"{address}/{namespace}".encode()).hexdigest()[:16]


def services(address: str, namespace: str) -> list[str]:
    """The service names last seen at ``address`` in ``namespace`` ([] when unknown)."""
    try:
        with _open() as cache:
            found = cache.get(_key(address, namespace))
    except Exception:
        log.debug("workspace cache unreadable", exc_info=True)
        return []
    return [str(n) for n in found] if isinstance(found, list) else []


def store_services(address: str, namespace: str, names: list[str]) -> None:
    try:
        with _open() as cache:
            cache.set(_key(address, namespace), list(names))
    except Exception:
        log.debug("workspace cache not writable", exc_info=True)


def known_namespaces(env: str) -> list[str]:
    try:
        with _open() as cache:
            found = cache.get(f"namespaces/{env}")
    except Exception:
        return []
    return [str(n) for n in found] if isinstance(found, list) else []


def remember_namespace(env: str, namespace: str) -> None:
    try:
        with _open() as cache:
            known = cache.get(f"namespaces/{env}") or []
            if namespace not in known:
                cache.set(f"namespaces/{env}", [*known, namespace])
    except Exception:
        log.debug("workspace cache not writable", exc_info=True)


def deadline(service: str, endpoint: str) -> float | None:
    """The deadline last used for ``service``'s ``endpoint`` (0: none), None when unknown."""
    try:
        with _open() as cache:
            found = cache.get(f"deadlines/{service}/{endpoint}")
    except Exception:
        return None
    return float(found) if isinstance(found, int | float) else None


def remember_deadline(service: str, endpoint: str, seconds: float) -> None:
    try:
        with _open() as cache:
            cache.set(f"deadlines/{service}/{endpoint}", seconds)
    except Exception:
        log.debug("workspace cache not writable", exc_info=True)
