"""Snapshots of a deterministic workspace (fake facade, no network, no cursor blink).

Every SVG under ``__snapshots__`` was looked at when it was committed.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static, TextArea

from micro_tui.app import MicroApp
from micro_tui.dialogs.env_picker import EnvPicker
from micro_tui.dialogs.help_screen import HelpScreen
from micro_tui.dialogs.namespace_picker import NamespacePicker
from micro_tui.fake import FakeFacade, greeter_service
from micro_tui.screens.invoke import InvokeScreen
from micro_tui.widgets.service_list import ServiceList
from tests.micro_tui.test_pilot import login_ready, until


class SnapApp(MicroApp):
    """The workspace on the fake facade with the greeter highlighted."""

    def __init__(self, theme: str = "micro-dark", *, logged_in: bool = True) -> None:
        super().__init__(FakeFacade(logged_in=logged_in))
        self.theme = theme


async def _services_ready(pilot: Any) -> None:
    app = pilot.app
    services = app.screen.query_one(ServiceList)
    await until(pilot, lambda: bool(services.option_count))
    services.highlighted = services.shown_names().index("greeter")
    services.focus()
    detail = app.screen.query_one("#detail")
    await until(
        pilot,
        lambda: bool(detail.versions) and detail.versions[0].name == "greeter" and _columns_settled(detail),
    )
    # not _settled: the services screen's listing worker runs for as long as the screen
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def _settled(pilot: Any, screen: type | None = None) -> None:
    """Before a snapshot: ``screen`` (when given) is up, the workers of the screen on top (a
    call, a listing) are done, and every message and animation since has been handled."""
    app = pilot.app
    if screen is not None:
        await until(pilot, lambda: isinstance(app.screen, screen))
    top = app.screen
    await until(pilot, lambda: all(w.is_finished for w in app.workers if w.node is top))
    await pilot.wait_for_scheduled_animations()
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
        await _settled(pilot, InvokeScreen)
        screen = pilot.app.screen
        for editor in [*screen.query(Input), *screen.query(TextArea)]:
            editor.cursor_blink = False  # a blinking cursor would make the snapshot flaky
        for wid, value in (fill or {}).items():
            pilot.app.screen.query_one(f"#{wid}").value = value
        await _settled(pilot)
        if send:
            await pilot.press("ctrl+j")
            await _settled(pilot)  # the call's worker has shown its reply

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
        await _settled(pilot, EnvPicker)

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)


def test_namespace_picker(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _services_ready(pilot)
        pilot.app.save_pins(["dev"])
        await pilot.press("f3")
        await _settled(pilot, NamespacePicker)  # its worker has listed the namespaces

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
        await until(
            pilot,
            lambda: bool(found := pilot.app.screen.query(CommandList)) and found.first().option_count == 4,
        )
        await _settled(pilot)

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)


def test_help(snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await _services_ready(pilot)
        await pilot.press("question_mark")
        await _settled(pilot, HelpScreen)

    assert snap_compare(SnapApp(), terminal_size=(120, 40), run_before=run_before)


def test_login_dialog(snap_compare: Any) -> None:
    """Opened by itself (not logged in): a refused password's detail, then a masked one."""

    async def run_before(pilot: Any) -> None:
        await until(pilot, lambda: login_ready(pilot.app))
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.press(*"admin", "enter", *"wrong", "enter")
        error = pilot.app.screen.query_one("#login-error", Static)
        await until(pilot, lambda: "Invalid credentials" in str(error.render()))
        await pilot.press(*"secret")
        await _settled(pilot)

    assert snap_compare(SnapApp(logged_in=False), terminal_size=(120, 40), run_before=run_before)
