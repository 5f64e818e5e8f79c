"""The config area on RealFacade against a real in-process server: what another user (the
CLI) changes shows while the area is open, an edit in progress is kept unless the user
reloads, the diff is shown before saving, secrets are revealed on demand, deletes are
confirmed; the server's document changes as the user asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.widgets import TextArea

from micro import errors
from micro_tui.app import MicroApp
from micro_tui.dialogs.config_changed import ConfigChangedDialog
from micro_tui.dialogs.config_save import ConfigSaveDialog
from micro_tui.real import RealFacade
from micro_tui.screens.config import ConfigScreen
from tests.micro_tui._greeter import Greeter
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_real import greeter, logged_in

__all__ = ["greeter"]  # the fixture, used by name


@pytest.fixture
async def cli_config(greeter: Greeter) -> AsyncIterator[Any]:
    """Another client of the server's config (as ``micro config set`` would be), as admin."""
    from micro import environment
    from micro.auth.grpc import GrpcAuth
    from micro.config.grpc import GrpcConfig

    address = environment.resolve().address
    auth = GrpcAuth(address, namespace="micro")
    token = await auth.token(id="admin", secret="micro", namespace="micro")
    await auth.close()
    config = GrpcConfig(address, namespace="micro", token=token.access_token)
    yield config
    await config.close()


async def _config_area(app: MicroApp, pilot: Any) -> ConfigScreen:
    await logged_in(app, pilot)
    app.open_area("config")
    await until(pilot, lambda: isinstance(app.screen, ConfigScreen))
    screen = app.screen
    assert isinstance(screen, ConfigScreen)
    await until(pilot, lambda: screen.document is not None, seconds=10)
    return screen


def _text(screen: ConfigScreen) -> str:
    return screen.query_one("#config-editor", TextArea).text


async def test_a_change_from_the_cli_shows_and_an_edit_in_progress_is_kept(cli_config: Any) -> None:
    await cli_config.set("app", {"host": "a", "port": 1})
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _config_area(app, pilot)
        screen.select("app.host")
        await until(pilot, lambda: _text(screen) == '"a"')
        # not editing: the watched change replaces what the editor shows
        await cli_config.set("app.host", "b")
        await until(pilot, lambda: _text(screen) == '"b"', seconds=10)
        # editing: the change asks first; "keep" leaves the edit alone
        await pilot.press("e")
        editor = screen.query_one("#config-editor", TextArea)
        editor.text = '"mine"'
        await cli_config.set("app.host", "c")
        await until(pilot, lambda: isinstance(app.screen, ConfigChangedDialog), seconds=10)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ConfigScreen))
        assert _text(screen) == '"mine"' and screen.original == "c" and screen.dirty
        # the save shows the diff against the server's value now, then writes it
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfigSaveDialog))
        dialog = app.screen
        assert isinstance(dialog, ConfigSaveDialog)
        assert dialog.mutation.cli == "micro config set app.host '\"mine\"'"
        await pilot.press("y")
        await until(pilot, lambda: app.commands_run == [dialog.mutation.cli], seconds=10)
        assert await cli_config.get("app") == {"host": "mine", "port": 1}
        # "reload" drops the edit for the server's value
        editor.text = '"again"'
        await cli_config.set("app.host", "d")
        await until(pilot, lambda: isinstance(app.screen, ConfigChangedDialog), seconds=10)
        await pilot.press("r")
        await until(pilot, lambda: _text(screen) == '"d"' and not screen.dirty)


async def test_an_object_edit_keeps_its_secrets_a_secret_is_revealed_a_delete_confirmed(
    cli_config: Any,
) -> None:
    await cli_config.set("pay", {"url": "u", "old": 1})
    await cli_config.set("pay.key", "sk-1", secret=True)
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _config_area(app, pilot)
        screen.select("pay")
        await until(pilot, lambda: '"key": "[secret]"' in _text(screen))
        await pilot.press("e")
        screen.query_one("#config-editor", TextArea).text = '{"url": "v", "key": "[secret]"}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfigSaveDialog))
        await pilot.press("y")
        await until(pilot, lambda: len(app.commands_run) == 1, seconds=10)
        assert app.commands_run == ['micro config del pay.old && micro config set pay \'{"url":"v"}\'']
        assert await cli_config.get("pay", secret=True) == {"url": "v", "key": "sk-1"}

        # a masked secret is read-only until revealed; a delete asks first
        screen.select("pay.key")
        await until(pilot, lambda: _text(screen) == '"[secret]"')
        assert screen.query_one("#config-editor", TextArea).read_only
        await pilot.press("s")
        await until(pilot, lambda: _text(screen) == '"sk-1"' and screen.revealed, seconds=10)
        await pilot.press("s")
        await until(pilot, lambda: _text(screen) == '"[secret]"')
        await pilot.press("delete")
        await until(pilot, lambda: not isinstance(app.screen, ConfigScreen))
        await pilot.press("y")
        await until(pilot, lambda: app.commands_run[-1] == "micro config del pay.key", seconds=10)
        with pytest.raises(errors.NotFound):
            await cli_config.get("pay.key")
        await until(pilot, lambda: "key" not in (screen.document or {}).get("pay", {}), seconds=10)
