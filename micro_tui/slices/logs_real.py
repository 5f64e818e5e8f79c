"""The logs slice over a real server: the runtime's ``Read`` and ``Logs`` through the
framework's :class:`~micro.runtime.grpc.GrpcRuntime` (imported on first use, in a thread)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from micro_tui.real import RealSession, new_client
from micro_tui.slices.logs import DEFAULT_TAIL, LogChunk, LogLine, LogSource, follow_all

__all__ = ["RealLogs"]


class RealLogs:
    def __init__(self, session: RealSession) -> None:
        self._session = session

    async def _runtime(self) -> Any:
        """A runtime client with the session's current login (each follow attempt makes its
        own: a reconnect after a new login carries the new token)."""
        return await new_client(self._session, "micro.runtime.grpc", "GrpcRuntime")

    async def sources(self) -> list[LogSource]:
        runtime = await self._runtime()
        try:
            found = await runtime.read()
        finally:
            await runtime.close()
        by_name = {s.name: LogSource(s.name, s.status, s.instances) for s in found}
        return [by_name[name] for name in sorted(by_name)]

    async def _open(self, service: str, count: int, since_ns: int) -> AsyncIterator[LogChunk]:
        runtime = await self._runtime()
        try:
            async for batch in runtime.logs(service, count=count, follow=True, since=since_ns / 1e9):
                lines = tuple(LogLine(service, r.ts, r.stream, r.instance, r.line) for r in batch.records)
                yield LogChunk(service, lines, batch.dropped)
        finally:
            await runtime.close()

    def follow(self, services: Sequence[str], *, tail: int = DEFAULT_TAIL) -> AsyncIterator[LogChunk]:
        return follow_all(self._open, services, tail=tail)
