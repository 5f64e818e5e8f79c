"""Typed settings read once from the environment: data only, one frozen dataclass per concern.

Each section has a ``from_env(environ)`` that validates its variables and raises
:class:`~micro.errors.BadRequest` naming the variable for a bad value, and a module-level
accessor that reads ``os.environ`` once per process (tests pass their own mapping to
``from_env`` or call ``accessor.cache_clear()`` after changing the environment).

``Limits`` (``MICRO_LIMIT_*``) bounds what one request may ask of a server, so that no caller
can exhaust its memory or stall its event loop for the others.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from micro import errors

__all__ = ["Limits", "limits"]

_MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What one request may ask of a server. Variable: ``MICRO_LIMIT_`` + the upper-cased
    field name (``MICRO_LIMIT_DESCRIPTOR_BYTES=8388608``)."""

    #: bytes of the descriptor set one registration carries
    descriptor_bytes: int = 4 * _MIB
    #: endpoints of one registered service
    endpoints: int = 1000
    #: schema values (fields, nested fields included) of one registration's endpoints
    schema_values: int = 10_000
    #: nodes of one service version
    nodes: int = 100
    #: the longest time to live a registration may ask for, in seconds
    registry_ttl: int = 300
    #: characters of a name, id or path (service, node, endpoint, database, table, account,
    #: rule, namespace, config path); store keys have their own limit (1,024 bytes)
    name_chars: int = 255
    #: bytes of an account's metadata, and of one service's or node's metadata
    metadata_bytes: int = 16 * 1024
    #: open watches (registry and config Watch) per caller
    watches: int = 64
    #: nesting depth of a config document (path keys included)
    config_depth: int = 64

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Limits:
        """The limits ``environ`` sets, defaults for the rest.

        Raises:
            BadRequest: a variable that is not a positive whole number.
        """
        values: dict[str, int] = {}
        for f in dataclasses.fields(cls):
            name = f"MICRO_LIMIT_{f.name.upper()}"
            raw = environ.get(name, "").strip()
            if not raw:
                continue
            try:
                value = int(raw.replace("_", ""))
            except ValueError:
                raise errors.BadRequest(f"{name} must be a whole number, not {raw!r}") from None
            if value <= 0:
                raise errors.BadRequest(f"{name} must be positive, not {value}")
            values[f.name] = value
        return cls(**values)


@functools.cache
def limits() -> Limits:
    """The process's limits, read from ``os.environ`` on first use."""
    return Limits.from_env(os.environ)
