"""The reply side of the invoke screen with the fake facade: replies read whole (scroll,
search, copy, save, pager), streams as long and as fast as they come, the deadline, the
tab keys and the CLI line of the call."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Log, Static, TabbedContent, TextArea

from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from micro_tui.screens.invoke import InvokeScreen
from micro_tui.widgets.reply_view import ReplyView
from micro_tui.widgets.stream_view import StreamView
from tests.micro_tui.test_pilot import open_endpoint, until

TAGS = [f"tag-{i:03d}" for i in range(120)]


async def _tall_reply(app: MicroApp, pilot: Any) -> tuple[InvokeScreen, ReplyView]:
    """Greeter.Cook echoing 120 tags: a reply of ~125 lines in a pane of ~30."""
    screen = await open_endpoint(app, pilot, "Greeter.Cook")
    screen.query_one("#request-tabs", TabbedContent).active = "json"
    await pilot.pause()
    screen.query_one("#json-editor", TextArea).text = json.dumps({"name": "tall", "tags": TAGS})
    await pilot.press("ctrl+j")
    pane = screen.query_one("#response-pane", ReplyView)
    await until(pilot, lambda: "tag-119" in pane.plain)
    return screen, pane


async def test_a_reply_taller_than_the_pane_scrolls_to_its_last_line() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen, pane = await _tall_reply(app, pilot)
        await pilot.press("alt+r")  # the Response tab, focused
        scroller = pane.scroller
        assert app.focused is scroller
        assert scroller.max_scroll_y > 80  # taller than the pane
        await pilot.press("down", "down")
        await until(pilot, lambda: scroller.scroll_y == 2)
        await pilot.press("end")
        await until(pilot, lambda: scroller.scroll_y == scroller.max_scroll_y)
        # the last line of the reply is on screen
        last = screen.query_one("#response-view", Static).outer_size.height - 1
        assert scroller.scroll_y <= last < scroller.scroll_y + scroller.scrollable_content_region.height
        assert pane.plain.rstrip().endswith("}")


async def test_search_copy_save_and_page_the_reply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "paged.txt"
    script = f"import shutil, sys; shutil.copy(sys.argv[1], {str(copy)!r})"
    monkeypatch.setenv("PAGER", f"{sys.executable} -c {json.dumps(script)}")
    app = MicroApp(FakeFacade())
    suspended: list[bool] = []

    @contextlib.contextmanager
    def suspend() -> Any:  # a headless app cannot really suspend
        suspended.append(True)
        yield

    monkeypatch.setattr(app, "suspend", suspend)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, pane = await _tall_reply(app, pilot)
        await pilot.press("alt+r", "slash", *"TAG-09", "enter")  # case-insensitive
        assert len(pane.matches) == 10 and pane.current == 0
        scroller = pane.scroller
        await until(pilot, lambda: scroller.scroll_y > 50)  # scrolled to "tag-090"
        first = scroller.scroll_y
        await pilot.press("n", "n")
        assert pane.current == 2
        await pilot.press("N")
        assert pane.current == 1 and app.focused is scroller
        assert pane.border_subtitle == "2/10"
        await pilot.press("slash", "escape")  # puts the prompt away, stays on the screen
        assert not pane.has_class("-prompt") and app.screen is screen and app.focused is scroller
        assert scroller.scroll_y >= first - 3
        await pilot.press("y")
        assert app.clipboard == pane.plain and json.loads(app.clipboard)["tags"] == TAGS
        target = tmp_path / "reply.json"
        await pilot.press("w")
        prompt = screen.query_one("#response-view-prompt", Input)
        assert app.focused is prompt
        prompt.value = str(target)
        await pilot.press("enter")
        assert json.loads(target.read_text())["tags"] == TAGS
        await pilot.press("o")  # $PAGER, the workspace suspended meanwhile
        assert suspended == [True]
        assert copy.read_text() == pane.plain + "\n"


async def test_a_long_error_detail_is_a_one_line_toast_and_whole_in_the_status_pane() -> None:
    app = MicroApp(FakeFacade())
    detail_words = " ".join(f"word{i}" for i in range(400))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        screen.query_one("#f-name", Input).value = f"error\n{detail_words} [b]end[/b]"
        await pilot.press("ctrl+j")
        status = screen.query_one("#status-pane", ReplyView)
        await until(pilot, lambda: "word399 [b]end[/b]" in status.plain)
        [note] = [n for n in app._notifications if "400 Bad Request" in n.message]
        assert "\n" not in note.message and len(note.message) <= 100


async def test_tab_keys_switch_and_focus_request_and_reply_tabs() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        await pilot.press("alt+m")  # typed in the name field: still a tab key
        await until(pilot, lambda: app.focused is screen.query_one("#metadata-editor"))
        await pilot.press("alt+j")
        await until(pilot, lambda: app.focused is screen.query_one("#json-editor"))
        await pilot.press("alt+f")
        await until(pilot, lambda: app.focused is screen.query_one("#f-name"))
        reply = screen.query_one("#reply-tabs", TabbedContent)
        for key, tab in (("h", "headers"), ("t", "status"), ("s", "stream"), ("r", "response")):
            await pilot.press(f"alt+{key}")
            assert reply.active == tab
        assert app.focused is screen.query_one("#response-pane", ReplyView).scroller


async def test_deadline_is_sent_remembered_per_endpoint_and_named_in_the_cli_line() -> None:
    fake = FakeFacade()
    seen: list[float] = []
    original = fake.calls.call

    async def call(*args: Any, timeout: float, **kwargs: Any) -> Any:
        seen.append(timeout)
        return await original(*args, timeout=timeout, **kwargs)

    fake.calls.call = call  # type: ignore[method-assign]
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        deadline = screen.query_one("#deadline", Input)
        assert deadline.value == "10s"  # the CLI's default for a unary call
        screen.query_one("#f-name", Input).value = "Zed"
        await pilot.press("f8")
        assert app.clipboard == """micro call greeter Greeter.Hello '{"name":"Zed"}'"""
        deadline.value = "1m30s"
        await pilot.press("ctrl+j")
        await until(pilot, lambda: seen == [90.0])
        await pilot.press("f8")
        assert "call --timeout 90s greeter" in app.clipboard
        app.pop_screen()
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        assert screen.query_one("#deadline", Input).value == "90s"  # remembered
        screen.query_one("#deadline", Input).value = "soon"
        await pilot.press("ctrl+j")
        await until(pilot, lambda: any(n.title == "Invalid deadline" for n in app._notifications))
        assert seen == [90.0]
        app.pop_screen()
        stream = await open_endpoint(app, pilot, "Greeter.Stream")
        assert stream.query_one("#deadline", Input).value == ""  # a stream has none


async def test_cli_line_names_env_and_namespace_that_differ_from_the_cli_defaults() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        fake.session.set_env("staging")
        fake.session.set_namespace("dev team")
        screen = await open_endpoint(app, pilot, "Greeter.Stream")
        screen.query_one("#f-name", Input).value = "Ann"
        screen.query_one("#deadline", Input).value = "5s"
        await pilot.press("f8")
        assert app.clipboard == (
            "micro -e staging --namespace 'dev team' stream --timeout 5s greeter Greeter.Stream "
            """'{"name":"Ann"}'"""
        )


async def test_a_saved_request_reopens_with_its_metadata_and_namespace() -> None:
    from micro_tui.history import Entry

    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_request(Entry("greeter", "Greeter.Hello", '{"name":"Bo"}', "dev", {"x-trace": "7"}))
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen) and app.screen.is_mounted)
        screen = app.screen
        await pilot.pause()
        assert fake.session.namespace == "dev"
        assert screen.query_one("#metadata-editor", TextArea).text == "x-trace=7"
        await pilot.press("ctrl+j")
        await until(pilot, lambda: len(fake.calls.received) == 1)
        assert fake.calls.received[0][2:] == ({"name": "Bo"}, {"x-trace": "7"})


async def test_12000_streamed_messages_are_all_reachable() -> None:
    fake = FakeFacade()
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Stream")
        screen.query_one("#f-times", Input).value = "12000"
        await pilot.press("ctrl+j")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "OK" in str(status.render()), seconds=30)
        log = screen.query_one("#stream-log", Log)
        assert log.line_count == 12000
        assert " #1 " in log.lines[0] and " #12000 " in log.lines[-1]
        assert log.scroll_y == log.max_scroll_y  # it followed to the end
        view = screen.query_one(StreamView)
        assert "12,000 messages" in str(view.query_one("#stream-info", Static).render())
        await pilot.press("alt+s", "home")
        assert log.scroll_y == 0


async def test_past_the_bound_the_oldest_go_with_a_dropped_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    from micro_tui.widgets import stream_view

    monkeypatch.setattr(stream_view, "LIMIT", 1000)
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Stream")
        screen.query_one("#f-times", Input).value = "1500"
        await pilot.press("ctrl+j")
        status = screen.query_one("#status-view", Static)
        await until(pilot, lambda: "OK" in str(status.render()), seconds=30)
        log = screen.query_one("#stream-log", Log)
        assert log.line_count == 1000 and " #501 " in log.lines[0]
        assert "dropped 500" in str(screen.query_one("#stream-info", Static).render())
        assert log.scroll_y == log.max_scroll_y


async def test_stream_follows_at_the_bottom_pauses_and_shows_times() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Stream")
        await pilot.press("alt+s")
        view = screen.query_one(StreamView)
        log = screen.query_one("#stream-log", Log)
        info = screen.query_one("#stream-info", Static)

        def receive(first: int, count: int) -> None:
            for i in range(first, first + count):
                view.add(f"#{i} {{}}")

        receive(1, 40)
        await until(pilot, lambda: log.line_count == 40)
        await until(pilot, lambda: log.scroll_y == log.max_scroll_y > 0)  # following
        await pilot.press("up", "up")  # scrolled up: it stops following
        top = log.scroll_y
        receive(41, 5)
        await until(pilot, lambda: log.line_count == 45)
        assert log.scroll_y == top and "not following" in str(info.render())
        await pilot.press("end", "p")  # paused: received, not shown
        receive(46, 5)
        await until(pilot, lambda: "paused (5 waiting)" in str(info.render()))
        assert log.line_count == 45
        await pilot.press("p")
        await until(pilot, lambda: log.line_count == 50)
        await until(pilot, lambda: log.scroll_y == log.max_scroll_y)  # following again
        assert log.lines[0].split(" ")[0].count(":") == 2  # HH:MM:SS.mmm #1 …
        await pilot.press("t")  # times off
        assert log.lines[0] == "#1 {}"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_form_rows_are_one_line_with_exact_types_and_proto_comments(size: tuple[int, int]) -> None:
    from micro_tui.widgets.field_group import FieldGroup
    from micro_tui.widgets.field_row import FieldRow

    app = MicroApp(FakeFacade())
    async with app.run_test(size=size) as pilot:
        screen = await open_endpoint(app, pilot, "Greeter.Cook")
        rows = {row.node.path: row for row in screen.query(FieldRow)}
        assert {"name", "s32", "f64", "active", "color", "when"} <= set(rows)
        for path in ("name", "s32", "f64", "active", "color", "when"):
            assert rows[path].outer_size.height == 1, path  # one line per scalar field
        label = {p: str(r.query_one(".field-label").render()) for p, r in rows.items()}
        assert (label["s32"], label["f64"], label["color"]) == ("s32 sint32", "f64 fixed64", "color Color")
        titles = {g.node.path: str(g.border_title) for g in screen.query(FieldGroup)}
        assert titles["labels"] == "labels · map<string, int32>"
        assert titles["items"] == "items · repeated Inner"
        app.pop_screen()
        screen = await open_endpoint(app, pilot, "Greeter.Hello")
        name = screen.query_one("#f-name", Input)
        assert name.placeholder == "Who to greet. (text)"  # the .proto comment


async def test_a_call_command_opens_the_invoke_screen_with_its_request() -> None:
    # `:call` crashed the workspace once saved requests reopened with their namespace
    from micro_tui.commands import parse

    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        app.run_command(parse(':call greeter Greeter.Hello {"name": "Cy"}'))
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen) and app.screen.is_mounted)
        await pilot.pause()
        assert app.screen.query_one("#f-name", Input).value == "Cy"
