"""Area 2's facade slice: the logs of the services the server runs (see :mod:`micro_tui.slices`).

The runtime's ``Logs`` stream sends a service's last lines, then its new ones in batches (up
to 1,000 lines or 50 ms) with the count of lines the server dropped because this follower fell
behind. :func:`follow_all` merges several services' streams into one, and reconnects each with
backoff when it fails or ends (a server restarted, a service not run yet): the fake and the
real slice share it, so they reconnect alike. No grpc or textual import here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "DEFAULT_TAIL",
    "RECONNECT_LINES",
    "RETRY_SECONDS",
    "LogChunk",
    "LogLine",
    "LogSource",
    "LogsFacade",
    "Opener",
    "follow_all",
]

DEFAULT_TAIL = 100
"""How many of a service's last lines a follow starts with."""
RECONNECT_LINES = 10_000
"""The most lines a reconnect asks for (those written since the last line seen)."""
RETRY_SECONDS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""The waits before reconnecting, one per failed attempt in a row (the last repeats)."""
QUEUE_CHUNKS = 64
"""Chunks waiting for the reader at most; past it the streams wait, and the server counts
what its follower could not take as dropped (the workspace never loses lines silently)."""


@dataclass(frozen=True, slots=True)
class LogSource:
    """A service the runtime runs or ran (a killed service's logs stay readable)."""

    name: str
    status: str = ""
    """pending, building, starting, running, stopping, stopped or error."""
    instances: int = 1


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a service wrote: ``ts`` in unix nanoseconds; ``stream`` stdout, stderr or
    runtime (the supervisor's lines about the service, ``instance`` -1 when about all)."""

    service: str
    ts: int
    stream: str
    instance: int
    text: str


@dataclass(frozen=True, slots=True)
class LogChunk:
    """What a follow yields: lines of one service, with ``dropped`` lines the server lost
    before them; or (``state`` set, no lines) a change of that service's stream:
    ``connecting``, or ``retrying`` with the reason in ``detail``."""

    service: str
    lines: tuple[LogLine, ...] = ()
    dropped: int = 0
    state: str = ""
    detail: str = ""


class LogsFacade(Protocol):
    """What the logs area reads."""

    async def sources(self) -> list[LogSource]:
        """The services of this namespace the runtime knows, sorted by name (raises
        :class:`micro.errors.MicroError`)."""
        ...

    def follow(self, services: Sequence[str], *, tail: int = DEFAULT_TAIL) -> AsyncIterator[LogChunk]:
        """The last ``tail`` lines of each of ``services``, then their new lines as they are
        written, merged, until the caller stops iterating. A stream that fails or ends is
        reopened with backoff (a ``retrying`` chunk says why), from the line after the last
        one seen; it never raises."""
        ...


Opener = Callable[[str, int, int], AsyncIterator[LogChunk]]
"""``open(service, count, since_ns)``: one follow of one service's log, as the runtime
sends it (``since_ns`` 0: no bound); raises :class:`micro.errors.MicroError` on failure."""


def _reason(exc: BaseException) -> str:
    detail = getattr(exc, "detail", "") or str(exc) or type(exc).__name__
    return str(detail).splitlines()[0] if str(detail) else type(exc).__name__


async def _pump(open_one: Opener, service: str, tail: int, out: asyncio.Queue[LogChunk]) -> None:
    attempt, last, count = 0, 0, tail
    while True:
        await out.put(LogChunk(service, state="connecting"))
        try:
            async for chunk in open_one(service, count, last):
                attempt = 0
                lines = chunk.lines
                if last:  # a reconnect asks from the second of the last line: skip those seen
                    lines = tuple(line for line in lines if line.ts > last)
                if lines:
                    last = lines[-1].ts
                if lines or chunk.dropped:
                    await out.put(LogChunk(service, lines, chunk.dropped))
            reason = "the stream ended"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = _reason(exc)
        delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
        attempt += 1
        await out.put(LogChunk(service, state="retrying", detail=f"{reason}; again in {delay:g}s"))
        await asyncio.sleep(delay)
        count = RECONNECT_LINES if last else tail


async def follow_all(open_one: Opener, services: Sequence[str], *, tail: int) -> AsyncIterator[LogChunk]:
    """:meth:`LogsFacade.follow` over ``open_one``: one task per service, merged in the order
    chunks arrive."""
    queue: asyncio.Queue[LogChunk] = asyncio.Queue(QUEUE_CHUNKS)
    tasks = [asyncio.create_task(_pump(open_one, name, tail, queue)) for name in dict.fromkeys(services)]
    try:
        while True:
            yield await queue.get()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
