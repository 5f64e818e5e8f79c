"""An in-memory registry with per-node TTLs and watches (the embedded default backend)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from micro import errors
from micro.registry import DEFAULT_DOMAIN, DEFAULT_TTL, Endpoint, Node, Registry, Result, Service, Value
from micro.settings import limits

__all__ = ["MemoryRegistry", "MemoryWatcher"]

log = logging.getLogger(__name__)

_CLOSED = object()


def _copy_value(value: Value) -> Value:
    return Value(value.name, value.type, [_copy_value(v) for v in value.values])


# endpoints past which a registration's copy is made in a worker thread
_COPY_INLINE = 50


def _copy_endpoints(endpoints: list[Endpoint]) -> list[Endpoint]:
    """A deep copy of ``endpoints``, an order of magnitude faster than ``copy.deepcopy``."""
    return [
        Endpoint(
            name=e.name,
            method=e.method,
            request_type=e.request_type,
            response_type=e.response_type,
            streaming=e.streaming,
            request=None if e.request is None else _copy_value(e.request),
            response=None if e.response is None else _copy_value(e.response),
            metadata=dict(e.metadata),
        )
        for e in endpoints
    ]


async def _copied(endpoints: list[Endpoint]) -> list[Endpoint]:
    """A copy of ``endpoints``, made off the event loop when there are many (a service may
    carry tens of thousands of schema values: copying them would stall every caller)."""
    if len(endpoints) <= _COPY_INLINE:
        return _copy_endpoints(endpoints)
    return await asyncio.to_thread(_copy_endpoints, endpoints)


@dataclass
class _Version:
    """One version of a service: what was registered last, and its live nodes."""

    name: str
    version: str
    metadata: dict[str, str]
    endpoints: list[Endpoint]
    descriptor_set: bytes
    nodes: dict[str, tuple[Node, float]] = field(default_factory=dict)  # id -> (node, expiry)

    def snapshot(self, nodes: list[Node] | None = None) -> Service:
        """A copy the caller may keep and change, except its endpoints: they are shared with
        the registry and every other snapshot, and must only be read (the registry never
        changes them: a registration with other endpoints replaces the list). Copying
        thousands of schema values on every read would stall the loop."""
        chosen = nodes if nodes is not None else [n for n, _ in self.nodes.values()]
        return Service(
            name=self.name,
            version=self.version,
            metadata=dict(self.metadata),
            endpoints=list(self.endpoints),
            nodes=[Node(id=n.id, address=n.address, metadata=dict(n.metadata)) for n in chosen],
            descriptor_set=self.descriptor_set,
        )


class MemoryWatcher:
    """The changes of one domain (optionally one service) as an async iterator.

    Subscribed from construction, so nothing registered after :meth:`MemoryRegistry.watch`
    returns is missed. A watcher that falls more than its queue's size behind ends with
    :class:`~micro.errors.Unavailable` (its consumer should list again and re-watch) rather
    than slowing down registrations.
    """

    def __init__(self, registry: MemoryRegistry, *, service: str, domain: str, maxsize: int) -> None:
        self._registry = registry
        self.service = service
        self.domain = domain
        self._queue: asyncio.Queue[Result | object] = asyncio.Queue(maxsize=maxsize)
        self._overflowed = False
        self.closed = False

    def _offer(self, result: Result) -> None:
        if self.closed or self._overflowed:
            return
        if self.service and result.service.name != self.service:
            return
        try:
            self._queue.put_nowait(result)
        except asyncio.QueueFull:
            log.warning("registry watcher of %r fell behind; ending it", self.domain)
            self._overflowed = True
            self._registry._unsubscribe(self)

    async def ready(self) -> None:
        """Return once the watcher is subscribed (at once: it was at construction)."""

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Result:
        if self.closed:
            raise StopAsyncIteration
        if self._overflowed and self._queue.empty():
            self.closed = True
            raise errors.Unavailable("registry watch fell behind; watch again")
        item = await self._queue.get()
        if item is _CLOSED:
            raise StopAsyncIteration
        assert isinstance(item, Result)
        return item

    async def aclose(self) -> None:
        """Stop watching; a pending ``__anext__`` ends."""
        if self.closed:
            return
        self.closed = True
        self._registry._unsubscribe(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_CLOSED)


class MemoryRegistry(Registry):
    """Services per domain keyed by (name, version); each node lapses on its own TTL.

    Lapsed nodes vanish from reads at once and a background sweeper (started with the first
    registration) tells watchers about them.

    Args:
        clock: monotonic seconds; tests pass a fake one to make TTLs lapse without sleeping.
        sweep_interval: the longest the sweeper sleeps between checks (real seconds).
        watch_queue: how many results a watcher may fall behind before it is ended.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sweep_interval: float = 1.0,
        watch_queue: int = 1024,
    ) -> None:
        self._clock = clock
        self._sweep_interval = sweep_interval
        self._watch_queue = watch_queue
        self._domains: dict[str, dict[tuple[str, str], _Version]] = {}
        self._watchers: dict[str, set[MemoryWatcher]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # -- writes ---------------------------------------------------------------------------

    async def register(
        self, service: Service, *, ttl: float = DEFAULT_TTL, domain: str = DEFAULT_DOMAIN
    ) -> None:
        if not service.nodes:  # it would be invisible (a version lives while it has nodes)
            raise errors.BadRequest("a service needs at least one node")
        key = (service.name, service.version)
        entry = self._domains.get(domain, {}).get(key)
        # a heartbeat changes nothing but the nodes' expiry: only a change is copied
        endpoints = (
            None if entry is not None and self._same(entry, service) else await _copied(service.endpoints)
        )
        self._expire()
        self._check_nodes(service, domain)
        expiry = self._clock() + (ttl if ttl > 0 else DEFAULT_TTL)
        versions = self._domains.setdefault(domain, {})
        entry = versions.get(key)  # again: the copy may have let another registration in
        action = "update"
        changed = False
        if entry is None:
            entry = versions[key] = _Version(
                name=service.name,
                version=service.version,
                metadata=dict(service.metadata),
                endpoints=endpoints if endpoints is not None else _copy_endpoints(service.endpoints),
                descriptor_set=service.descriptor_set,
            )
            action, changed = "create", True
        elif endpoints is not None and not self._same(entry, service):
            entry.metadata = dict(service.metadata)
            entry.endpoints = endpoints
            entry.descriptor_set = service.descriptor_set
            changed = True
        for node in service.nodes:
            old = entry.nodes.get(node.id)
            if old is None or old[0] != node:
                changed = True
            entry.nodes[node.id] = (
                Node(id=node.id, address=node.address, metadata=dict(node.metadata)),
                expiry,
            )
        if changed:  # a heartbeat that changes nothing only extends the TTL
            self._publish(domain, action, entry.snapshot())
        self._start_sweeper()

    async def deregister(self, service: Service, *, domain: str = DEFAULT_DOMAIN) -> None:
        """Remove the given nodes; without nodes, the whole version. Unknown ones are ignored."""
        self._expire()
        versions = self._domains.get(domain, {})
        key = (service.name, service.version)
        entry = versions.get(key)
        if entry is None:
            return
        ids = [n.id for n in service.nodes] if service.nodes else list(entry.nodes)
        removed = [entry.nodes.pop(i)[0] for i in ids if i in entry.nodes]
        if not removed:
            return
        self._after_removal(domain, entry, removed)

    # -- reads ----------------------------------------------------------------------------

    async def get_service(self, name: str, *, domain: str = DEFAULT_DOMAIN) -> list[Service]:
        self._expire()
        found = [
            v.snapshot()
            for (n, _), v in sorted(self._domains.get(domain, {}).items())
            if n == name and v.nodes
        ]
        if not found:
            raise errors.NotFound("service not found")
        return found

    async def list_services(self, *, domain: str = DEFAULT_DOMAIN) -> list[Service]:
        self._expire()
        return [v.snapshot() for _, v in sorted(self._domains.get(domain, {}).items()) if v.nodes]

    def watch(self, *, service: str = "", domain: str = DEFAULT_DOMAIN) -> MemoryWatcher:
        watcher = MemoryWatcher(self, service=service, domain=domain, maxsize=self._watch_queue)
        self._watchers.setdefault(domain, set()).add(watcher)
        return watcher

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._sweeper
            self._sweeper = None
        for watchers in list(self._watchers.values()):
            for watcher in list(watchers):
                await watcher.aclose()

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _same(entry: _Version, service: Service) -> bool:
        """Whether ``service`` registers what ``entry`` holds (its nodes aside)."""
        return (service.metadata, service.endpoints, service.descriptor_set) == (
            entry.metadata,
            entry.endpoints,
            entry.descriptor_set,
        )

    def _check_nodes(self, service: Service, domain: str) -> None:
        """Refuse a registration that would give a version more nodes than the limit."""
        limit = limits().nodes
        entry = self._domains.get(domain, {}).get((service.name, service.version))
        ids = {n.id for n in service.nodes}
        if entry is not None:
            ids.update(entry.nodes)
        if len(ids) > limit:
            raise errors.TooLarge(
                f"too many nodes: {service.name} {service.version} would have {len(ids)} (limit {limit})"
            )

    def _after_removal(self, domain: str, entry: _Version, removed: list[Node]) -> None:
        versions = self._domains[domain]
        if entry.nodes:
            self._publish(domain, "update", entry.snapshot())
            return
        del versions[(entry.name, entry.version)]
        if not versions:
            del self._domains[domain]
        self._publish(domain, "delete", entry.snapshot(removed))

    def _expire(self) -> None:
        """Drop every lapsed node, telling watchers."""
        now = self._clock()
        for domain, versions in list(self._domains.items()):
            for entry in list(versions.values()):
                lapsed = [nid for nid, (_, expiry) in entry.nodes.items() if expiry <= now]
                if lapsed:
                    removed = [entry.nodes.pop(nid)[0] for nid in lapsed]
                    self._after_removal(domain, entry, removed)

    def _next_expiry(self) -> float | None:
        expiries = [e for vs in self._domains.values() for v in vs.values() for _, e in v.nodes.values()]
        return min(expiries, default=None)

    def _publish(self, domain: str, action: str, service: Service) -> None:
        watchers = self._watchers.get(domain)
        if not watchers:
            return
        result = Result(action=action, service=service, timestamp=time.time())
        for watcher in list(watchers):
            watcher._offer(result)

    def _unsubscribe(self, watcher: MemoryWatcher) -> None:
        watchers = self._watchers.get(watcher.domain)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[watcher.domain]

    def _start_sweeper(self) -> None:
        loop = asyncio.get_running_loop()
        if self._sweeper is not None and not self._sweeper.done() and self._sweeper.get_loop() is loop:
            return
        self._sweeper = loop.create_task(self._sweep(), name="registry-sweeper")

    async def _sweep(self) -> None:
        while True:
            nxt = self._next_expiry()
            delay = self._sweep_interval if nxt is None else min(self._sweep_interval, nxt - self._clock())
            await asyncio.sleep(max(delay, 0.01))
            try:
                self._expire()
            except Exception:  # the sweeper must outlive one bad pass
                log.exception("registry sweep failed")
