"""User and server text that looks like markup (``[/]``, ``[b]x[/b]``, ``[link=…]``) shows as
written on every surface of the workspace, and never fails it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Static

from micro_tui import history
from micro_tui.app import MicroApp
from micro_tui.facade import CallResult, EndpointInfo, NodeInfo, ServiceVersion
from micro_tui.fake import FakeFacade
from micro_tui.screens.invoke import InvokeScreen
from micro_tui.screens.services import ServicesScreen
from micro_tui.widgets.service_detail import ServiceDetail
from micro_tui.widgets.service_list import ServiceList
from tests.micro_tui.test_pilot import until

CLOSE, BOLD, LINK = "[/]", "[b]x[/b]", "[link=https://example.com]y[/link]"
SIZE = (160, 50)


def screen_text(app: MicroApp) -> str:
    """What the terminal shows now (the screen, its dialogs and toasts), as plain text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def odd_service() -> ServiceVersion:
    endpoint = EndpointInfo("Odd.Do", "/odd.Odd/Do", f"odd.{CLOSE}", LINK, "unary")
    return ServiceVersion(BOLD, "v[1]", (endpoint,), (NodeInfo(f"n{CLOSE}", "127.0.0.1:1"),), {"k": LINK})


async def test_names_filters_and_details_show_markup_as_written() -> None:
    fake = FakeFacade()
    fake.registry.register(odd_service())
    app = MicroApp(fake)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: BOLD in services.names)
        services.focus()
        services.highlighted = services.shown_names().index(BOLD)
        detail = app.screen.query_one(ServiceDetail)
        await until(pilot, lambda: bool(detail.versions) and detail.versions[0].name == BOLD)
        await pilot.pause()
        shown = screen_text(app)
        # the option list, the details box, the endpoint table's cells
        for text in (BOLD, "version v[1]", f"n{CLOSE}", f"k={LINK}", f"odd.{CLOSE}", LINK):
            assert text in shown, text
        # the filter goes into the list's border title
        for typed in ("[/", "[a-z]", LINK):
            await pilot.press("slash", *typed)
            title = f"/{typed}"[:12]  # the list's border is narrow: the start of it
            await until(pilot, lambda title=title: title in screen_text(app))  # type: ignore[misc]
            await pilot.press("escape")
        assert isinstance(app.screen, ServicesScreen)
        # the copied CLI line (a toast) names the service
        await pilot.press("c")
        await until(pilot, lambda: f"micro call {BOLD} Odd.Do" in screen_text(app))


async def test_palette_hits_built_from_history_and_saved_requests(micro_home: Path) -> None:
    history.record("local", history.Entry("greeter", "Greeter.Hello", '{"s":"[/]"}', status=BOLD))
    history.save_to_collection("default", history.Entry("greeter", "Greeter.Hello", "{}", name=LINK))
    app = MicroApp(FakeFacade())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: "greeter" in app.known_services)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        await pilot.press(*"history")
        await until(pilot, lambda: 'Greeter.Hello {"s":"[/]"}' in screen_text(app))
        assert BOLD in screen_text(app)  # the hit's help (the call's status)
        await pilot.press(*["backspace"] * 7, *"saved")
        await until(pilot, lambda: f"saved default/{LINK}" in screen_text(app))


async def test_notifications_command_bar_pickers_header_and_help(micro_home: Path) -> None:
    micro_home.mkdir(parents=True, exist_ok=True)
    # a key whose display is "[": the help table holds it as text
    (micro_home / "keymap.toml").write_text('"services.refresh" = "left_square_bracket"\n')
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: "greeter" in app.known_services)
        # a toast quoting what was typed
        await pilot.press("colon", *f"svc {CLOSE}", "enter")
        await until(pilot, lambda: f"Service {CLOSE} not found" in screen_text(app))
        # the command bar's echo of a mistake
        await pilot.press("colon", *f"{BOLD}", "enter")
        await until(pilot, lambda: f"unknown command '{BOLD}'" in screen_text(app))
        await pilot.press("escape")
        # a namespace: the header, its toast, the picker's options
        await pilot.press("colon", *f"ns {LINK}", "enter")
        await until(pilot, lambda: fake.session.namespace == LINK)
        await until(pilot, lambda: f"ns {LINK}" in screen_text(app))
        await pilot.press("f3")
        await until(pilot, lambda: type(app.screen).__name__ == "NamespacePicker")
        # below the dialog's title: its options (the header above names it too)
        await until(pilot, lambda: LINK in screen_text(app).split(" namespaces ", 1)[-1])
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ServicesScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        assert "services.refresh" in screen_text(app)


async def test_reply_headers_status_and_error_details(monkeypatch: Any) -> None:
    fake = FakeFacade()
    fake.registry.register(odd_service())

    async def call(service: str, endpoint: str, request: str, **kwargs: Any) -> CallResult:
        fake.calls.received.append((service, endpoint, request, {}))
        return CallResult(False, "", 400, "Bad Request", f"bad {CLOSE} {LINK}", 2.0, {"x-h": BOLD}, {})

    monkeypatch.setattr(fake.calls, "call", call)
    app = MicroApp(fake)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        version = odd_service()
        app.open_invoke(version, version.endpoints[0])
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
        screen = app.screen
        await until(pilot, lambda: BOLD in screen_text(app))  # the header's crumbs, the target line
        await pilot.press("ctrl+j")
        await until(pilot, lambda: bool(fake.calls.received))
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: f"bad {CLOSE} {LINK}" in str(status.render()))
        assert f"x-h: {BOLD}" in str(screen.query_one("#headers-view", Static).render())
        await until(pilot, lambda: f"bad {CLOSE}" in screen_text(app))  # the error toast
