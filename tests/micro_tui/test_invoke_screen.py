"""The invoke screen as a user meets it: where typing lands when it opens, which tab is the
request when the Metadata tab is in front, what history keeps."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, Log, Static, TabbedContent, TextArea

from micro_tui import history
from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from tests.micro_tui.test_pilot import open_endpoint, until


async def test_typing_lands_in_the_first_field_when_the_screen_opens() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        await until(pilot, lambda: app.focused is screen.query_one("#f-name", Input))
        await pilot.press(*"bob")
        assert screen.query_one("#f-name", Input).value == "bob"


async def test_edited_json_is_sent_from_the_metadata_tab() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "bob"
        tabs = screen.query_one("#request-tabs", TabbedContent)
        tabs.active = "json"
        editor = screen.query_one("#json-editor", TextArea)
        await until(pilot, lambda: "bob" in editor.text)
        editor.text = '{"name": "alice"}'
        tabs.active = "metadata"
        await pilot.pause()
        screen.query_one("#metadata-editor", TextArea).text = "x-trace=1"
        await pilot.press("ctrl+j")
        await until(pilot, lambda: len(fake.calls.received) == 1)
        assert fake.calls.received[0][2] == {"name": "alice"}


async def test_form_edits_survive_a_visit_to_the_metadata_tab() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "bob"
        tabs = screen.query_one("#request-tabs", TabbedContent)
        tabs.active = "metadata"
        await until(pilot, lambda: screen.query_one("#metadata-editor").region.width > 0)
        tabs.active = "form"
        # the form is shown again (so the switch was handled) before its value is checked
        await until(pilot, lambda: screen.query_one("#f-name").region.width > 0)
        await pilot.pause()
        assert screen.query_one("#f-name", Input).value == "bob"


async def test_a_cancelled_stream_is_kept_in_history() -> None:
    fake = FakeFacade()
    fake.calls.stream_step = asyncio.Event()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Stream")
        screen.query_one("#f-name", Input).value = "Ann"
        screen.query_one("#f-times", Input).value = "5"
        await pilot.press("ctrl+j")
        fake.calls.stream_step.set()
        log = screen.query_one("#stream-log", Log)
        await until(pilot, lambda: log.line_count >= 1)
        log.focus()
        await pilot.press("escape")
        await until(pilot, lambda: fake.calls.cancelled_streams == 1)
        await until(pilot, lambda: bool(history.load_history("local")))
        [entry] = history.load_history("local")
        assert (entry.endpoint, entry.status) == ("Greeter.Stream", "Cancelled")
        assert '"Ann"' in entry.request


async def test_an_error_reply_names_the_cli_line_with_its_metadata() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = "error"
        screen.query_one("#metadata-editor", TextArea).text = "x-note: two words"
        await pilot.press("ctrl+j")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "400 Bad Request" in str(status.render()))
        assert "micro call --metadata 'x-note=two words' greeter Greeter.Hello" in str(status.render())


async def test_saving_into_a_broken_collection_says_so() -> None:
    from micro_tui import settings

    path = settings.collections_dir() / "default.json"
    path.parent.mkdir(parents=True)
    path.write_text("[oops")
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_endpoint(app, pilot, "Greeter.Hello")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: type(app.screen).__name__ == "SaveDialog")
        app.screen.query_one("#name", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: any(n.title == "Not saved" for n in app._notifications))
        assert path.read_text() == "[oops"


async def test_every_request_button_is_whole_at_80_columns() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Cook")
        pane = screen.query_one("#request").content_region
        for button in screen.query("#actions Button"):
            assert button.region.height == 1, button.id  # the label is not wrapped
            assert pane.contains_region(button.region), button.id  # nor cut off


async def test_f1_opens_help_while_typing_in_a_field() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).focus()
        await pilot.press("question_mark")  # typed: "?" is text in a field
        assert screen.query_one("#f-name", Input).value == "?"
        await pilot.press("f1")
        await until(pilot, lambda: type(app.screen).__name__ == "HelpScreen")
