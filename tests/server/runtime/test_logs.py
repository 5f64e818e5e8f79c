"""The runtime's log files: last N lines from the end, since, rotation, and followers fed
in-process with bounded queues (a slow follower is told what it missed)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from server.runtime import _logs
from server.runtime._logs import Logs, tail
from tests._poll import eventually


def test_last_lines_come_from_the_end_of_the_file(tmp_path: Path) -> None:
    logs = Logs(tmp_path)
    book = logs.book("micro", "svc")
    for i in range(5000):
        book.write("stdout", i % 2, f"line {i}")
    last = tail(logs.path("micro", "svc"), 3)
    assert [r.line for r in last] == ["line 4997", "line 4998", "line 4999"]
    assert [r.instance for r in last] == [1, 0, 1]
    assert len(tail(logs.path("micro", "svc"), -1)) == 5000
    # none is none: a follow from now on (count 0) got the last line twice, or lost the
    # lines queued meanwhile behind it
    assert tail(logs.path("micro", "svc"), 0) == []
    logs.close()


def test_since_keeps_only_newer_lines(tmp_path: Path) -> None:
    logs = Logs(tmp_path)
    book = logs.book("micro", "svc")
    book.write("stdout", 0, "old")
    cut = time.time_ns()
    book.write("stdout", 0, "new")
    assert [r.line for r in tail(logs.path("micro", "svc"), 15, since_ns=cut)] == ["new"]
    logs.close()


def test_rotation_keeps_the_previous_file_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_logs, "ROTATE_BYTES", 2000)  # about 18 lines: 30 rotate once
    logs = Logs(tmp_path)
    book = logs.book("micro", "svc")
    for i in range(30):
        book.write("stdout", 0, f"line {i}")
    path = logs.path("micro", "svc")
    assert path.with_name("svc.log.1").exists()
    assert path.stat().st_size < 2000
    assert [r.line for r in tail(path, 25)] == [f"line {i}" for i in range(5, 30)]
    logs.close()


async def test_a_follower_gets_new_lines_and_a_slow_one_is_told_what_it_missed(tmp_path: Path) -> None:
    logs = Logs(tmp_path)
    book = logs.book("micro", "svc")
    book.write("stdout", 0, "before")
    follow = logs.read("micro", "svc", count=1, follow=True)
    first = await anext(follow)
    assert [r.line for r in first.records] == ["before"]
    pending = asyncio.ensure_future(anext(follow))
    await asyncio.sleep(0)
    book.write("stderr", 1, "after")
    batch = await asyncio.wait_for(pending, 10)
    assert [(r.stream, r.instance, r.line) for r in batch.records] == [("stderr", 1, "after")]
    # a follower that does not read: its queue is bounded, the writer never waits
    for i in range(_logs.FOLLOW_QUEUE + 25):
        book.write("stdout", 0, f"burst {i}")
    batch = await asyncio.wait_for(anext(follow), 10)
    assert batch.dropped == 25
    assert len(batch.records) == _logs.BATCH_LINES
    await follow.aclose()
    assert not book.followers
    logs.close()


async def test_a_follower_gets_the_runtimes_own_lines_too(tmp_path: Path) -> None:
    """ "killed", "run …", "error: …" are written with instance -1: a live follow shows them
    as a fresh tail does, and the book's closing wakes the follower without a record."""
    logs = Logs(tmp_path)
    book = logs.book("micro", "svc")
    follow = logs.read("micro", "svc", count=0, follow=True)
    pending = asyncio.ensure_future(anext(follow))
    await eventually(lambda: bool(book.followers), "the follow joined the book")
    book.write("stdout", 0, "serving")
    book.write("runtime", -1, "killed")
    lines: list[tuple[str, int, str]] = []
    batch = await asyncio.wait_for(pending, 10)
    lines += [(r.stream, r.instance, r.line) for r in batch.records]
    while len(lines) < 2:
        batch = await asyncio.wait_for(anext(follow), 10)
        lines += [(r.stream, r.instance, r.line) for r in batch.records]
    assert lines == [("stdout", 0, "serving"), ("runtime", -1, "killed")]
    logs.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(follow), 10)
