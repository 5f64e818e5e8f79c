"""The log batcher (micro_tui/logbuffer.py), without a UI: bounded, batched, and every line
received either written or counted as dropped."""

from __future__ import annotations

from micro_tui.logbuffer import DEFAULT_LIMIT, LineFilter, LogBuffer, clock, saved_line
from micro_tui.slices.logs import LogChunk, LogLine


def lines(service: str, *texts: str, start: int = 0) -> tuple[LogLine, ...]:
    return tuple(
        LogLine(service, (start + i + 1) * 1_000_000, "stdout", 0, text) for i, text in enumerate(texts)
    )


def numbered(count: int, start: int = 0) -> LogChunk:
    return LogChunk("svc", lines("svc", *(f"line {start + i}" for i in range(count)), start=start))


def test_lines_wait_until_drained_then_come_as_one_batch_in_order() -> None:
    buffer = LogBuffer()
    assert buffer.limit == DEFAULT_LIMIT == 10_000
    buffer.add(numbered(3))
    assert buffer.waiting == 3 and not buffer.kept
    batch = buffer.drain()
    assert [e.text for e in batch.entries] == ["line 0", "line 1", "line 2"]
    assert [e.kind for e in batch.entries] == ["line"] * 3
    assert buffer.waiting == 0 and len(buffer.kept) == 3
    assert buffer.drain().entries == []  # nothing new: nothing to write


def test_the_kept_window_is_bounded_and_evicted_lines_are_not_drops() -> None:
    buffer = LogBuffer(limit=5)
    for start in range(0, 12, 3):
        buffer.add(numbered(3, start))
        batch = buffer.drain()
    assert [e.text for e in buffer.kept] == [f"line {i}" for i in range(7, 12)]
    assert batch.oldest == buffer.kept[0].seq  # the screen forgets what is older
    assert (buffer.received, buffer.evicted, buffer.dropped) == (12, 7, 0)


def test_the_servers_dropped_count_becomes_a_marker_where_the_loss_was() -> None:
    buffer = LogBuffer()
    buffer.add(numbered(2))
    buffer.add(LogChunk("svc", lines("svc", "after", start=9), dropped=1234))
    entries = buffer.drain().entries
    assert [(e.kind, e.text) for e in entries] == [
        ("line", "line 0"),
        ("line", "line 1"),
        ("dropped", "dropped 1,234 lines"),
        ("line", "after"),
    ]
    assert entries[2].count == 1234 and buffer.dropped == 1234
    assert buffer.lines == 3 + 1234  # every line of the follow, shown or not


def test_lines_that_cannot_be_written_while_paused_are_counted_and_marked() -> None:
    buffer = LogBuffer(limit=10)
    buffer.paused = True
    buffer.add(numbered(25))
    assert buffer.drain().entries == []  # paused: nothing written
    assert buffer.waiting == 9  # the window's room, less one place for the marker
    buffer.paused = False
    entries = buffer.drain().entries
    assert entries[0].kind == "dropped" and entries[0].count == 16
    assert entries[0].text.startswith("dropped 16 lines")
    assert [e.text for e in entries[1:]] == [f"line {i}" for i in range(16, 25)]
    # every line received is written or counted
    written = sum(1 for e in entries if e.kind == "line")
    assert written + buffer.dropped == buffer.received == buffer.lines == 25
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)  # the screen relies on it


def test_force_drains_while_paused_and_a_retry_is_a_note() -> None:
    buffer = LogBuffer()
    buffer.paused = True
    buffer.add(numbered(1))
    buffer.add(LogChunk("svc", state="retrying", detail="Service not found; again in 1s"))
    buffer.add(LogChunk("svc", state="connecting"))  # not worth a line
    entries = buffer.drain(force=True).entries
    assert [(e.kind, e.text) for e in entries] == [
        ("line", "line 0"),
        ("note", "svc: Service not found; again in 1s"),
    ]


def test_clear_forgets_lines_but_not_the_counts() -> None:
    buffer = LogBuffer()
    buffer.add(LogChunk("svc", lines("svc", "a"), dropped=2))
    buffer.drain()
    buffer.add(numbered(1))
    buffer.clear()
    assert not buffer.kept and buffer.waiting == 0 and buffer.drain().entries == []
    assert (buffer.received, buffer.dropped) == (2, 2)


def test_filter_is_a_regex_over_the_whole_kept_window_and_bang_inverts() -> None:
    buffer = LogBuffer()
    buffer.add(LogChunk("svc", lines("svc", "GET /a 200", "GET /b 500", "POST /c 201"), dropped=1))
    buffer.drain()
    ok = LineFilter(r"\s2\d\d$")
    assert [e.text for e in buffer.shown(ok) if e.kind == "line"] == ["GET /a 200", "POST /c 201"]
    assert any(e.kind == "dropped" for e in buffer.shown(ok))  # markers always show
    assert [e.text for e in buffer.shown(LineFilter("!get")) if e.kind == "line"] == ["POST /c 201"]
    assert LineFilter("get").spans("GET a get") == [(0, 3), (6, 9)]  # case-insensitive
    assert LineFilter("!get").spans("POST") == []
    assert [e.kind for e in buffer.shown(LineFilter("[b"))] == ["dropped"]  # a bad regex: literal
    assert len(buffer.shown(None)) == 4


def test_saved_lines_carry_utc_time_and_source() -> None:
    buffer = LogBuffer()
    buffer.add(LogChunk("svc", (LogLine("svc", 1_767_225_600_123_456_789, "stderr", 1, "boom"),), dropped=3))
    marker, line = buffer.drain().entries
    assert saved_line(line) == "2026-01-01T00:00:00.123456789Z svc/1 boom"
    assert saved_line(marker) == "-- dropped 3 lines --"
    assert clock(1_767_225_600_123_456_789, utc=True) == "00:00:00.123"
