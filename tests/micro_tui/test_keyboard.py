"""The keyboard model k9s and vim users bring: enter/→ into a service's endpoints, ←/escape
back, j/k/g/G, q and ctrl+c quit from the top."""

from __future__ import annotations

from textual.widgets import DataTable

from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from micro_tui.screens.invoke import InvokeScreen
from micro_tui.widgets.service_list import ServiceList
from tests.micro_tui.test_pilot import until


async def test_into_the_endpoints_and_back_with_vim_keys() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: len(services.names) == 9)
        services.focus()
        await pilot.press("G")
        assert services.highlighted_name == "store"
        await pilot.press("g", "j", "j", "j", "j", "j", "k")  # auth broker config events greeter
        assert services.highlighted_name == "greeter"
        table = app.screen.query_one("#endpoints", DataTable)
        await until(pilot, lambda: table.row_count == 4)
        await pilot.press("enter")
        assert app.focused is table
        await pilot.press("j", "j", "k", "G")
        assert table.cursor_row == 3
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("left")
        assert app.focused is services
        await pilot.press("right")
        assert app.focused is table
        await pilot.press("escape")
        assert app.focused is services
        await pilot.press("right", "j", "enter")  # enter on an endpoint invokes it
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
        assert app.screen.endpoint.name == "Greeter.Cook"


async def test_q_quits_from_the_top_only() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names)
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
        await pilot.press("q")  # closes the help, does not quit
        await until(pilot, lambda: type(app.screen).__name__ == "ServicesScreen")
        await pilot.press("slash", "q")  # text in the filter
        assert not app._exit
        await pilot.press("enter", "q")
        await until(pilot, lambda: app._exit)


async def test_ctrl_c_quits() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "greeter" in app.known_services)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: app._exit)


async def test_command_bar_completes_and_remembers(micro_home: object) -> None:
    from textual.widgets import Input

    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "greeter" in app.known_services)

        async def typed(keys: str, expect: str) -> None:
            await pilot.press(*keys)
            box = app.screen.query_one("#command", Input)
            await until(pilot, lambda: box._suggestion == expect)
            await pilot.press("tab")
            assert box.value == expect

        await pilot.press("colon")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandBar")
        await typed("ca", ":call")
        await typed(" gree", ":call greeter")
        await typed(" Greeter.H", ":call greeter Greeter.Hello")
        await pilot.press("escape")
        await pilot.press("colon")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandBar")
        await typed("ns te", ":ns team-a")
        await pilot.press("enter")
        await until(pilot, lambda: fake.session.namespace == "team-a")
        await pilot.press("colon")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandBar")
        await typed("env st", ":env staging")
        await pilot.press("enter")
        await until(pilot, lambda: fake.session.env.name == "staging")
        await pilot.press("colon")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandBar")
        box = app.screen.query_one("#command", Input)
        await pilot.press("up")
        assert box.value == ":env staging"
        await pilot.press("up")
        assert box.value == ":ns team-a"
        await pilot.press("down", "down")
        assert box.value == ":"


async def test_saved_requests_are_browsed_renamed_deleted_and_opened(micro_home: object) -> None:
    from textual.widgets import Input

    from micro_tui import history

    history.save_to_collection(
        "default", history.Entry("greeter", "Greeter.Hello", '{"name":"a"}', name="one")
    )
    history.save_to_collection(
        "default", history.Entry("greeter", "Greeter.Hello", '{"name":"b"}', name="two")
    )
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "greeter" in app.known_services)
        await pilot.press("f4")
        await until(pilot, lambda: type(app.screen).__name__ == "SavedRequests")
        await pilot.pause()
        await pilot.press("r")
        box = app.screen.query_one("#saved-rename", Input)
        await until(pilot, lambda: box.has_focus)
        assert box.value == "one"
        box.value = ""
        await pilot.press(*"first", "enter")
        await until(pilot, lambda: [e.name for e in history.load_collection("default")] == ["first", "two"])
        await pilot.press("down", "d")
        assert [e.name for e in history.load_collection("default")] == ["first", "two"]  # asks first
        await pilot.press("d")
        await until(pilot, lambda: [e.name for e in history.load_collection("default")] == ["first"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
        await pilot.pause()
        assert isinstance(app.screen, InvokeScreen)
        assert '"a"' in (app.screen.request_json() or "")


async def test_jump_mode_focuses_the_widget_of_the_key_pressed() -> None:
    from textual.widgets import TextArea

    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "greeter" in app.known_services)
        app.screen.query_one(ServiceList).focus()
        await pilot.press("ctrl+o")
        await until(pilot, lambda: type(app.screen).__name__ == "JumpOverlay")
        overlay = app.screen
        key = next(k for k, w in overlay.targets.items() if isinstance(w, DataTable))  # type: ignore[attr-defined]
        await pilot.press(key)
        await until(pilot, lambda: isinstance(app.focused, DataTable))
        # on the invoke screen too: to the JSON editor
        app.screen.query_one(ServiceList).focus()
        version = app.facade.registry.services["greeter"]  # type: ignore[attr-defined]
        app.open_invoke(version, version.endpoints[2])
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
        await pilot.pause()
        await pilot.press("ctrl+o")
        await until(pilot, lambda: type(app.screen).__name__ == "JumpOverlay")
        targets = app.screen.targets  # type: ignore[attr-defined]
        assert len(targets) >= 3
        key = next(k for k, w in targets.items() if w.id == "send")
        await pilot.press(key)
        await until(pilot, lambda: app.focused is not None and app.focused.id == "send")
        assert not isinstance(app.focused, TextArea)
