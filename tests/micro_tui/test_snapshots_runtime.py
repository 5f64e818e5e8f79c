"""Snapshots of area 6 (runtime) on the fake facade's fixed services, at 120×40 and 80×24.

Every SVG under ``__snapshots__`` was looked at when it was committed.
"""

from __future__ import annotations

from typing import Any

import pytest

from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from micro_tui.screens.runtime import RuntimeScreen
from micro_tui.widgets.runtime_table import RuntimeTable
from tests.micro_tui.test_pilot import until


async def _status(pilot: Any) -> None:
    """Three services (running, error, running), the one in error highlighted."""
    app = pilot.app
    await pilot.press("6")
    await until(pilot, lambda: isinstance(app.screen, RuntimeScreen))
    table = app.screen.query_one(RuntimeTable)
    await until(pilot, lambda: table.row_count == 3)
    table.focus()
    table.select("broken")
    await until(pilot, lambda: table.highlighted is not None and table.highlighted.name == "broken")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_runtime_area(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(MicroApp(FakeFacade()), terminal_size=size, run_before=_status)
