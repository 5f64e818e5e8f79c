"""The store area on RealFacade against a real in-process server: what the user does there
is what the server then holds (keys written, an edit that met a newer version shown as a
conflict and not written over, deleted after a confirm), and a read-only env refuses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.widgets import Input, TextArea

from micro import environment, errors
from micro_tui.app import MicroApp
from micro_tui.dialogs.confirm import ConfirmDialog
from micro_tui.dialogs.store_conflict import StoreConflictDialog
from micro_tui.dialogs.store_write import StoreWriteDialog
from micro_tui.real import RealFacade
from micro_tui.screens.store import StoreScreen
from micro_tui.widgets.store_keys import KeyTable
from micro_tui.widgets.store_value import StoreValue
from tests.micro_tui._greeter import Greeter
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_real import greeter, logged_in

__all__ = ["greeter"]  # the fixture, used by name

TABLE = "users"
SECONDS = 10.0


async def _store_area(app: MicroApp, pilot: Any) -> StoreScreen:
    await pilot.press("4")
    await until(pilot, lambda: isinstance(app.screen, StoreScreen), seconds=SECONDS)
    screen = app.screen
    assert isinstance(screen, StoreScreen)
    await until(
        pilot, lambda: screen.table == TABLE and bool(screen.query_one(KeyTable).keys), seconds=SECONDS
    )
    return screen


async def _select(pilot: Any, screen: StoreScreen, key: str) -> StoreValue:
    table, pane = screen.query_one(KeyTable), screen.query_one(StoreValue)
    table.focus()
    table.move_cursor(row=table.keys.index(key))
    await until(pilot, lambda: pane.record is not None and pane.record.key == key, seconds=SECONDS)
    return pane


async def test_write_edit_with_a_conflict_and_delete_change_the_servers_store(greeter: Greeter) -> None:
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        store = app.facade.store
        await store.write("doc", b'{"n": 1}', table=TABLE)
        await store.write("old", b"x", table=TABLE)
        screen = await _store_area(app, pilot)
        keys = screen.query_one(KeyTable)
        assert keys.keys == ("doc", "old")

        # a new key, written through the dialog
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, StoreWriteDialog))
        await pilot.press(*"new", "enter", *"10m", "enter", *"hello", "ctrl+s")
        await until(pilot, lambda: "new" in keys.keys, seconds=SECONDS)
        written = await store.read("new", table=TABLE)
        assert (written.value, written.version) == (b"hello", 1)
        assert written.ttl is not None and 590 < written.ttl <= 600
        assert app.commands_run[-1] == "micro store write --table users --expiry 600s --version 0 new hello"

        # an edit that meets a newer version: shown, with the value now stored, not written over
        pane = await _select(pilot, screen, "doc")
        await pilot.press("e")
        await until(pilot, lambda: pane.editing and isinstance(app.focused, TextArea))
        await store.write("doc", b'{"n": "theirs"}', table=TABLE)  # someone else, meanwhile
        pane.editor.text = '{"n": "mine"}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, StoreConflictDialog), seconds=SECONDS)
        dialog = app.screen
        assert isinstance(dialog, StoreConflictDialog)
        assert dialog.current is not None and dialog.current.version == 2
        assert '"theirs"' in dialog.query_one("#store-conflict-value", TextArea).text
        assert (await store.read("doc", table=TABLE)).value == b'{"n": "theirs"}'
        await pilot.press("escape")  # back to the edit, still there
        await until(pilot, lambda: isinstance(app.screen, StoreScreen))
        assert pane.editing and pane.editor.text == '{"n": "mine"}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, StoreConflictDialog), seconds=SECONDS)
        await pilot.press("o")  # mine over theirs, on purpose: conditional on version 2
        await until(pilot, lambda: not pane.editing and pane.record is not None and pane.record.version == 3)
        assert (await store.read("doc", table=TABLE)).value == b'{"n": "mine"}'
        assert app.commands_run[-1] == 'micro store write --table users --version 2 doc \'{"n": "mine"}\''

        # a delete waits for the confirm
        await _select(pilot, screen, "old")
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert (await store.read("old", table=TABLE)).value == b"x"
        await pilot.press("y")
        await until(pilot, lambda: "old" not in keys.keys, seconds=SECONDS)
        with pytest.raises(errors.NotFound):
            await store.read("old", table=TABLE)
        assert app.commands_run[-1] == "micro store delete --table users old"


async def test_a_read_only_env_shows_the_store_and_refuses_every_change(greeter: Greeter) -> None:
    address = environment.get("test").address
    environment.add(environment.Environment("frozen", address, read_only=True))
    environment.set_current("frozen")
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        store = app.facade.store
        with pytest.raises(errors.BadRequest):
            await store.write("doc", b"1", table=TABLE)
        from micro.store import Record
        from micro.store.grpc import GrpcStore

        other = GrpcStore(address, namespace="micro", token=app.facade.session.token)  # type: ignore[attr-defined]
        await other.write(Record("doc", b"kept"), table=TABLE)
        names = [f"k:{i:03d}" for i in range(130)]
        await asyncio.gather(*(other.write(Record(k, b"v"), table=TABLE) for k in names))
        await other.close()
        screen = await _store_area(app, pilot)
        # reading pages works here too, by key both ways
        keys = screen.query_one(KeyTable)
        assert keys.keys == ("doc", *names[:99])
        await pilot.press("G")
        await until(pilot, lambda: keys.keys == tuple(names[30:]), seconds=SECONDS)
        await pilot.press("left_square_bracket")  # the start is near: a whole first page
        await until(pilot, lambda: keys.keys == ("doc", *names[:99]), seconds=SECONDS)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: keys.keys == tuple(names[99:]), seconds=SECONDS)
        await pilot.press("g")
        await until(pilot, lambda: keys.keys[:1] == ("doc",), seconds=SECONDS)
        pane = await _select(pilot, screen, "doc")
        for key in ("e", "n", "E"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, StoreScreen) and not pane.editing
        await pilot.press("delete")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        assert app.commands_run == []
        assert (await store.read("doc", table=TABLE)).value == b"kept"
        notes = [str(n.message) for n in app._notifications]
        assert any("Environment 'frozen' is read-only" in n for n in notes)
        assert not screen.query_one("#store-prefix", Input).value
