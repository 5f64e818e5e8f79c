"""Snapshots of area 3 (events) on the fake facade's fixed topics, at 120×40 and 80×24.

Every SVG under ``__snapshots__`` was looked at when it was committed.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable

from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from micro_tui.screens.events import EventsScreen
from micro_tui.slices.events import Start
from micro_tui.widgets.events_feed import EventsFeed
from tests.micro_tui.test_pilot import until


async def _following_orders(pilot: Any) -> None:
    """``orders`` followed from offset 0: its 12 events, the cursor on the last, its groups."""
    app = pilot.app
    await pilot.press("3")
    await until(pilot, lambda: isinstance(app.screen, EventsScreen))
    screen = app.screen
    await until(pilot, lambda: screen.query_one("#topics", DataTable).row_count == 3)
    screen.follow("orders", Start(offset=0))
    feed = screen.query_one(EventsFeed)
    feed.focus()
    await until(
        pilot, lambda: len(feed.events) == 12 and screen.query_one("#groups", DataTable).row_count == 2
    )
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_events_area(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(MicroApp(FakeFacade()), terminal_size=size, run_before=_following_orders)
