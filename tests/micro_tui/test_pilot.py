"""The workspace driven with Pilot against the fake facade."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Log, OptionList, Static, TabbedContent, TextArea

from micro_tui import history
from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade, greeter_service
from micro_tui.screens.invoke import InvokeScreen
from micro_tui.screens.services import ServicesScreen
from micro_tui.widgets.micro_header import MicroHeader
from micro_tui.widgets.service_detail import ServiceDetail
from micro_tui.widgets.service_list import ServiceList


async def until(pilot: Any, condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll (with the app running) until ``condition`` holds."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met in time")


def login_ready(app: MicroApp) -> bool:
    """The login dialog is up and takes keys (its username box has the focus)."""
    from micro_tui.dialogs.login_dialog import LoginDialog

    return isinstance(app.screen, LoginDialog) and app.screen.focused is not None


def header_text(app: MicroApp) -> str:
    return str(app.screen.query_one(MicroHeader).render())


async def open_endpoint(app: MicroApp, pilot: Any, endpoint: str) -> InvokeScreen:
    version = greeter_service()
    app.open_invoke(version, next(e for e in version.endpoints if e.name == endpoint))
    await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
    await pilot.pause()
    assert isinstance(app.screen, InvokeScreen)
    return app.screen


async def test_services_list_and_detail() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names)
        assert "env local" in header_text(app) and "● connected" in header_text(app)
        services.focus()
        services.highlighted = services.shown_names().index("greeter")
        detail = app.screen.query_one("#detail")
        await until(pilot, lambda: bool(detail.versions) and detail.versions[0].name == "greeter")
        assert next(e.name for e in app.screen.query_one("#detail").versions[0].endpoints) == "Greeter.Chat"


async def test_filter_regex_and_inverse() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: len(services.names) == 9)
        await pilot.press("slash", *"^(auth|store)$")
        await until(pilot, lambda: services.shown_names() == ["auth", "store"])
        assert services.option_count == 2
        box = app.screen.query_one("#filter", Input)
        box.value = "!e"
        await until(pilot, lambda: services.shown_names() == ["auth", "config"])
        await pilot.press("enter", "escape")
        await until(pilot, lambda: services.option_count == 9)


async def test_filter_without_match_clears_the_selection_until_it_matches_again() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        detail = app.screen.query_one(ServiceDetail)
        await until(pilot, lambda: "greeter" in services.names)
        services.focus()
        services.highlighted = services.shown_names().index("greeter")
        await until(pilot, lambda: bool(detail.versions) and detail.versions[0].name == "greeter")
        table = detail.query_one(DataTable)
        summary = detail.query_one("#summary", Static)
        await pilot.press("slash", *"zzz")
        await until(pilot, lambda: "No service matches 'zzz'" in str(summary.render()))
        assert table.row_count == 0 and detail.versions == [] and detail.selected is None
        await pilot.press("enter")  # back in the (empty) list
        for key in ("i", "enter", "tab", "enter", "i"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, ServicesScreen), f"{key} opened a filtered-out service"
        await pilot.press("slash", *["backspace"] * 3, *"greet")
        await until(pilot, lambda: bool(detail.versions) and detail.versions[0].name == "greeter")
        assert table.row_count == 4 and services.highlighted_name == "greeter"
        await pilot.press("enter", "i")
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))


async def test_live_watch_adds_and_removes() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names)
        fake.registry.register(greeter_service("hello"))
        await until(pilot, lambda: "hello" in services.names)
        fake.registry.deregister("auth")
        await until(pilot, lambda: "auth" not in services.names)


async def test_switch_env_and_namespace() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await until(pilot, lambda: type(app.screen).__name__ == "EnvPicker")
        await pilot.press("down", "down", "enter")
        await until(pilot, lambda: fake.session.env.name == "prod")
        await until(pilot, lambda: "READ-ONLY" in header_text(app))
        assert "env prod" in header_text(app)
        # namespaces: pin team-a, then pick it by its digit
        await pilot.press("f3")
        await until(pilot, lambda: type(app.screen).__name__ == "NamespacePicker")
        await pilot.press("down", "p")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ServicesScreen))
        await pilot.press("f3")
        await until(pilot, lambda: type(app.screen).__name__ == "NamespacePicker")
        await pilot.press("1")
        await until(pilot, lambda: fake.session.namespace == "team-a")
        await until(pilot, lambda: "ns team-a" in header_text(app))


async def test_add_env_with_read_only_and_colour() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await until(pilot, lambda: type(app.screen).__name__ == "EnvPicker")
        await pilot.press("a")
        await until(pilot, lambda: type(app.screen).__name__ == "AddEnvDialog")
        screen = app.screen
        screen.query_one("#env-name", Input).value = "qa"
        screen.query_one("#env-address", Input).value = "qa.example.com:8081"
        screen.query_one("#env-color", Input).value = "magenta"
        screen.query_one("#env-read-only").value = True
        screen.query_one("#env-name", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: fake.session.env.name == "qa")
        assert fake.session.env.read_only and fake.session.env.color == "magenta"


async def test_command_bar_switches_and_reports_errors() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("colon", *"ns dev", "enter")
        await until(pilot, lambda: fake.session.namespace == "dev")
        await pilot.press("colon", *"bogus", "enter")
        await until(
            pilot, lambda: "unknown command" in str(app.screen.query_one("#command-error", Static).render())
        )
        await pilot.press("escape")
        await pilot.press("colon", *"theme micro-light", "enter")
        await until(pilot, lambda: app.theme == "micro-light")
        await pilot.press("2")
        await until(pilot, lambda: app.current_mode == "logs")
        assert type(app.screen).__name__ == "LogsScreen"


async def test_form_send_delivers_exactly_the_built_message() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Cook")
        screen.query_one("#f-name", Input).focus()
        await pilot.press(*"Alice")
        screen.query_one("#f-i64", Input).value = "9007199254740993"
        screen.query_one("#f-color").value = "BLUE"
        await pilot.press("ctrl+j")
        await until(pilot, lambda: len(fake.calls.received) == 1)
        assert fake.calls.received[0][:3] == (
            "greeter",
            "Greeter.Cook",
            {"name": "Alice", "i64": "9007199254740993", "color": "BLUE"},
        )
        await until(pilot, lambda: "OK" in str(screen.query_one("#status-view", Static).render()))
        # the JSON tab shows the same request
        screen.query_one("#request-tabs", TabbedContent).active = "json"
        await until(pilot, lambda: "Alice" in screen.query_one("#json-editor", TextArea).text)
        assert json.loads(screen.query_one("#json-editor", TextArea).text)["i64"] == "9007199254740993"
        saved = history.load_history("local")
        assert [(e.service, e.endpoint, e.status) for e in saved] == [("greeter", "Greeter.Cook", "OK")]


async def test_validation_error_blocks_send_and_focuses_field() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Cook")
        screen.query_one("#f-u64", Input).value = "18446744073709551616"
        screen.query_one("#f-name", Input).focus()
        await pilot.press("ctrl+j")
        await until(pilot, lambda: app.focused is screen.query_one("#f-u64", Input))
        assert fake.calls.received == []
        assert "out of range" in str(screen.query_one("FieldRow.-error .field-error", Static).render())


async def test_json_syntax_error_blocks_switching_back() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        tabs = screen.query_one("#request-tabs", TabbedContent)
        tabs.active = "json"
        await pilot.pause()
        editor = screen.query_one("#json-editor", TextArea)
        editor.text = '{"name": "x",\n oops}'
        tabs.active = "form"
        await until(pilot, lambda: tabs.active == "json" and app.focused is editor)
        assert editor.cursor_location == (1, 1)
        editor.text = '{"name": "Bob", "times": 2}'
        tabs.active = "form"
        await until(pilot, lambda: screen.query_one("#f-name", Input).value == "Bob")


async def test_error_reply_shows_code_detail_and_cli() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "error"
        await pilot.press("ctrl+j")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "400 Bad Request" in str(status.render()))
        text = str(status.render())
        assert "name must not be 'error'" in text
        assert """micro call greeter Greeter.Hello '{"name":"error"}'""" in text


async def test_an_error_detail_with_markup_is_shown_as_text() -> None:
    """Server text is never markup: '[/bold]' would raise MarkupError, '[b]…[/b]' would vanish."""
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "error [/bold] [b]x[/b]"
        await pilot.press("ctrl+j")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "400 Bad Request" in str(status.render()))
        # the notification renders too: raised, then painted
        await until(pilot, lambda: any("[/bold]" in n.message for n in app._notifications))
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        assert app.is_running
        assert "name must not be 'error [/bold] [b]x[/b]'" in str(status.render())
        screen.query_one("#reply-tabs", TabbedContent).active = "headers"
        await pilot.pause()
        assert "[/bold]" in str(screen.query_one("#headers-view", Static).render())  # the trailer


async def test_stream_in_order_and_cancellable() -> None:
    import asyncio

    fake = FakeFacade()
    fake.calls.stream_step = asyncio.Event()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Stream")
        screen.query_one("#f-name", Input).value = "Ann"
        screen.query_one("#f-times", Input).value = "5"
        await pilot.press("ctrl+j")
        log = screen.query_one("#stream-log", Log)
        for n in (1, 2):
            fake.calls.stream_step.set()
            await until(pilot, lambda n=n: log.line_count >= n)
        assert [line.split(" ", 2)[1] for line in log.lines] == ["#1", "#2"]  # after the time
        assert "Hello Ann #2" in log.lines[1]
        assert not screen.query_one("#cancel").disabled
        log.focus()
        await pilot.press("escape")
        await until(pilot, lambda: fake.calls.cancelled_streams == 1)
        assert isinstance(app.screen, InvokeScreen)  # escape cancelled, it did not leave
        assert log.lines[-1] == "cancelled"


async def test_save_to_collection_and_copy_as_cli() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "Zed"
        await pilot.press("f8")
        assert app.clipboard == """micro call greeter Greeter.Hello '{"name":"Zed"}'"""
        await pilot.press("ctrl+s")
        await until(pilot, lambda: type(app.screen).__name__ == "SaveDialog")
        app.screen.query_one("#name", Input).value = "zed hello"
        app.screen.query_one("#name", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: history.collection_names() == ["default"])
        [entry] = history.load_collection("default")
        assert (entry.name, json.loads(entry.request)) == ("zed hello", {"name": "Zed"})


async def test_keymap_remaps_by_id(micro_home: Any) -> None:
    micro_home.mkdir(parents=True, exist_ok=True)
    (micro_home / "keymap.toml").write_text('[keymap]\n"services.filter" = "f"\n')
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: len(services.names) == 9)
        await pilot.press("f")
        await until(pilot, lambda: app.focused is app.screen.query_one("#filter", Input))


async def test_disconnected_server_shows_in_header() -> None:
    fake = FakeFacade(connected=False)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "○" in header_text(app))
        fake.session.set_connected(True)
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names, seconds=10)
        await until(pilot, lambda: "● connected" in header_text(app))


async def test_closing_the_invoke_screen_keeps_watching_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Leaving the invoke screen cancels its own call, not the workspace's connection monitor."""
    from micro_tui import app as app_module

    monkeypatch.setattr(app_module, "PING_SECONDS", 0.05)
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        await pilot.press("ctrl+j")
        await until(pilot, lambda: "OK" in str(screen.query_one("#status-view", Static).render()))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ServicesScreen))
        pings = fake.session.pings
        await until(pilot, lambda: fake.session.pings >= pings + 3)  # still pinging


