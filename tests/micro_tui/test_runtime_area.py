"""Area 6 on the fake facade: the live table, run with its progress, update, scale, kill
(confirmed), ``l`` to the logs, ``:status name`` and the palette."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.coordinate import Coordinate
from textual.widgets import Input, Log, OptionList

from micro_tui.app import MicroApp
from micro_tui.dialogs.confirm import ConfirmDialog
from micro_tui.dialogs.runtime_run import RunDialog
from micro_tui.dialogs.runtime_scale import ScaleDialog
from micro_tui.fake import FakeFacade
from micro_tui.screens.runtime import RuntimeScreen
from micro_tui.widgets.runtime_table import RuntimeTable
from tests.micro_tui.test_pilot import until


async def _runtime(app: MicroApp, pilot: Any) -> tuple[RuntimeScreen, RuntimeTable]:
    await pilot.press("6")
    await until(pilot, lambda: isinstance(app.screen, RuntimeScreen))
    screen = app.screen
    assert isinstance(screen, RuntimeScreen)
    table = screen.query_one(RuntimeTable)
    await until(pilot, lambda: table.row_count == 3)
    table.focus()
    return screen, table


async def test_run_shows_its_cli_line_then_the_builds_progress(tmp_path: Path) -> None:
    app = MicroApp(FakeFacade())
    folder = tmp_path / "orders"
    folder.mkdir()
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await _runtime(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RunDialog))
        dialog = app.screen
        dialog.query_one("#run-source", Input).value = str(folder)
        dialog.query_one("#run-instances", Input).value = "0"
        await pilot.press("enter")
        assert isinstance(app.screen, RunDialog)  # refused in place
        assert "at least 1" in str(dialog.query_one("#run-error").render())
        dialog.query_one("#run-instances", Input).value = "2"
        line = f"micro run {folder} --instances 2"
        await until(pilot, lambda: str(dialog.query_one("#run-cli").render()) == line)
        await pilot.press("enter")
        await until(pilot, lambda: app.commands_run == [line])
        progress = screen.query_one(Log)
        await until(pilot, lambda: any(line.endswith("orders: running") for line in progress.lines))
        assert any("creating the virtual environment" in line for line in progress.lines)
        await until(pilot, lambda: table.highlighted is not None and table.highlighted.name == "orders")
        assert table.highlighted is not None and table.highlighted.instances == 2


async def test_a_source_that_does_not_exist_fails_in_one_line(tmp_path: Path) -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen, _ = await _runtime(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RunDialog))
        app.screen.query_one("#run-source", Input).value = str(tmp_path / "nope")
        await pilot.press("enter")
        progress = screen.query_one(Log)
        await until(pilot, lambda: any("does not exist" in line for line in progress.lines))
        assert app.commands_run == []


async def test_update_scale_and_kill_each_run_their_cli_line() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        _, table = await _runtime(app, pilot)
        assert table.highlighted is not None and table.highlighted.name == "billing"
        await pilot.press("u")
        await until(pilot, lambda: app.commands_run == ["micro update billing"])
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ScaleDialog))
        app.screen.query_one(Input).value = "4"
        await pilot.press("enter")
        await until(pilot, lambda: app.commands_run[-1] == "micro update billing --instances 4")
        await until(pilot, lambda: str(table.get_cell_at(Coordinate(0, 4))) == "4")  # in place
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        confirm: Any = app.screen
        assert confirm.mutation.cli == "micro kill billing"
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RuntimeScreen))
        assert "billing" in fake.runtime.services
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: table.row_count == 2 and app.commands_run[-1] == "micro kill billing")
        await pilot.press("c")
        assert app.clipboard == "micro status broken"


async def test_the_table_changes_in_place_between_polls() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        _, table = await _runtime(app, pilot)
        table.move_cursor(row=2)
        cleared: list[int] = []
        original = table.clear

        def clear(*args: Any, **kwargs: Any) -> Any:
            cleared.append(1)
            return original(*args, **kwargs)

        table.clear = clear  # type: ignore[method-assign]
        fake.runtime.services["broken"].status = "running"
        await pilot.press("r")
        await until(pilot, lambda: str(table.get_cell_at(Coordinate(1, 3))) == "running")
        assert cleared == [] and table.cursor_row == 2  # no rebuild, the cursor stays


async def test_l_opens_the_services_logs_and_status_command_selects_one() -> None:
    app = MicroApp(FakeFacade())
    opened: list[tuple[str, tuple[str, ...]]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(":", *"status helloworld", "enter")
        await until(pilot, lambda: isinstance(app.screen, RuntimeScreen))
        table = app.screen.query_one(RuntimeTable)
        await until(pilot, lambda: table.highlighted is not None and table.highlighted.name == "helloworld")
        app.open_area = lambda key, args=(): opened.append((key, args))  # type: ignore[method-assign]
        await pilot.press("l")
        assert opened == [("logs", ("helloworld",))]


async def test_the_palette_finds_running_services() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        app.screen.query_one(Input).value = "running broken"
        options = app.screen.query_one("CommandList", OptionList)
        await until(
            pilot,
            lambda: (
                options.option_count > 0 and "running broken" in str(options.get_option_at_index(0).prompt)
            ),
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RuntimeScreen))
        table = app.screen.query_one(RuntimeTable)
        await until(pilot, lambda: table.highlighted is not None and table.highlighted.name == "broken")
