"""The workspace on RealFacade against a real in-process micro server (auth on) and a real
test service (``tests/micro_tui/_greeter.py``): what the form builds is what the service gets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Log, Static

from micro_tui import history
from micro_tui.app import MicroApp
from micro_tui.dialogs.login_dialog import LoginDialog
from micro_tui.real import RealFacade
from micro_tui.screens.invoke import InvokeScreen
from micro_tui.widgets.service_list import ServiceList
from tests.micro_tui._greeter import Greeter
from tests.micro_tui.test_pilot import header_text, login_ready, until


@contextlib.asynccontextmanager
async def serving_greeter(micro_home: Path) -> AsyncIterator[Greeter]:
    """A real server (auth on, in memory) as the current env ``test``, and the greeter
    registered in it; the workspace is not logged in yet."""
    from micro import environment
    from micro.auth.grpc import GrpcAuth
    from server.app import Server

    srv = Server(data_dir=micro_home / "server", address="127.0.0.1:0", profile="test", auth=True)
    await srv.start()
    environment.add(environment.Environment("test", srv.bound_address))
    environment.set_current("test")
    auth = GrpcAuth(srv.bound_address, namespace="micro")
    token = await auth.token(id="admin", secret="micro", namespace="micro")
    await auth.close()
    service = Greeter()
    await service.start(srv.bound_address, token.access_token)
    try:
        yield service
    finally:
        await service.stop()
        await srv.stop(grace=0)


@pytest.fixture
async def greeter(micro_home: Path) -> AsyncIterator[Greeter]:
    async with serving_greeter(micro_home) as service:
        yield service


async def logged_in(app: MicroApp, pilot: Any) -> None:
    """Log in through the dialog the workspace opens by itself."""
    await until(pilot, lambda: login_ready(app), seconds=10)
    await pilot.press(*"admin", "enter", *"micro", "enter")
    await until(pilot, lambda: not isinstance(app.screen, LoginDialog), seconds=10)


async def invoke(app: MicroApp, pilot: Any, endpoint: str) -> InvokeScreen:
    [version] = await app.facade.registry.get_service("greeter")
    app.open_invoke(version, next(e for e in version.endpoints if e.name == endpoint))
    await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
    await pilot.pause()
    assert isinstance(app.screen, InvokeScreen)
    return app.screen


async def test_login_dialog_then_live_services(greeter: Greeter) -> None:
    from micro import credentials

    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: login_ready(app), seconds=10)
        await pilot.press(*"admin", "enter", *"nope", "enter")
        error = app.screen.query_one("#login-error", Static)
        await until(pilot, lambda: "Invalid credentials" in str(error.render()), seconds=10)
        await pilot.press(*"micro", "enter")
        await until(pilot, lambda: not isinstance(app.screen, LoginDialog), seconds=10)
        # stored like `micro login`: the CLI of this MICRO_HOME is logged in too
        assert credentials.logged_in("test") == ["micro"]
        await until(pilot, lambda: "as admin" in header_text(app))
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: {"greeter", "store"} <= set(services.names), seconds=10)
        await greeter.deregister()
        await until(pilot, lambda: "greeter" not in services.names, seconds=10)


async def test_form_builds_exactly_what_the_service_receives(greeter: Greeter) -> None:
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        screen = await invoke(app, pilot, "Greeter.Cook")
        screen.query_one("#f-name", Input).value = "Alice"
        screen.query_one("#f-i64", Input).value = "9007199254740993"
        screen.query_one("#f-color").value = "BLUE"
        await pilot.press("ctrl+j")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "OK" in str(status.render()), seconds=10)
        [(method, message)] = greeter.received
        assert method == "Cook"
        expected = type(message)(name="Alice", i64=9007199254740993, color=3)
        assert message == expected
        assert screen.last is not None
        assert json.loads(screen.last.response)["i64"] == "9007199254740993"  # the service's echo
        [entry] = history.load_history("test")
        assert (entry.service, entry.endpoint, entry.status) == ("greeter", "Greeter.Cook", "OK")


async def test_stream_in_order_cancel_and_error_reply(greeter: Greeter) -> None:
    greeter.step = asyncio.Event()
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        screen = await invoke(app, pilot, "Greeter.Stream")
        screen.query_one("#f-name", Input).value = "Ann"
        screen.query_one("#f-times", Input).value = "5"
        await pilot.press("ctrl+j")
        log = screen.query_one("#stream-log", Log)
        for n in (1, 2):
            greeter.step.set()
            await until(pilot, lambda n=n: log.line_count >= n, seconds=10)
        assert [line.split(" ", 3)[1:3] for line in log.lines] == [  # after the time
            ["#1", '{"message":'],
            ["#2", '{"message":'],
        ]
        assert "Hello Ann #1" in log.lines[0] and "Hello Ann #2" in log.lines[1]
        log.focus()
        await pilot.press("escape")
        await asyncio.wait_for(greeter.cancelled.wait(), 10)  # the service saw the cancel
        assert log.lines[-1] == "cancelled"
        await pilot.press("escape")
        # an error reply: code, detail and the equivalent CLI
        screen = await invoke(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "error"
        await pilot.press("ctrl+j")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "400 Bad Request" in str(status.render()), seconds=10)
        assert "name must not be 'error'" in str(status.render())
        assert "micro call greeter Greeter.Hello" in str(status.render())


async def test_bidi_send_box_on_a_real_stream(greeter: Greeter) -> None:
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        screen = await invoke(app, pilot, "Greeter.Chat")
        screen.query_one("#f-name", Input).value = "one"
        await pilot.press("ctrl+j")
        log = screen.query_one("#stream-log", Log)
        await until(pilot, lambda: any("Hello one" in line for line in log.lines), seconds=10)
        box = screen.query_one("#send-box", Input)
        box.focus()
        await pilot.press(*'{"name": "two"}', "enter")
        # the reply to the second message arrives on the still-open stream
        await until(pilot, lambda: any("Hello two" in line for line in log.lines), seconds=10)
        await pilot.click("#close-send")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "OK" in str(status.render()), seconds=10)
        assert [(m, r.name) for m, r in greeter.received] == [("Chat", "one"), ("Chat", "two")]


async def test_read_only_env_refuses_invoke_before_anything_is_sent(greeter: Greeter) -> None:
    # the greeter's endpoints are not marked side-effect free: on a read-only env the
    # workspace sent them anyway
    from micro import environment

    environment.add(environment.Environment("prod", environment.get("test").address, read_only=True))
    environment.set_current("prod")
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)  # logging in (Auth.Token) works on a read-only env
        for endpoint in ("Greeter.Cook", "Greeter.Stream"):
            screen = await invoke(app, pilot, endpoint)
            assert screen.endpoint.name == endpoint
            screen.query_one("#f-name", Input).value = "Alice"
            await pilot.press("ctrl+j")
            shown = screen.query_one("#status-view", Static)
            await until(
                pilot, lambda s=shown: "Environment 'prod' is read-only" in str(s.render()), seconds=10
            )
            app.pop_screen()
        assert greeter.received == []