async def test_500_deregistrations_reach_the_list_in_a_few_listings() -> None:
    """Watch events are applied in batches: not one re-listing per event (500 took 26 s)."""
    fake = FakeFacade(extra_services=500)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: len(services.names) == 509)
        before = fake.registry.list_calls
        for i in range(500):
            fake.registry.deregister(f"svc-{i:04d}")
        fake.registry.register(greeter_service("hello"))
        await until(pilot, lambda: len(services.names) == 10 and "hello" in services.names)
        assert fake.registry.list_calls - before <= 5, fake.registry.list_calls - before


async def test_palette_searches_every_service_and_looks_up_only_the_named_ones() -> None:
    fake = FakeFacade(extra_services=300)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(app.known_services) == 309)
        fake.registry.get_calls = 0
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.pause()
        assert fake.registry.get_calls == 0  # opening it asks the registry nothing
        app.screen.query_one(Input).value = "svc-0299"  # one query, past the old first 200
        options = app.screen.query_one("CommandList", OptionList)

        def prompts() -> str:
            return "\n".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))

        await until(pilot, lambda: "invoke svc-0299 Svc-0299.List" in prompts())
        assert "service svc-0299" in prompts()
        assert fake.registry.get_calls <= 20


async def test_details_show_every_version_and_node() -> None:
    """The details box scrolls instead of cutting at 12 lines: the last version is there."""
    from dataclasses import replace

    from micro_tui.facade import NodeInfo

    fake = FakeFacade()
    base = greeter_service("multi")
    nodes = tuple(NodeInfo(f"multi-{i}", f"10.0.0.{i}:9000") for i in range(6))
    versions = [replace(base, version=f"v{i}", nodes=nodes) for i in range(4)]
    fake.registry.services["multi"] = versions[0]

    async def get_service(name: str) -> list[Any]:
        return versions if name == "multi" else [fake.registry.services[name]]

    fake.registry.get_service = get_service  # type: ignore[method-assign]
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "multi" in services.names)
        services.focus()
        services.highlighted = services.shown_names().index("multi")
        detail = app.screen.query_one(ServiceDetail)
        await until(pilot, lambda: len(detail.versions) == 4)
        box = detail.query_one("#summary-box")
        assert "4 versions" in str(box.border_title)
        summary = str(detail.query_one("#summary", Static).render())
        assert "version v3" in summary and summary.count("multi-5") == 4
        assert box.max_scroll_y > 0  # taller than its box: it scrolls (and shows a scrollbar)
        box.scroll_end(animate=False)  # after the next refresh: waited for, not paused
        await until(pilot, lambda: box.scroll_y == box.max_scroll_y)


async def test_enter_on_the_read_only_checkbox_adds_the_env() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await until(pilot, lambda: type(app.screen).__name__ == "EnvPicker")
        await pilot.press("a")
        await until(pilot, lambda: type(app.screen).__name__ == "AddEnvDialog")
        await pilot.pause()
        await pilot.press(*"qa", "tab", *"qa.example.com:8081", "tab", "tab", "tab", "space", "enter")
        await until(pilot, lambda: fake.session.env.name == "qa")
        assert fake.session.env.read_only


def test_placeholder_areas_point_only_at_commands_that_exist() -> None:
    from commands.main import COMMANDS
    from micro_tui.areas import AREAS, PLACEHOLDER

    for area in AREAS:
        if area.screen == PLACEHOLDER and area.cli:
            assert area.cli.split()[1] in COMMANDS, area.cli
