"""Login, namespaces from the server, the read-only gate and bidi send boxes (fake facade)."""

from __future__ import annotations

import json

from textual.widgets import Input, Log, Static

from micro_tui.app import MicroApp
from micro_tui.dialogs.login_dialog import LoginDialog
from micro_tui.fake import FakeFacade
from micro_tui.screens.invoke import InvokeScreen
from micro_tui.screens.services import ServicesScreen
from tests.micro_tui.test_pilot import header_text, login_ready, open_endpoint, until


async def test_not_logged_in_opens_login_dialog_failure_then_success() -> None:
    fake = FakeFacade(logged_in=False)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: login_ready(app))
        dialog = app.screen
        assert dialog.query_one("#login-password", Input).password  # masked
        await pilot.press(*"admin", "enter", *"wrong", "enter")
        error = dialog.query_one("#login-error", Static)
        await until(pilot, lambda: "Invalid credentials" in str(error.render()))
        assert isinstance(app.screen, LoginDialog)  # still open, password cleared
        assert dialog.query_one("#login-password", Input).value == ""
        await pilot.press(*"micro", "enter")
        await until(pilot, lambda: isinstance(app.screen, ServicesScreen))
        assert fake.session.logins == [("admin", "wrong"), ("admin", "micro")]
        await until(pilot, lambda: "as admin" in header_text(app))


async def test_login_command_opens_the_dialog_once_logged_in_too() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("colon", *"login", "enter")
        await until(pilot, lambda: login_ready(app))
        assert "micro" in str(app.screen.query_one("Label").render())
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ServicesScreen))


async def test_namespace_picker_lists_the_servers_namespaces_with_pins_first() -> None:
    fake = FakeFacade()
    fake.session.server_namespaces = ["micro", "payments", "search"]
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        app.save_pins(["search"])
        await pilot.press("f3")
        await until(pilot, lambda: type(app.screen).__name__ == "NamespacePicker")
        options = app.screen.query_one("#ns-list")

        def ids() -> list[str]:
            return [options.get_option_at_index(i).id for i in range(options.option_count)]

        await until(pilot, lambda: ids() == ["search", "micro", "payments"])
        await pilot.press("1")
        await until(pilot, lambda: fake.session.namespace == "search")


async def test_namespace_picker_falls_back_to_local_namespaces() -> None:
    fake = FakeFacade(connected=False)  # no server to list them (test_facade_contract: both agree)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        await until(pilot, lambda: type(app.screen).__name__ == "NamespacePicker")
        options = app.screen.query_one("#ns-list")
        await until(pilot, lambda: options.option_count > 0)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "dev",
            "micro",
            "team-a",
        ]


async def test_read_only_env_refuses_mutating_calls_through_one_gate() -> None:
    from micro_tui.facade import EndpointInfo, ServiceVersion

    fake = FakeFacade()
    fake.session.set_env("prod")
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        assert not app.require_writable("x")
        write = EndpointInfo("Store.Write", "/store.Store/Write", "", "", "unary")
        read = EndpointInfo("Store.Read", "/store.Store/Read", "", "", "unary")
        version = ServiceVersion("store", "latest", (write, read))
        app.open_invoke(version, write)
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
        await pilot.pause()
        await pilot.press("ctrl+j")
        # the refusal shows first: only then is "nothing was sent" a finding
        await until(
            pilot, lambda: any("Environment 'prod' is read-only" in n.message for n in app._notifications)
        )
        assert fake.calls.received == []
        app.pop_screen()
        app.open_invoke(version, read)
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen) and app.screen.endpoint is read)
        await pilot.pause()
        await pilot.press("ctrl+j")
        await until(pilot, lambda: len(fake.calls.received) == 1)  # reads still work
        # switching away from the read-only env still works
        app.switch_env("local")
        await until(pilot, lambda: "READ-ONLY" not in header_text(app))
        assert app.require_writable("x")


async def test_bidi_send_box_sends_each_message_on_the_open_stream() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Chat")
        screen.query_one("#f-name", Input).value = "Ann"
        await pilot.press("ctrl+j")
        log = screen.query_one("#stream-log", Log)
        await until(pilot, lambda: any("Hello Ann" in line for line in log.lines))
        box = screen.query_one("#send-box", Input)
        assert not box.disabled
        box.focus()
        await pilot.press(*'{"name": "Bob"}', "enter")
        await until(pilot, lambda: any("Hello Bob" in line for line in log.lines))
        await pilot.press(*"{oops", "enter")  # refused, not sent
        await until(pilot, lambda: any(n.title == "Invalid JSON" for n in app._notifications))
        assert box.value == "{oops" and len(fake.calls.received) == 2
        box.value = ""
        await pilot.press("ctrl+j")  # ctrl+j on the open stream sends the form again
        await until(pilot, lambda: len(fake.calls.received) == 3)
        await pilot.click("#close-send")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "OK" in str(status.render()))
        assert [r[2] for r in fake.calls.received] == [{"name": "Ann"}, {"name": "Bob"}, {"name": "Ann"}]
        assert [line.split(" ", 2)[1] for line in log.lines] == [">", "#1", ">", "#2", ">", "#3", ">"]
        assert box.disabled
        assert json.loads(log.lines[-2].split(" ", 2)[2]) == {"message": "Hello Ann"}


async def test_copy_as_grpcurl_writes_the_protoset(micro_home: object) -> None:
    from google.protobuf import descriptor_pb2

    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "Zed"
        await pilot.press("f9")
        protoset = micro_home / "protosets" / "greeter.protoset"  # type: ignore[operator]
        assert app.clipboard == (
            f"grpcurl -plaintext -protoset '{protoset}'"
            ' -H "authorization: Bearer $(micro user token)"'
            " -H 'micro-namespace: micro' -H 'micro-service: greeter'"
            """ -d '{"name":"Zed"}' 127.0.0.1:8081 demo.Greeter/Hello"""
        )
        names = [f.name for f in descriptor_pb2.FileDescriptorSet.FromString(protoset.read_bytes()).file]
        assert "demo/kitchen.proto" in names


async def test_login_tells_a_newcomer_the_local_default_and_comes_back_after_a_401() -> None:
    fake = FakeFacade(logged_in=False)
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: login_ready(app))
        hint = str(app.screen.query_one("#login-first-run", Static).render())
        assert "admin / micro" in hint and "micro user set password" in hint
        await pilot.press(*"admin", "enter", *"micro", "enter")
        await until(pilot, lambda: isinstance(app.screen, ServicesScreen))
        assert any("still the default" in n.message for n in app._notifications)  # as micro login says
        app.offer_login()  # what each ping does: logged in, nothing to offer
        await pilot.pause()
        assert isinstance(app.screen, ServicesScreen)
        fake.session._account = ""  # the server stops taking the login (401)
        app.offer_login()
        await until(pilot, lambda: login_ready(app))


async def test_no_default_account_hint_away_from_the_local_server() -> None:
    fake = FakeFacade(logged_in=False)
    fake.session.set_env("staging")
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: login_ready(app))
        assert not app.screen.query("#login-first-run")
