"""Area 6 against a real in-process server: a folder run from the form is built (its
progress shown) and runs, then is killed (confirmed)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Log

from commands.new import scaffold
from micro_tui.app import MicroApp
from micro_tui.dialogs.confirm import ConfirmDialog
from micro_tui.dialogs.runtime_run import RunDialog
from micro_tui.real import RealFacade
from micro_tui.screens.runtime import RuntimeScreen
from micro_tui.widgets.runtime_table import RuntimeTable
from tests.micro_tui._greeter import Greeter
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_real import greeter, logged_in

__all__ = ["greeter"]  # the fixture: a real server as the current env


async def test_a_folder_is_run_with_its_progress_then_killed(greeter: Greeter, tmp_path: Path) -> None:
    folder = scaffold("tuisvc", tmp_path)
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        await pilot.press("6")
        await until(pilot, lambda: isinstance(app.screen, RuntimeScreen))
        screen = app.screen
        table = screen.query_one(RuntimeTable)
        table.focus()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, RunDialog))
        app.screen.query_one("#run-source", Input).value = str(folder)
        await pilot.press("enter")
        await until(pilot, lambda: app.commands_run == [f"micro run {folder}"], seconds=20)
        progress = screen.query_one(Log)
        ran = "tuisvc: running"
        await until(pilot, lambda: any(line.endswith(ran) for line in progress.lines), seconds=60)
        await until(pilot, lambda: getattr(table.services.get("tuisvc"), "status", "") == "running")
        services = await app.facade.runtime.status()
        assert [(s.name, s.status) for s in services] == [("tuisvc", "running")]
        assert table.select("tuisvc")
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: app.commands_run[-1] == "micro kill tuisvc", seconds=20)
        await until(pilot, lambda: "tuisvc" not in table.services, seconds=10)
        assert await app.facade.runtime.status() == []
