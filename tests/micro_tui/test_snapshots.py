"""Snapshots of a deterministic workspace (fake facade, no network, no cursor blink).

Every SVG under ``__snapshots__`` was looked at when it was committed.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, Input, TextArea

from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade, greeter_service
from micro_tui.widgets.service_list import ServiceList


class SnapApp(MicroApp):
    """The workspace on the fake facade with the greeter highlighted."""

    def __init__(self, theme: str = "micro-dark", *, logged_in: bool = True) -> None:
        super().__init__(FakeFacade(logged_in=logged_in))
        self.theme = theme


async def _services_ready(pilot: Any) -> None:
    app = pilot.app
    services = app.screen.query_one(ServiceList)
    for _ in range(200):
        if services.option_count:
            break
        await pilot.pause(0.02)
    services.highlighted = services.shown_names().index("greeter")
    services.focus()
    detail = app.screen.query_one("#detail")
    for _ in range(200):
        if detail.versions and detail.versions[0].name == "greeter" and _columns_settled(detail):
            break
        await pilot.pause(0.02)
    await pilot.pause()


def _columns_settled(detail: Any) -> bool:
    """The endpoints table has sized its columns to its cells (it does so when idle)."""
    table = detail.query_one(DataTable)
    return table.row_count > 0 and all(
        column.content_width >= max(len(str(cell)) for cell in table.get_column(key))
        for key, column in table.columns.items()
    )


def _invoke(endpoint: str, fill: dict[str, str] | None = None, send: bool = False) -> Any:
    async def run_before(pilot: Any) -> None:
        await _services_ready(pilot)
        version = greeter_service()
        pilot.app.open_invoke(version, next(e for e in version.endpoints if e.name == endpoint))
        await pilot.pause(0.1)
        screen = pilot.app.screen
        for editor in [*screen.query(Input), *screen.query(TextArea)]:
            editor.cursor_blink = False  # a blinking cursor would make the snapshot flaky
        for wid, value in (fill or {}).items():
            pilot.app.screen.query_one(f"#{wid}").value = value
        await pilot.pause(0.1)
        if send:
            await pilot.press("ctrl+j")
            await pilot.pause(0.1)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_services_area(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(SnapApp(), terminal_size=size, run_before=_services_ready)


@pytest.mark.parametrize("theme", ["micro-light"])
def test_house_theme(snap_compare: Any, theme: str) -> None:
    # micro-dark is the default theme of every other snapshot
    assert snap_compare(SnapApp(theme), terminal_size=(120, 40), run_before=_services_ready)


def test_invoke_form_empty(snap_compare: Any) -> None:
    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=_invoke("Greeter.Hello"))


def test_invoke_form_filled_and_sent(snap_compare: Any) -> None:
    fill = {"f-name": "Alice", "f-times": "3"}
    assert snap_compare(
        SnapApp(), terminal_size=(120, 40), run_before=_invoke("Greeter.Hello", fill, send=True)
    )


def test_invoke_form_validation_error(snap_compare: Any) -> None:
    fill = {"f-i32": "99999999999", "f-name": "kitchen"}
    assert snap_compare(
        SnapApp(), terminal_size=(120, 40), run_before=_invoke("Greeter.Cook", fill, send=True)
    )


def test_env_picker(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _services_ready(pilot)
        await pilot.press("f2")
        await pilot.pause(0.1)

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)


def test_namespace_picker(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _services_ready(pilot)
        pilot.app.save_pins(["dev"])
        await pilot.press("f3")
        await pilot.pause(0.1)

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)


def test_palette(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _services_ready(pilot)
        from textual.command import CommandList

        await pilot.press("ctrl+p")
        await pilot.pause()
        pilot.app.screen.query_one(Input).cursor_blink = False  # a blinking cursor is flaky
        await pilot.press(*"invoke greeter")
        # the endpoint provider answers after the registry: wait for all four hits
        for _ in range(250):
            found = pilot.app.screen.query(CommandList)
            if found and found.first().option_count == 4:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.3)

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)


def test_help(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _services_ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)


def test_login_dialog(snap_compare: Any) -> None:
    """Opened by itself (not logged in): a refused password's detail, then a masked one."""

    async def run_before(pilot: Any) -> None:
        for _ in range(200):
            if type(pilot.app.screen).__name__ == "LoginDialog":
                break
            await pilot.pause(0.02)
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.press(*"admin", "enter", *"wrong", "enter")
        await pilot.pause(0.2)
        await pilot.press(*"secret")
        await pilot.pause()

    assert snap_compare(SnapApp(logged_in=False), terminal_size=(120, 40), run_before=run_before)
