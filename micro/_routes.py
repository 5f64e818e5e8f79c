"""Per-route call counters for the network view: requests, errors and a latency histogram.

A route is a (namespace, service, endpoint) a call went to. Calls are counted where they
pass: by the framework's client (so service-to-service calls, which pass neither the proxy
nor the gateway, are seen), and on the server by the proxy and the HTTP gateway. Each
process keeps one :data:`ROUTES` table; ``debug.Debug/Stats`` reports the part of it that
belongs to the namespace it is asked in, and ``network.Network/Routes`` merges the tables
of every node of a namespace (:func:`merge`).

Latency goes into fixed buckets (:data:`BOUNDS_US`, the same in every process and version
of the protocol), so histograms of different nodes merge by adding counts and percentiles
are read from the merged counts (:meth:`RouteStats.percentile`): no samples are kept, and a
call costs a clock read, a binary search and three increments.

Tables are bounded (:data:`MAX_ROUTES`): endpoint names come from callers.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = [
    "BOUNDS_US",
    "MAX_ROUTES",
    "ROUTES",
    "RouteStats",
    "RouteTable",
    "endpoint_of",
    "merge",
    "passed_gateway",
]

#: upper bounds of the latency buckets in microseconds: 25 µs times 2^(i/4) (four buckets
#: per doubling, so a percentile read from them is within ~10% of the true value), up to
#: about a minute; one more bucket holds the slower calls
BOUNDS_US: tuple[int, ...] = tuple(round(25 * 2 ** (i / 4)) for i in range(86))
_BOUNDS_S: tuple[float, ...] = tuple(b / 1e6 for b in BOUNDS_US)
BUCKETS = len(BOUNDS_US) + 1

MAX_ROUTES = 4096

# set by the HTTP gateway in a request's task: the call is counted there, so the proxy
# that forwards it for the gateway does not count it again
passed_gateway: ContextVar[bool] = ContextVar("micro_routes_gateway", default=False)


def endpoint_of(method: str) -> str:
    """``/helloworld.Helloworld/Call`` → ``Helloworld.Call`` (the registry's endpoint name)."""
    full, _, name = method.lstrip("/").partition("/")
    return f"{full.rpartition('.')[2]}.{name}" if name else full


@dataclass(slots=True)
class RouteStats:
    """The calls of one route: how many, how many failed, and their latency histogram."""

    service: str
    endpoint: str
    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def observe(self, seconds: float, failed: bool = False) -> None:
        """Count one call that took ``seconds`` (and ``failed``)."""
        self.requests += 1
        if failed:
            self.errors += 1
        self.buckets[bisect_left(_BOUNDS_S, seconds)] += 1

    def add(self, other: RouteStats) -> None:
        """Add ``other``'s counts to these (same bounds, so bucket by bucket)."""
        self.requests += other.requests
        self.errors += other.errors
        if len(other.buckets) == len(self.buckets):
            self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0 < q ≤ 1) of the latency in milliseconds, interpolated inside
        its bucket (0.0 without calls; calls past the last bound read as that bound)."""
        total = sum(self.buckets)
        if not total:
            return 0.0
        rank = q * total
        seen = 0
        for i, count in enumerate(self.buckets):
            if count and seen + count >= rank:
                if i >= len(BOUNDS_US):
                    return BOUNDS_US[-1] / 1000
                lower = BOUNDS_US[i - 1] if i else 0
                upper = BOUNDS_US[i]
                return (lower + (upper - lower) * (rank - seen) / count) / 1000
            seen += count
        return BOUNDS_US[-1] / 1000  # pragma: no cover - rank ≤ total always stops above

    def copy(self) -> RouteStats:
        return RouteStats(self.service, self.endpoint, self.requests, self.errors, list(self.buckets))


class RouteTable:
    """The routes of one process, by (namespace, service, method path).

    ``process`` names this table in ``Stats`` replies: nodes served by one process share it.
    """

    def __init__(self, limit: int = MAX_ROUTES) -> None:
        self.process = uuid.uuid4().hex
        self.limit = limit
        self._routes: dict[tuple[str, str, str], RouteStats] = {}

    def route(self, namespace: str, service: str, method: str) -> RouteStats | None:
        """The counters of calls of ``method`` (a path, ``/pkg.Handler/Method``) to
        ``namespace``'s ``service``; None once the table is full (the call is not counted)."""
        key = (namespace, service, method)
        stats = self._routes.get(key)
        if stats is None:
            if len(self._routes) >= self.limit:
                return None
            stats = self._routes[key] = RouteStats(service, endpoint_of(method))
        return stats

    def snapshot(self, namespace: str) -> list[RouteStats]:
        """Copies of ``namespace``'s routes (what Stats reports when asked in it)."""
        return [s.copy() for (ns, _, _), s in list(self._routes.items()) if ns == namespace]

    def clear(self) -> None:
        self._routes.clear()


def merge(tables: Iterable[Sequence[RouteStats]]) -> list[RouteStats]:
    """One entry per (service, endpoint) with the counts of every table added, sorted."""
    merged: dict[tuple[str, str], RouteStats] = {}
    for table in tables:
        for stats in table:
            key = (stats.service, stats.endpoint)
            into = merged.get(key)
            if into is None:
                merged[key] = stats.copy()
            else:
                into.add(stats)
    return [merged[key] for key in sorted(merged)]


#: this process's routes
ROUTES = RouteTable()
