"""The one gate of mutating actions: read-only refusal, confirm, the CLI line shown and logged."""

from __future__ import annotations

from micro_tui.actions import Mutation, cli_line
from micro_tui.app import MicroApp
from micro_tui.dialogs.confirm import ConfirmDialog
from micro_tui.facade import EnvInfo
from micro_tui.fake import FakeFacade
from tests.micro_tui.test_pilot import until


def test_cli_line_quotes_what_the_shell_would_split() -> None:
    assert cli_line("store", "write", "a key", '{"x": 1}') == "micro store write 'a key' '{\"x\": 1}'"
    assert cli_line("kill", "helloworld") == "micro kill helloworld"


async def test_a_mutation_runs_and_shows_its_cli_command() -> None:
    app = MicroApp(FakeFacade())
    ran: list[str] = []

    async def do() -> str:
        ran.append("write")
        return "ok"

    results: list[object] = []
    async with app.run_test() as pilot:
        line = cli_line("store", "write", "k", "v")
        assert app.perform(Mutation("write key k", line), do, done=results.append)
        await until(pilot, lambda: results == ["ok"])
        assert ran == ["write"] and app.commands_run == [line]


async def test_a_destructive_mutation_waits_for_a_confirm_and_n_cancels_it() -> None:
    app = MicroApp(FakeFacade())
    ran: list[str] = []

    async def do() -> None:
        ran.append("delete")

    async with app.run_test() as pilot:
        line = cli_line("store", "delete", "[b]k[/b]")
        app.perform(Mutation('delete key "[b]k[/b]"', line, destructive=True), do)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog))
        assert ran == [] and app.commands_run == []
        app.perform(Mutation('delete key "[b]k[/b]"', line, destructive=True), do)
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: ran == ["delete"])
        await until(pilot, lambda: app.commands_run == [line])


async def test_a_read_only_env_refuses_a_mutation_with_the_clis_words() -> None:
    fake = FakeFacade()
    fake.session.add_env(EnvInfo("frozen", "127.0.0.1:1", read_only=True))
    fake.session.set_env("frozen")
    app = MicroApp(fake)
    ran: list[str] = []

    async def do() -> None:
        ran.append("write")

    async with app.run_test() as pilot:
        app.sync_session()
        await pilot.pause()
        assert not app.perform(Mutation("write key k", cli_line("store", "write", "k", "v")), do)
        assert not app.perform(Mutation("kill x", cli_line("kill", "x"), destructive=True), do)
        assert not isinstance(app.screen, ConfirmDialog)
        assert ran == [] and app.commands_run == []
        assert app.session.refusal("write key k") == "Environment 'frozen' is read-only: write key k refused"
