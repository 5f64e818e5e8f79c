"""Snapshots of the logs area on the fake facade (fixed lines and times, UTC, no cursor
blink), at 120×40 and 80×24. Every SVG under ``__snapshots__`` was looked at when committed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Input

from micro_tui.screens.logs import LogsScreen
from tests.micro_tui.test_logs_screen import texts
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_snapshots import SnapApp

SIZES = [(120, 40), (80, 24)]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The lines' times in UTC, whatever the machine's zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _on_logs(*keys: str, dropped: int = 0) -> Any:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await until(pilot, app.painted.is_set)
        app.open_area("logs", ("greeter,worker",))
        await until(pilot, lambda: isinstance(app.screen, LogsScreen) and "killed" in texts(app.screen))
        screen = app.screen
        picker = screen.query_one("#logs-picker")
        await until(pilot, lambda: picker.option_count == 2)
        if dropped:
            app.facade.logs.report_dropped("worker", dropped)
            app.facade.logs.write("worker", "caught up")
            await until(pilot, lambda: "caught up" in texts(screen))
        for box in screen.query(Input):
            box.cursor_blink = False
        await pilot.press(*keys)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_logs_area(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(SnapApp(), terminal_size=size, run_before=_on_logs())


@pytest.mark.parametrize("size", SIZES)
def test_logs_filtered_with_times_and_a_dropped_marker(snap_compare: Any, size: tuple[int, int]) -> None:
    keys = ("t", "slash", *"hello|order", "enter", "n")
    assert snap_compare(SnapApp(), terminal_size=size, run_before=_on_logs(*keys, dropped=1234))
