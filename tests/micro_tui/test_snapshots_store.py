"""Snapshots of the store area on the fake facade's fixture data.

Every SVG under ``__snapshots__/test_snapshots_store`` was looked at when it was committed.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input, TextArea

from micro_tui.dialogs.store_conflict import StoreConflictDialog
from micro_tui.screens.store import StoreScreen
from micro_tui.slices.store import StoreRecord
from micro_tui.widgets.store_keys import KeyTable
from micro_tui.widgets.store_value import StoreValue
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_snapshots import SnapApp, _settled


async def _users(pilot: Any) -> None:
    """The store area on table ``users``, ``user:0001`` selected and shown."""
    app = pilot.app
    await pilot.press("4")
    await until(pilot, lambda: isinstance(app.screen, StoreScreen))
    screen = app.screen
    await until(pilot, lambda: bool(screen.query_one(KeyTable).keys))
    await _settled(pilot)
    screen.choose_table("users")
    await _settled(pilot)
    keys = screen.query_one(KeyTable)
    keys.focus()
    keys.move_cursor(row=keys.keys.index("user:0001"))
    pane = screen.query_one(StoreValue)
    await until(pilot, lambda: pane.record is not None and pane.record.key == "user:0001")
    for editor in [*screen.query(Input), *screen.query(TextArea)]:
        editor.cursor_blink = False
    await _settled(pilot)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_store_area(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(SnapApp(), terminal_size=size, run_before=_users)


def test_store_edit_conflict(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _users(pilot)
        theirs = StoreRecord("user:0001", b'{"name": "ada", "email": "ada@lovelace.org"}', None, 2)
        detail = "stale version: record is at version 2, expected 1"
        pilot.app.push_screen(StoreConflictDialog("user:0001", detail, theirs, 1))
        await _settled(pilot, StoreConflictDialog)
        for editor in pilot.app.screen.query(TextArea):
            editor.cursor_blink = False
        await _settled(pilot)

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)
