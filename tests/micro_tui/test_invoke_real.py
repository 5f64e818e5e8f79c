"""The invoke screen on RealFacade against a real in-process server and the real greeter
(``tests/micro_tui/_greeter.py``): what the user types reaches the service, what the service
sends back reaches the reply panes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from textual.widgets import Input, Log, Static

from micro_tui.app import MicroApp
from micro_tui.real import RealFacade
from tests.micro_tui._greeter import Greeter
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_real import greeter, invoke, logged_in

__all__ = ["greeter"]  # the fixture, used by name


async def _ok(pilot: Any, status: Static) -> None:
    await until(pilot, lambda: "OK" in str(status.render()), seconds=10)


async def test_form_sends_an_any_holding_a_service_type_or_a_well_known_type(greeter: Greeter) -> None:
    # protobuf's default pool knows neither demo.Inner nor (unimported) google.protobuf.Empty:
    # "Can not find message descriptor by type_url"
    app = MicroApp(RealFacade())
    packed = [
        {"@type": "type.googleapis.com/demo.Inner", "label": "x", "count": 2},
        {"@type": "type.googleapis.com/google.protobuf.Empty"},
    ]
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        screen = await invoke(app, pilot, "Greeter.Cook")
        status = screen.query_one("#status-view", Static)
        for value in packed:
            screen.query_one("#f-packed", Input).value = json.dumps(value)
            await pilot.press("ctrl+j")
            await _ok(pilot, status)
            assert screen.last is not None
            assert json.loads(screen.last.response)["packed"] == value  # the service's echo
            status.update("")
        assert [m.packed.type_url for _, m in greeter.received] == [v["@type"] for v in packed]


async def test_headers_pane_shows_the_real_reply_metadata(greeter: Greeter) -> None:
    # only the fake filled the Headers pane: against a real server it always said "no headers"
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        screen = await invoke(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "Ann [b]x[/b]"
        await pilot.press("ctrl+j")
        await _ok(pilot, screen.query_one("#status-view", Static))
        await pilot.press("alt+h")
        headers = str(screen.query_one("#headers-view", Static).render())
        assert "x-greeted: Ann [b]x[/b] (trailer)" in headers  # as text, never markup


async def test_a_server_stream_outlives_the_unary_deadline(greeter: Greeter, monkeypatch: Any) -> None:
    # streams were cut by the unary deadline (10 s, 408): a tail or a watch could not be used;
    # the default deadline is shortened here rather than waiting for it
    from micro_tui.screens import invoke as invoke_module

    monkeypatch.setattr(invoke_module, "DEFAULT_TIMEOUT", 0.3)
    greeter.step = asyncio.Event()
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        screen = await invoke(app, pilot, "Greeter.Stream")
        assert screen.query_one("#deadline", Input).value == ""  # a stream: none
        screen.query_one("#f-times", Input).value = "2"
        await pilot.press("ctrl+j")
        greeter.step.set()
        log = screen.query_one("#stream-log", Log)
        await until(pilot, lambda: log.line_count >= 1, seconds=10)
        await pilot.pause(0.6)  # twice the (shortened) unary deadline, the stream still open
        greeter.step.set()
        status = screen.query_one("#status-view", Static)
        await _ok(pilot, status)
        assert log.line_count == 2 and "408" not in str(status.render())
