"""The invoke screen on RealFacade against a real in-process server and the real greeter
(``tests/micro_tui/_greeter.py``): what the user types reaches the service, what the service
sends back reaches the reply panes."""

from __future__ import annotations

import json
from typing import Any

from textual.widgets import Input, Static

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
