"""Keys that arrive in one burst (a paste, a password manager's auto-type, tmux send-keys)
land where they would at typing speed: tab moves focus before the next key is routed."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import Input

from micro_tui.app import MicroApp
from micro_tui.dialogs.login_dialog import LoginDialog
from micro_tui.fake import FakeFacade
from micro_tui.widgets.service_list import ServiceList
from tests.micro_tui.test_pilot import login_ready, until


def burst(app: MicroApp, keys: list[str]) -> None:
    """Post every key at once, the way a terminal delivers a burst (no waiting between)."""
    from textual.keys import _character_to_key

    names = {"\t": "tab", "\r": "enter"}
    for key in keys:
        app.post_message(events.Key(names.get(key) or _character_to_key(key), key))


async def test_a_burst_of_username_tab_password_enter_logs_in() -> None:
    fake = FakeFacade(logged_in=False)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: login_ready(app))
        await pilot.pause()
        dialog = app.screen
        burst(app, [*"admin", "\t", *"micro", "\r"])
        await until(pilot, lambda: not isinstance(app.screen, LoginDialog) or bool(fake.session.logins))
        assert fake.session.logins == [("admin", "micro")]
        assert dialog.query_one("#login-username", Input).value == "admin"


async def test_a_burst_of_slash_and_a_filter_filters() -> None:
    """``/zzz/`` sent at once (tmux send-keys) types zzz/ into the filter, not into the list."""
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(80, 24)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names)
        services.focus()
        await pilot.pause()
        burst(app, [*"/zzz/"])
        box = app.screen.query_one("#filter", Input)
        await until(pilot, lambda: box.value == "zzz/" and services.option_count == 0)


async def test_a_burst_of_username_enter_password_enter_logs_in() -> None:
    fake = FakeFacade(logged_in=False)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: login_ready(app))
        await pilot.pause()
        burst(app, [*"admin", "\r", *"micro", "\r"])
        await until(pilot, lambda: not isinstance(app.screen, LoginDialog) or bool(fake.session.logins))
        assert fake.session.logins == [("admin", "micro")]


async def test_a_pasted_call_line_lands_in_the_command_bar() -> None:
    """``:call …`` pasted at once: the keys after ``:`` wait for the bar instead of reaching
    the services screen underneath (where ``c``, ``i``, ``r`` are live)."""
    from textual.keys import _character_to_key

    from micro_tui.screens.invoke import InvokeScreen

    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names)
        services.focus()
        await pilot.pause()
        line = ':call greeter Greeter.Hello {"name": "Ada"}'
        for char in line:
            app.post_message(events.Key(_character_to_key(char), char))
        app.post_message(events.Key("enter", "\r"))
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
        await pilot.pause()
        assert isinstance(app.screen, InvokeScreen)
        assert app.screen.endpoint.name == "Greeter.Hello"
        assert '"Ada"' in app.screen.request_json()
        assert not [n for n in app._notifications if n.title == "Copied"]


@pytest.mark.parametrize(
    ("area", "box_id"), [("services", "filter"), ("logs", "logs-filter"), ("store", "store-prefix")]
)
async def test_a_colon_typed_ahead_after_a_filter_opens_the_command_bar(area: str, box_id: str) -> None:
    """``/ab⏎:`` at once: ``:`` opens the command bar, as it does typed slowly, instead of
    landing in the filter (the filter's ``enter`` had not moved the focus yet).

    Keys are posted in one burst: ``pilot.press`` waits for the app to be idle after each
    key, which hides the race."""
    from micro_tui.dialogs.command_bar import CommandBar

    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names)
        app.switch_area(area)
        await until(pilot, lambda: app.current_mode == area and app.screen.focused is not None)
        await pilot.pause()
        screen = app.screen
        box = screen.query_one(f"#{box_id}", Input)
        burst(app, [*"/ab", "\r", ":"])
        await until(pilot, lambda: isinstance(app.screen, CommandBar) and box.value == "ab")
        await until(pilot, lambda: app.focused is app.screen.query_one("#command", Input))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert box.value == "ab" and screen.focused is not box


@pytest.mark.parametrize(
    ("keys", "area"),
    [("23456", "runtime"), (":logs\r3", "events"), ("4:events\r6", "runtime"), ("7:store\r2", "logs")],
)
async def test_areas_switched_in_a_burst_end_in_the_last_one_with_its_name_in_the_header(
    keys: str, area: str
) -> None:
    """Number keys and ``:area`` lines typed ahead are taken in order: the area on the screen
    is the last one asked for (a digit that bubbled up from the focused widget used to come
    after the keys behind it; a digit after ``:logs⏎`` landed in the command bar), and its
    header names it."""
    from micro_tui.widgets.micro_header import MicroHeader

    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names)
        services.focus()
        await pilot.pause()
        burst(app, list(keys))
        await until(pilot, lambda: app.current_mode == area and len(app.screen_stack) == 1)
        await until(pilot, lambda: app._typeahead is None and app.screen.is_mounted)
        await pilot.pause()
        assert app.current_mode == area and len(app.screen_stack) == 1  # nothing came after
        header = app.screen.query_one(MicroHeader)
        assert header.crumbs.split(" › ")[0] == area
        assert f"│ {area}" in str(header.render())
