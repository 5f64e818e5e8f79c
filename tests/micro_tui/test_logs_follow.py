"""How the logs slice follows: merged streams, reconnects with backoff from the line after
the last one seen, dropped counts passed on (``follow_all``, shared by the fake and real)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from micro import errors
from micro_tui.slices import logs as logs_module
from micro_tui.slices.logs import LogChunk, LogLine, follow_all


def line(ts: int, text: str, service: str = "svc") -> LogLine:
    return LogLine(service, ts * 1_000_000_000, "stdout", 0, text)


class Script:
    """An opener playing one list of chunks per attempt (an exception: the attempt fails)."""

    def __init__(self, *attempts: list[LogChunk] | Exception) -> None:
        self.attempts = list(attempts)
        self.opened: list[tuple[str, int, int]] = []

    async def __call__(self, service: str, count: int, since_ns: int) -> AsyncIterator[LogChunk]:
        self.opened.append((service, count, since_ns))
        if not self.attempts:
            await asyncio.Event().wait()  # a quiet stream
        attempt = self.attempts.pop(0)
        if isinstance(attempt, Exception):
            raise attempt
        for chunk in attempt:
            yield chunk


async def take(stream: AsyncIterator[LogChunk], count: int) -> list[LogChunk]:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(count)]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs_module, "RETRY_SECONDS", (0.01, 0.02))


async def test_a_stream_that_ends_is_reopened_after_the_last_line_seen() -> None:
    script = Script(
        [LogChunk("svc", (line(1, "a"), line(2, "b")))],
        # the runtime answers from the second of the last line: "b" again, then new ones
        [LogChunk("svc", (line(2, "b"), line(3, "c")), dropped=4)],
    )
    stream = follow_all(script, ["svc"], tail=50)
    try:
        got = await take(stream, 6)
    finally:
        await stream.aclose()
    assert [c.state for c in got] == ["connecting", "", "retrying", "connecting", "", "retrying"]
    assert got[2].detail == "the stream ended; again in 0.01s"
    assert [x.text for x in got[4].lines] == ["c"]  # "b" only once
    assert got[4].dropped == 4  # passed on
    assert script.opened[0] == ("svc", 50, 0)
    assert script.opened[1][1:] == (logs_module.RECONNECT_LINES, 2_000_000_000)


async def test_failures_back_off_and_say_why_then_recover() -> None:
    script = Script(
        errors.NotFound("Service not found"),
        errors.Unavailable("failed to connect to micro server at x"),
        [LogChunk("svc", (line(1, "up"),))],
    )
    stream = follow_all(script, ["svc"], tail=5)
    try:
        got = await take(stream, 6)
    finally:
        await stream.aclose()
    retries = [c.detail for c in got if c.state == "retrying"]
    assert retries == [
        "Service not found; again in 0.01s",
        "failed to connect to micro server at x; again in 0.02s",  # a longer wait
    ]
    assert [x.text for x in got[-1].lines] == ["up"]
    assert script.opened[2] == ("svc", 5, 0)  # nothing seen yet: the tail again


async def test_services_are_merged_and_closing_the_follow_stops_every_stream() -> None:
    streams: dict[str, asyncio.Queue[LogChunk]] = {"a": asyncio.Queue(), "b": asyncio.Queue()}
    closed: list[str] = []

    async def opener(service: str, count: int, since_ns: int) -> AsyncIterator[LogChunk]:
        try:
            while True:
                yield await streams[service].get()
        finally:
            closed.append(service)

    stream = follow_all(opener, ["a", "b"], tail=1)
    await take(stream, 2)  # both connecting
    streams["b"].put_nowait(LogChunk("b", (line(1, "from b", "b"),)))
    streams["a"].put_nowait(LogChunk("a", (line(2, "from a", "a"),)))
    got = await take(stream, 2)
    assert [c.lines[0].text for c in got] == ["from b", "from a"]  # as they came
    await stream.aclose()
    assert sorted(closed) == ["a", "b"]
