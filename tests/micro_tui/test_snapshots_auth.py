"""Snapshots of the auth area on the fake facade (fixture accounts, rules, namespaces).

Every SVG under ``__snapshots__`` was looked at when it was committed."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input

from micro_tui.dialogs.auth_rule import RuleDialog
from micro_tui.screens.auth import AuthScreen
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_snapshots import SnapApp


async def _auth(pilot: Any) -> AuthScreen:
    app = pilot.app
    app.open_area("auth")
    await until(pilot, lambda: isinstance(app.screen, AuthScreen))
    screen = app.screen
    assert isinstance(screen, AuthScreen)

    def loaded() -> bool:
        return bool(screen.accounts) and all(w.is_finished for w in app.workers if w.node is screen)

    await until(pilot, loaded)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    return screen


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_auth_area(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(SnapApp(), terminal_size=size, run_before=_auth)


def test_auth_rule_form_refuses_a_bad_resource(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        screen = await _auth(pilot)
        screen.query_one("#auth-rules").focus()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, RuleDialog))
        dialog = pilot.app.screen
        for box in dialog.query(Input):
            box.cursor_blink = False
        dialog.query_one("#rule-id", Input).value = "ops-config"
        dialog.query_one("#rule-resource", Input).value = "service:config"
        dialog.query_one("#rule-scope", Input).value = "ops"
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)
