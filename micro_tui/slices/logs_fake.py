"""The fake logs slice (tests and snapshots): the runtime's log books in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from micro_tui.fake import FakeSession
from micro_tui.slices.logs import DEFAULT_TAIL, LogChunk, LogLine, LogSource, follow_all

__all__ = ["FakeLogs"]

BATCH_LINES = 1000
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z: deterministic times
_SAMPLE = (
    ("greeter", "runtime", -1, "run ./greeter (3f9a1c2b7d4e)"),
    ("greeter", "runtime", 0, "instance 0 started (pid 4242)"),
    ("greeter", "runtime", 1, "instance 1 started (pid 4243)"),
    ("greeter", "stderr", 0, "2026-01-01 00:00:00,120 INFO Listening on 127.0.0.1:40123"),
    ("greeter", "stderr", 1, "2026-01-01 00:00:00,131 INFO Listening on 127.0.0.1:40124"),
    ("worker", "runtime", 0, "instance 0 started (pid 5150)"),
    ("worker", "stdout", 0, "polling queue orders [batch=50]"),
    ("greeter", "stdout", 0, "Hello Alice"),
    ("greeter", "stdout", 1, "Hello Bob"),
    ("worker", "stdout", 0, "processed 50 orders in 0.42s"),
    ("greeter", "stderr", 1, "WARNING slow call Greeter.Hello took 1.2s"),
    ("worker", "stderr", 0, "ERROR order 1042: payment refused"),
    ("greeter", "stdout", 0, "Hello Carol"),
    ("worker", "runtime", -1, "killed"),
)


class FakeLogs:
    """``greeter`` (running, 2 instances) and ``worker`` (killed: its logs stay) with a few
    lines each. :meth:`write` adds lines (followers get them), :meth:`report_dropped` makes
    the next batch say lines were lost, :meth:`end_streams` ends every open stream (as a
    restarted server does); the follows reconnect by themselves."""

    def __init__(self, session: FakeSession) -> None:
        self._session = session
        self.services: dict[str, LogSource] = {
            "greeter": LogSource("greeter", "running", 2),
            "worker": LogSource("worker", "stopped", 1),
        }
        self.lines: dict[str, list[LogLine]] = {"greeter": [], "worker": []}
        self.opened: list[tuple[str, int, int]] = []
        """Every stream opened: (service, count, since_ns)."""
        self._followers: dict[str, list[asyncio.Queue[LogChunk | None]]] = {}
        self._clock = START_NS
        for service, stream, instance, text in _SAMPLE:
            self.write(service, text, stream=stream, instance=instance)

    def write(self, service: str, *texts: str, stream: str = "stdout", instance: int = 0) -> None:
        """``service`` writes ``texts`` (a new service appears in :meth:`sources`)."""
        if service not in self.services:
            self.services[service] = LogSource(service, "running", 1)
        book = self.lines.setdefault(service, [])
        new = []
        for text in texts:
            self._clock += 1_000_000  # a millisecond apart
            new.append(LogLine(service, self._clock, stream, instance, text))
        book.extend(new)
        for queue in self._followers.get(service, []):
            queue.put_nowait(LogChunk(service, tuple(new)))

    def report_dropped(self, service: str, count: int) -> None:
        """The server tells ``service``'s followers it dropped ``count`` lines."""
        for queue in self._followers.get(service, []):
            queue.put_nowait(LogChunk(service, (), count))

    def end_streams(self) -> None:
        for queues in self._followers.values():
            for queue in queues:
                queue.put_nowait(None)

    def kill(self, service: str) -> None:
        """Stop ``service`` as ``micro kill`` does: its logs stay."""
        self.write(service, "killed", stream="runtime", instance=-1)
        self.services.pop(service, None)

    async def sources(self) -> list[LogSource]:
        self._session.check()
        return [self.services[name] for name in sorted(self.services)]

    async def _open(self, service: str, count: int, since_ns: int) -> AsyncIterator[LogChunk]:
        from micro import errors

        self._session.check()
        self.opened.append((service, count, since_ns))
        if service not in self.lines:
            raise errors.NotFound("Service not found")
        queue: asyncio.Queue[LogChunk | None] = asyncio.Queue()
        self._followers.setdefault(service, []).append(queue)
        try:
            since = since_ns // 1_000_000_000 * 1_000_000_000  # whole seconds, as the runtime's
            last = [line for line in self.lines[service] if line.ts >= since]
            if count >= 0:
                last = last[-(count or 15) :]  # 0: the runtime's default
            for start in range(0, len(last), BATCH_LINES):
                yield LogChunk(service, tuple(last[start : start + BATCH_LINES]))
            while (chunk := await queue.get()) is not None:
                yield chunk
        finally:
            self._followers[service].remove(queue)

    def follow(self, services: Sequence[str], *, tail: int = DEFAULT_TAIL) -> AsyncIterator[LogChunk]:
        return follow_all(self._open, services, tail=tail)
