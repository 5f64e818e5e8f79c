"""The store: key-value records with TTL, metadata and versions.

Records are scoped by database (= namespace) and table. Keys are ordered as byte strings.
Backends: :mod:`micro.store.memory` (in-process), :mod:`micro.store.grpc` (the store
service, the default inside services); the server adds SQLite.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
import builtins
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_DATABASE",
    "DEFAULT_TABLE",
    "MAX_KEY_BYTES",
    "MAX_VALUE_BYTES",
    "Order",
    "Record",
    "Store",
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
    ) -> list[Record]:
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
    ) -> list[str]:
        """Keys, filtered and paged like :meth:`read`; ``start_after`` pages by key."""

    @abstractmethod
    async def databases(self) -> builtins.list[str]:
        """Databases that hold live records, sorted."""

    @abstractmethod
    async def tables(self, database: str = "") -> builtins.list[str]:
        """Tables of ``database`` that hold live records, sorted."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
