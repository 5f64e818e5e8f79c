"""The store area on the fake facade: keyset paging, filters, ``:store``, the palette, ``c``."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input, Static

from micro.store import Order
from micro_tui.app import MicroApp
from micro_tui.commands import parse
from micro_tui.fake import FakeFacade
from micro_tui.screens.store import StoreScreen
from micro_tui.slices.store import PAGE
from micro_tui.slices.store_cli import read_line
from micro_tui.widgets.store_keys import KeyTable
from micro_tui.widgets.store_value import StoreValue, hex_dump, render_value, ttl_text
from tests.micro_tui.test_pilot import until


async def _store(app: MicroApp, pilot: Any, table: str = "") -> StoreScreen:
    await pilot.press("4")
    await until(pilot, lambda: isinstance(app.screen, StoreScreen))
    screen = app.screen
    assert isinstance(screen, StoreScreen)
    await until(pilot, lambda: bool(_keys(screen)) and idle(app, screen))
    if table:
        screen.choose_table(table)
        await until(pilot, lambda: idle(app, screen))
    return screen


def idle(app: MicroApp, screen: StoreScreen) -> bool:
    """No listing or read of the screen is in flight."""
    return all(w.is_finished for w in app.workers if w.node is screen)


def _keys(screen: StoreScreen) -> tuple[str, ...]:
    return screen.query_one(KeyTable).keys


def _status(screen: StoreScreen) -> str:
    return str(screen.query_one("#store-page", Static).render())


def _names(first: int, last: int) -> tuple[str, ...]:
    return tuple(f"key:{i:07d}" for i in range(first, last))


async def test_a_big_table_pages_by_key_both_ways_and_g_jumps_to_the_end() -> None:
    fake = FakeFacade()
    fake.store.fill("big", 1000)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _store(app, pilot, "big")
        assert _keys(screen) == _names(0, PAGE)
        assert _status(screen) == "keys 1–100 · ↓"
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: _keys(screen) == _names(100, 200))
        assert _status(screen) == "keys 101–200 · ↑ ↓"
        table = screen.query_one(KeyTable)
        assert table.cursor_row == 0
        await pilot.press("up")  # past the first row: the page before, the cursor on its last key
        await until(pilot, lambda: _keys(screen) == _names(0, 100))
        assert table.selected_key == "key:0000099"
        await pilot.press("G")
        await until(pilot, lambda: _keys(screen) == _names(900, 1000))
        assert table.selected_key == "key:0000999"
        assert _status(screen) == "last 100 keys · ↑ end"
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: _keys(screen) == _names(800, 900))
        assert _status(screen) == "101–200 from the end · ↑ ↓"
        await pilot.press("down")  # past the last row: the page after
        await until(pilot, lambda: _keys(screen) == _names(900, 1000))
        await pilot.press("g")
        await until(pilot, lambda: _keys(screen) == _names(0, 100))
        # every page came by key: the slice has no offset to ask for, and the last page
        # was a descending listing from the end
        assert {"start_after": "", "order": Order.DESC} in [
            {k: v for k, v in call.items() if k in ("start_after", "order")} for call in fake.store.listed
        ]
        assert all(call["table"] == "big" for call in fake.store.listed[-6:])


async def test_prefix_and_suffix_filter_the_keys_and_escape_clears_them() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _store(app, pilot, "users")
        await pilot.press("slash", "u")
        box = screen.query_one("#store-prefix", Input)
        assert app.focused is box and box.value == "u"
        box.value = "user:000"  # the rest of the prefix at once: one listing, not seven
        await until(pilot, lambda: _keys(screen) == tuple(f"user:{i:04d}" for i in range(1, 9)))
        await pilot.press("tab", "8")
        await until(pilot, lambda: _keys(screen) == ("user:0008",))
        assert _status(screen) == "prefix 'user:000' · suffix '8' · key 1 · end"
        await pilot.press("enter", "escape")
        await until(pilot, lambda: "avatar:0001" in _keys(screen))
        assert screen.prefix == screen.suffix == ""


async def test_the_value_pane_shows_pretty_json_raw_and_hex_with_version_and_ttl() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _store(app, pilot, "users")
        pane = screen.query_one(StoreValue)
        await pilot.press("down")  # avatar:0001 → note
        await pilot.press("down")  # user:0001
        await until(pilot, lambda: pane.record is not None and pane.record.key == "user:0001")
        assert pane.editor.text.startswith('{\n  "name": "ada",')
        assert "user:0001\nversion 1 · ttl never" in str(pane.query_one("#store-meta", Static).render())
        await pilot.press("v")
        await until(pilot, lambda: pane.editor.text.startswith('{"name": "ada"'))
        await pilot.press("v")
        await until(pilot, lambda: pane.editor.text.startswith("00000000  7b 22 6e 61"))
        await pilot.press("enter")  # into the value, escape back to the keys
        assert app.focused is pane.editor
        await pilot.press("escape")
        assert isinstance(app.focused, KeyTable)
    assert render_value(b"\xff\x00", "pretty") == (hex_dump(b"\xff\x00"), "hex")
    assert render_value(b"[b]not json", "pretty") == ("[b]not json", "raw")
    assert ttl_text(None) == "never" and ttl_text(3725.2) == "1h 2m 6s"


async def test_store_command_opens_the_table_at_a_prefix() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        app.run_command(parse(":store sessions sess:00"))
        await until(pilot, lambda: isinstance(app.screen, StoreScreen))
        screen = app.screen
        assert isinstance(screen, StoreScreen)
        await until(pilot, lambda: screen.table == "sessions" and _keys(screen)[:1] == ("sess:001",))
        assert screen.prefix == "sess:00"
        pane = screen.query_one(StoreValue)
        await until(pilot, lambda: pane.record is not None and pane.record.key == "sess:001")
        assert "ttl 10m" in str(pane.query_one("#store-meta", Static).render())


async def test_c_copies_the_read_of_the_selected_key_and_the_palette_finds_keys_by_prefix() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _store(app, pilot, "users")
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await pilot.press("c")
        assert copied == [read_line("avatar:0001", table="users")]
        assert copied[0] == "micro store read --table users --output json avatar:0001"
        from micro_tui.palette import StoreKeyCommands

        provider = StoreKeyCommands(app.screen)
        hits = [hit async for hit in provider.search("user:000")]
        assert [hit.text for hit in hits] == [f"key user:{i:04d}" for i in range(1, 9)]
        hits[6].command()
        await until(pilot, lambda: screen.prefix == "user:0007" and _keys(screen) == ("user:0007",))


async def test_tables_keys_and_values_holding_markup_show_as_written() -> None:
    from micro_tui.slices.store import StoreRecord

    fake = FakeFacade()
    fake.store.records[("micro", "[b]t")] = {
        "[/]k": StoreRecord("[/]k", b"[red]v[/red]", 5.0, 1, {"[i]": "[/]"})
    }
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await _store(app, pilot)
        app.run_command(parse(":store '[b]t'"))
        screen = app.screen
        assert isinstance(screen, StoreScreen)
        pane = screen.query_one(StoreValue)
        await until(pilot, lambda: pane.record is not None and pane.record.key == "[/]k")
        assert _keys(screen) == ("[/]k",)
        assert pane.editor.text == "[red]v[/red]"
        assert "[i]=[/]" in str(pane.query_one("#store-meta", Static).render())
        await pilot.press("delete")  # the confirm shows the key and its command as written
        await until(pilot, lambda: "[/]k" in str(app.screen.query_one("#confirm Static").render()))
        await pilot.press("y")
        await until(pilot, lambda: _keys(screen) == ())
