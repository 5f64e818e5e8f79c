"""Snapshots of the config area on the fake facade (fixture document, a masked secret).

Every SVG under ``__snapshots__`` was looked at when it was committed."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import TextArea

from micro_tui.dialogs.config_save import ConfigSaveDialog
from micro_tui.screens.config import ConfigScreen
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_snapshots import SnapApp


async def _at_payments(pilot: Any) -> ConfigScreen:
    app = pilot.app
    app.open_area("config", ("payments",))
    await until(pilot, lambda: isinstance(app.screen, ConfigScreen))
    screen = app.screen
    await until(pilot, lambda: screen.path == "payments")
    screen.query_one(TextArea).cursor_blink = False
    screen.query_one("#config-tree").action_toggle_node()  # show the masked secret leaf
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    assert isinstance(screen, ConfigScreen)
    return screen


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_config_area(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(SnapApp(), terminal_size=size, run_before=_at_payments)


def test_config_diff_before_saving(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        screen = await _at_payments(pilot)
        await pilot.press("e")
        editor = screen.query_one(TextArea)
        editor.text = editor.text.replace("2.5", "5").replace('"https://pay.example.com"', '"https://pay2"')
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfigSaveDialog))
        await pilot.pause()

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)
