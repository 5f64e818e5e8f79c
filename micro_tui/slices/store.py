"""Area store's facade slice (see :mod:`micro_tui.slices`): databases, tables, keys a page at
a time, one record with its TTL and version, and the writes.

Keys are listed with keyset paging only (``start_after`` and an order, never an offset): a
page after key 900,000 of a million costs what the first page costs, and the last page is
the first one in descending order. A write can name the version it expects (the store's
optimistic concurrency); when the record has moved on, :class:`VersionConflict` carries
the record as it is now, so that the screen can offer it instead of overwriting it.

No grpc or protobuf here (the screen imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from micro import errors
from micro.store import Order

__all__ = ["PAGE", "KeyPage", "Order", "StoreFacade", "StoreRecord", "VersionConflict"]

PAGE = 100
"""Keys per page of the keys table (a DataTable stays quick far below ~10,000 rows)."""


@dataclass(frozen=True, slots=True)
class KeyPage:
    """One page of keys, in the order asked for (descending pages come last key first)."""

    keys: tuple[str, ...]
    more: bool
    """Whether keys follow the last one of this page in its order."""


@dataclass(frozen=True, slots=True)
class StoreRecord:
    key: str
    value: bytes
    ttl: float | None = None
    """Seconds it has left (None: it never expires)."""
    version: int = 0
    """1 on its first write, one more on each write since."""
    metadata: dict[str, str] = field(default_factory=dict)


class VersionConflict(errors.Conflict):
    """A write that named a version found the record at another one (409).

    ``current`` is the record as it is now (None when it no longer exists): what the screen
    offers instead of a silent overwrite."""

    def __init__(self, detail: str, current: StoreRecord | None) -> None:
        super().__init__(detail)
        self.current = current


class StoreFacade(Protocol):
    """What the store area reads and does. An empty ``database`` is the namespace's."""

    async def databases(self) -> list[str]:
        """The databases holding records that this account may see, sorted."""
        ...

    async def tables(self, database: str = "") -> list[str]:
        """The tables of ``database`` holding records, sorted."""
        ...

    async def list_keys(
        self,
        *,
        database: str = "",
        table: str = "",
        prefix: str = "",
        suffix: str = "",
        limit: int = PAGE,
        start_after: str = "",
        order: Order = Order.ASC,
    ) -> KeyPage:
        """At most ``limit`` keys after ``start_after`` (before it in :attr:`Order.DESC`),
        matching ``prefix`` and ``suffix``."""
        ...

    async def read(self, key: str, *, database: str = "", table: str = "") -> StoreRecord:
        """The record of ``key`` (:class:`micro.errors.NotFound` when there is none)."""
        ...

    async def write(
        self,
        key: str,
        value: bytes,
        *,
        database: str = "",
        table: str = "",
        ttl: float | None = None,
        version: int | None = None,
    ) -> int:
        """Write ``value`` under ``key`` (``ttl`` seconds to live, None: never); its new
        version. With ``version`` only if the record is at that version (0: it must not
        exist), else :class:`VersionConflict`. A read-only env refuses it (400) before
        anything is sent, with the CLI's words."""
        ...

    async def delete(self, key: str, *, database: str = "", table: str = "") -> None:
        """Delete ``key`` (a missing key is not an error); refused in a read-only env."""
        ...
