"""The logs area on the fake facade: how a user gets there, and every key of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, SelectionList

from micro_tui.app import MicroApp
from micro_tui.fake import FakeFacade
from micro_tui.screens import logs as logs_screen_module
from micro_tui.screens.logs import LogsScreen
from micro_tui.slices.logs_fake import FakeLogs
from micro_tui.widgets.logs_view import LogsView
from micro_tui.widgets.service_list import ServiceList
from tests.micro_tui.test_pilot import until


def texts(screen: LogsScreen) -> list[str]:
    views = screen.query(LogsView)  # none until the screen is composed
    return [e.text for e in views.first().entries] if views else []


def palette_prompts(app: MicroApp) -> str:
    """What the open command palette lists now ("" until it shows a list)."""
    from textual.widgets import OptionList

    lists = app.screen.query("CommandList")
    if not lists:
        return ""
    options = lists.first(OptionList)
    return "\n".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))


def texts_ready(screen: Any) -> bool:
    return bool(screen.query("#logs-info"))


def info(screen: LogsScreen) -> str:
    return str(screen.query_one("#logs-info").render())


async def on_logs(app: MicroApp, pilot: Any, *services: str) -> LogsScreen:
    """The logs area following ``services`` (opened as ``:logs a,b`` does)."""
    await until(pilot, app.painted.is_set)
    app.open_area("logs", (",".join(services),))
    await until(pilot, lambda: isinstance(app.screen, LogsScreen))
    screen = app.screen
    assert isinstance(screen, LogsScreen)
    await until(pilot, lambda: "Hello Carol" in texts(screen) or "killed" in texts(screen))
    return screen


def fake_logs(app: MicroApp) -> FakeLogs:
    logs = app.facade.logs
    assert isinstance(logs, FakeLogs)
    return logs


async def test_l_on_a_service_opens_its_logs() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        services = app.screen.query_one(ServiceList)
        await until(pilot, lambda: "greeter" in services.names)
        app.screen.select("greeter")  # type: ignore[attr-defined]
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: "Hello Carol" in texts(screen))
        assert screen.services == ["greeter"]
        assert {e.service for e in screen.view.entries} == {"greeter"}
        picker = screen.query_one("#logs-picker", SelectionList)
        await until(pilot, lambda: picker.option_count == 2)
        assert picker.selected == ["greeter"]


async def test_command_merges_services_and_new_lines_arrive_in_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.painted.is_set)
        await pilot.press(":", *"logs greeter,worker", "enter")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: "killed" in texts(screen) and "Hello Carol" in texts(screen))
        assert {e.service for e in screen.view.entries} == {"greeter", "worker"}
        writes: list[int] = []
        original = LogsView.append

        def counting(view: LogsView, entries: Any, oldest: int, *, follow: bool) -> None:
            writes.append(len(entries))
            original(view, entries, oldest, follow=follow)

        monkeypatch.setattr(LogsView, "append", counting)
        fake_logs(app).write("greeter", *(f"burst {i}" for i in range(3000)))
        await until(pilot, lambda: "burst 2999" in texts(screen))
        assert sum(writes) == 3000 and len(writes) <= 3  # a few batches, not 3,000 writes
        view = screen.view
        assert view.is_vertical_scroll_end  # following
        assert "greeter/0" in view.plain(len(view.entries) - 1)


async def test_pause_holds_lines_and_follow_writes_them(tmp_path: Path) -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app, pilot, "greeter")
        await pilot.press("f")
        assert "paused" in info(screen)
        fake_logs(app).write("greeter", "while paused")
        await until(pilot, lambda: "(1 waiting)" in info(screen))
        assert "while paused" not in texts(screen)
        await pilot.press("f")
        await until(pilot, lambda: "while paused" in texts(screen))
        assert "following" in info(screen)


async def test_filter_highlights_matches_and_n_jumps_between_them() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app, pilot, "greeter", "worker")
        await pilot.press("slash", *"hello", "enter")
        assert texts(screen) == [
            "Hello Alice",
            "Hello Bob",
            "WARNING slow call Greeter.Hello took 1.2s",
            "Hello Carol",
        ]
        view = screen.view
        strip = view._strip(0)
        match = view.get_component_rich_style("logs-view--match")
        styled = [seg.text for seg in strip if seg.style is not None and seg.style.bgcolor == match.bgcolor]
        assert styled == ["Hello"]
        await pilot.press("n")
        first = view.current
        await pilot.press("n")
        assert view.current == (first or 0) + 1
        await pilot.press("N")
        assert view.current == first
        assert "paused" in info(screen)  # staying on a match: new lines wait
        # a line that comes later is filtered too
        await pilot.press("f")
        fake_logs(app).write("worker", "hello from the worker", "nothing to see")
        await until(pilot, lambda: "hello from the worker" in texts(screen))
        assert "nothing to see" not in texts(screen)
        # ! inverts
        box = screen.query_one("#logs-filter", Input)
        box.value = "!hello"
        await pilot.pause()
        assert "Hello Alice" not in texts(screen) and "nothing to see" in texts(screen)
        await pilot.press("escape")
        assert "Hello Alice" in texts(screen) and view.filter is None


async def test_wrap_times_clear_and_copy() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await on_logs(app, pilot, "greeter")
        view = screen.view
        long = "x" * 200
        fake_logs(app).write("greeter", long)
        await until(pilot, lambda: long in texts(screen))
        rows = view.virtual_size.height
        await pilot.press("w")
        assert view.virtual_size.height >= rows + 2  # the long line takes several rows
        assert view.virtual_size.width == view.scrollable_content_region.width
        await pilot.press("w")
        assert view.virtual_size.height == rows
        last = len(view.entries) - 1
        assert not view.plain(last)[:2].isdigit()
        await pilot.press("t")
        assert view.plain(last)[:13].count(":") == 2  # HH:MM:SS.mmm first
        assert "times" in info(screen)
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await pilot.press("c")
        assert copied == ["micro logs -f -n 100 greeter"]
        await pilot.press("ctrl+l")
        assert view.entries == []
        fake_logs(app).write("greeter", "after clear")
        await until(pilot, lambda: texts(screen) == ["after clear"])


async def test_save_writes_the_shown_lines(tmp_path: Path) -> None:
    app = MicroApp(FakeFacade())
    target = tmp_path / "out.log"
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app, pilot, "worker")
        await pilot.press("ctrl+s")
        box = await _save_box(app, pilot)
        box.value = str(target)
        await pilot.press("enter")
        await until(pilot, target.exists)
        saved = target.read_text().splitlines()
        assert len(saved) == len(screen.view.entries)
        assert saved[-1].endswith("Z worker killed")
        assert saved[1].endswith("Z worker/0 polling queue orders [batch=50]")


async def _save_box(app: MicroApp, pilot: Any) -> Input:
    from micro_tui.dialogs.logs_save import LogsSaveDialog

    await until(pilot, lambda: isinstance(app.screen, LogsSaveDialog))
    return app.screen.query_one(Input)


async def test_a_small_buffer_marks_what_it_could_not_write(monkeypatch: pytest.MonkeyPatch) -> None:
    from micro_tui import settings

    settings.save(logs_buffer=50)
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app, pilot, "greeter")
        assert screen.buffer.limit == 50
        await pilot.press("f")
        fake_logs(app).write("greeter", *(f"n{i}" for i in range(200)))
        fake_logs(app).report_dropped("greeter", 7)
        await until(pilot, lambda: "(49 waiting)" in info(screen) or "(48 waiting)" in info(screen))
        await pilot.press("f")
        await until(pilot, lambda: "n199" in texts(screen))
        markers = [e for e in screen.view.entries if e.kind == "dropped"]
        assert markers and all("dropped" in e.text for e in markers)
        shown = sum(1 for e in screen.buffer.kept if e.kind == "line")
        assert len(screen.view.entries) <= 50
        # every line received is shown, evicted after being shown, or counted as dropped
        buffer = screen.buffer
        assert buffer.dropped >= 7 and f"dropped {buffer.dropped:,}" in info(screen)
        assert shown <= buffer.received - buffer.dropped


async def test_a_stream_that_ends_reconnects_without_repeating_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    from micro_tui.slices import logs as slice_module

    monkeypatch.setattr(slice_module, "RETRY_SECONDS", (0.01,))
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app, pilot, "greeter")
        before = texts(screen)
        fake_logs(app).end_streams()
        await until(pilot, lambda: any("the stream ended" in t for t in texts(screen)))
        await until(pilot, lambda: "●" in info(screen) or "○" in info(screen))
        fake_logs(app).write("greeter", "after the reconnect")
        await until(pilot, lambda: "after the reconnect" in texts(screen))
        lines = [e.text for e in screen.view.entries if e.kind == "line"]
        assert lines == [t for t in before if t] + ["after the reconnect"]


async def test_the_picker_chooses_services_and_the_palette_finds_them() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.painted.is_set)
        app.switch_area("logs")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen) and bool(texts_ready(app.screen)))
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        assert "No service chosen" in info(screen)
        picker = screen.query_one("#logs-picker", SelectionList)
        await until(pilot, lambda: picker.option_count == 2)
        picker.focus()
        picker.highlighted = 1
        await pilot.press("space")  # worker
        await until(pilot, lambda: "killed" in texts(screen))
        assert screen.services == ["worker"]
        await pilot.press("s")  # the pane goes, the lines get the room
        assert screen.query_one("#logs-sources").has_class("-hidden")
        # the palette offers the runtime's services
        await pilot.press("ctrl+p")
        await pilot.press(*"logs greeter")
        await until(pilot, lambda: "logs greeter" in palette_prompts(app))
        await pilot.press("enter")
        await until(pilot, lambda: screen.services == ["greeter"])


def test_flush_interval_is_within_the_spec() -> None:
    assert 0.05 <= logs_screen_module.FLUSH_SECONDS <= 0.1


async def test_first_lines_of_several_services_are_merged_by_time() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app, pilot, "greeter", "worker")
        await until(pilot, lambda: "killed" in texts(screen) and "Hello Carol" in texts(screen))
        lines = [e for e in screen.view.entries if e.kind == "line"]
        assert [e.ts for e in lines] == sorted(e.ts for e in lines)
        assert {e.service for e in lines[:6]} == {"greeter", "worker"}  # interleaved, not one then the other


async def test_a_killed_service_is_said_to_be_gone_and_its_lines_stay() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_logs(app, pilot, "greeter")
        picker = screen.query_one("#logs-picker", SelectionList)
        await until(pilot, lambda: picker.option_count == 2 and screen._sources_loaded)
        fake_logs(app).kill("greeter")
        screen.view.focus()
        await pilot.press("r")  # what the runtime runs, now (it is also asked every few seconds)
        await until(pilot, lambda: "greeter: not run any more (killed); its logs stay" in texts(screen))
        assert "Hello Carol" in texts(screen)
        fake_logs(app).write("greeter", "back again")
        await pilot.press("r")
        await until(pilot, lambda: "greeter: running" in texts(screen) and "back again" in texts(screen))
