"""The config area on the fake facade: what a save sends (UI-free), ``:config path``, the
palette's config paths, and a read-only environment's refusal."""

from __future__ import annotations

import pytest
from textual.widgets import TextArea

from micro_tui.app import MicroApp
from micro_tui.commands import parse
from micro_tui.fake import FakeFacade
from micro_tui.palette import ConfigPaths
from micro_tui.screens.config import ConfigScreen
from micro_tui.slices.config import SECRET, Op, nodes, parse_json, plan_save, touches
from tests.micro_tui.test_pilot import until


def test_a_save_deletes_removed_keys_merges_the_rest_and_never_sends_a_mask() -> None:
    old = {"host": "h", "port": 1, "key": SECRET, "pool": {"min": 1, "max": 2}}
    new = {"host": "h2", "key": SECRET, "pool": {"min": 1}}
    assert plan_save("db", old, new) == [
        Op("del", "db.port"),
        Op("del", "db.pool.max"),
        Op("set", "db", {"host": "h2"}),
    ]
    # a masked leaf given a value is set on its own, as a secret
    assert plan_save("db", {"key": SECRET}, {"key": "new"}) == [Op("set", "db.key", "new", True)]
    [op] = plan_save("db.key", "old", "new", secret=True)
    assert op.cli == "micro config set db.key '\"new\"' --secret"
    assert plan_save("db", 1, {"a": 1}) == [Op("set", "db", {"a": 1})]  # a scalar becomes an object
    assert plan_save("db", {"a": 1}, {"a": 1}) == []
    assert Op("del", "a b").cli == "micro config del 'a b'"


def test_paths_changes_and_the_editors_json() -> None:
    assert [n.path for n in nodes({"b": 1, "a": {"c": {"d": 2}}})] == ["a", "a.c", "a.c.d", "b"]
    assert touches("db", "db.host") and touches("db.host", "db") and touches("db.host", "db.host")
    assert not touches("db.hostname", "db.host") and not touches("dbx", "db")
    with pytest.raises(ValueError, match="line 1, column 7"):
        parse_json('{"a": }')


async def _area(app: MicroApp, pilot: object, *args: str) -> ConfigScreen:
    app.run_command(parse(":config " + " ".join(args)))
    await until(pilot, lambda: isinstance(app.screen, ConfigScreen))
    screen = app.screen
    assert isinstance(screen, ConfigScreen)
    await until(pilot, lambda: screen.document is not None)
    return screen


async def test_the_config_command_opens_the_area_at_a_path() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _area(app, pilot, "db.pool.max")
        await until(pilot, lambda: screen.path == "db.pool.max")
        assert screen.query_one("#config-editor", TextArea).text == "16"


async def test_the_palette_finds_config_paths() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        provider = ConfigPaths(app.screen)
        await provider.startup()
        hits = [hit async for hit in provider.search("pool.max")]
        assert hits and str(hits[0].text) == "config db.pool.max"
        hits[0].command()
        await until(pilot, lambda: isinstance(app.screen, ConfigScreen))
        screen = app.screen
        assert isinstance(screen, ConfigScreen)
        await until(pilot, lambda: screen.path == "db.pool.max")


async def test_a_read_only_env_refuses_a_save_with_the_clis_words() -> None:
    fake = FakeFacade()
    fake.session.set_env("prod")
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        app.sync_session()
        screen = await _area(app, pilot, "db.host")
        await until(pilot, lambda: screen.path == "db.host")
        await pilot.press("e")
        screen.query_one("#config-editor", TextArea).text = '"other"'
        await pilot.press("ctrl+s")
        refused = "Environment 'prod' is read-only: set config db.host refused"
        await until(pilot, lambda: any(n.message == refused for n in app._notifications))
        assert isinstance(app.screen, ConfigScreen)  # no diff to confirm: nothing will be saved
        assert fake.config.documents["micro"]["db"]["host"] == "db.internal"
        assert app.commands_run == []


async def test_a_new_value_nested_too_deeply_is_said_and_the_dialog_stays() -> None:
    # the value is read as `micro config set` reads it: JSON hundreds of levels deep is the
    # server's one line, not a RecursionError that ends the workspace
    from textual.widgets import Input

    from micro_tui.dialogs.config_new import ConfigNewDialog

    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        screen = await _area(app, pilot, "db")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, ConfigNewDialog))
        dialog = app.screen
        dialog.query_one("#config-new-path", Input).value = "deep"
        dialog.query_one("#config-new-value", Input).value = "[" * 5000 + "]" * 5000
        await pilot.click("#config-new-set")
        await until(
            pilot,
            lambda: any(str(n.message).startswith("Value nested too deeply") for n in app._notifications),
        )
        assert app.screen is dialog and screen.is_attached
