"""The store: key-value records with TTL, metadata and versions.

Records are scoped by database (= namespace) and table. Keys are ordered as byte strings.
Backends: :mod:`micro.store.memory` (in-process), :mod:`micro.store.grpc` (the store
service, the default inside services); the server adds SQLite.
"""

from __future__ import annotations

import builtins
import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_TABLE",
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "Order",
    "Record",
    "Store",
    "default",
    "delete",
    "list",
    "read",
    "set_default",
    "write",
]

DEFAULT_DATABASE = "micro"
DEFAULT_TABLE = "micro"
# values over 1 MiB are refused (413): large objects belong in the blob store
MAX_VALUE_BYTES = 1024 * 1024
MAX_KEY_BYTES = 1024


class Order(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@dataclass(slots=True)
class Record:
    """One record. ``expiry`` is the time to live in seconds from now (None = never)."""

    key: str
    value: bytes
    expiry: float | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 0


class Store(ABC):
    """A key-value store. Empty ``database``/``table`` mean the defaults (``micro``)."""

    @abstractmethod
    async def read(
        self,
        key: str,
        *,
        database: str = "",
        table: str = "",
        prefix: bool = False,
        suffix: bool = False,
        limit: int = 0,
        offset: int = 0,
        order: Order = Order.ASC,
    ) -> builtins.list[Record]:
        """Records matching ``key``.

        Exact (no prefix/suffix): the one record, or :class:`~micro.errors.NotFound`.
        With ``prefix`` and/or ``suffix`` the key matches as both that apply; an empty
        result is not an error. Order: filter expired, match, order, skip ``offset``,
        take ``limit`` (0 = all).
        """

    @abstractmethod
    async def write(
        self, record: Record, *, database: str = "", table: str = "", version: int | None = None
    ) -> int:
        """Upsert ``record``; returns its new version (1 on first write).

        ``version`` makes the write conditional: the record must be at that version (0 =
        must not exist), else :class:`~micro.errors.Conflict`.
        """

    @abstractmethod
    async def delete(self, key: str, *, database: str = "", table: str = "") -> None:
        """Remove ``key``; a missing key is not an error."""

    @abstractmethod
    async def list(
        self,
        *,
        database: str = "",
        table: str = "",
        prefix: str = "",
        suffix: str = "",
        limit: int = 0,
        offset: int = 0,
        order: Order = Order.ASC,
        start_after: str = "",
    ) -> builtins.list[str]:
        """Keys, filtered and paged like :meth:`read`; ``start_after`` pages by key."""

    @abstractmethod
    async def databases(self) -> builtins.list[str]:
        """Databases that hold live records, sorted."""

    @abstractmethod
    async def tables(self, database: str = "") -> builtins.list[str]:
        """Tables of ``database`` that hold live records, sorted."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


# --- module-level client: ``await micro.store.write("key", "value")`` inside a service --------
# The store service at MICRO_PROXY in MICRO_NAMESPACE, one client per running event loop;
# a service's default table is its own name. Tests replace it with ``set_default``.

_default: Store | None = None


def set_default(store: Store | None) -> None:
    """Use ``store`` for the module-level functions (None: the store service again)."""
    global _default
    _default = store


def default() -> Store:
    """The store the module-level functions use."""
    if _default is not None:
        return _default
    from micro import _platform
    from micro.store.grpc import GrpcStore

    return _platform.loop_client(
        "micro.store", lambda address, ns, token: GrpcStore(address, namespace=ns, token=token)
    )


async def _client() -> Store:
    """:func:`default`, once the service's credentials have a current token (a task that
    starts beside ``micro.Service`` may run before the service has logged in)."""
    if _default is None:
        from micro import _platform

        await _platform.authenticate()
    return default()


def _default_table(table: str) -> str:
    from micro import _platform

    return table or _platform.service_name()


async def read(
    key: str,
    *,
    table: str = "",
    prefix: bool = False,
    suffix: bool = False,
    limit: int = 0,
    offset: int = 0,
    order: Order = Order.ASC,
) -> builtins.list[Record]:
    """Records of ``key`` in the service's table (see :meth:`Store.read`)."""
    return await (await _client()).read(
        key,
        table=_default_table(table),
        prefix=prefix,
        suffix=suffix,
        limit=limit,
        offset=offset,
        order=order,
    )


async def write(
    key: str | Record,
    value: str | bytes = b"",
    *,
    table: str = "",
    expiry: float | None = None,
    metadata: dict[str, str] | None = None,
    version: int | None = None,
) -> int:
    """Write ``value`` (str is UTF-8 encoded) under ``key``, or a whole Record; returns its version."""
    if isinstance(key, Record):
        record = key
    else:
        raw = value.encode() if isinstance(value, str) else value
        record = Record(key=key, value=raw, expiry=expiry, metadata=dict(metadata or {}))
    return await (await _client()).write(record, table=_default_table(table), version=version)


async def delete(key: str, *, table: str = "") -> None:
    await (await _client()).delete(key, table=_default_table(table))


async def list(
    *,
    table: str = "",
    prefix: str = "",
    suffix: str = "",
    limit: int = 0,
    offset: int = 0,
    order: Order = Order.ASC,
    start_after: str = "",
) -> builtins.list[str]:
    """Keys of the service's table (see :meth:`Store.list`)."""
    return await (await _client()).list(
        table=_default_table(table),
        prefix=prefix,
        suffix=suffix,
        limit=limit,
        offset=offset,
        order=order,
        start_after=start_after,
    )
