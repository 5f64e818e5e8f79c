"""Area 3 on the fake facade: follow a topic, start elsewhere, pause, the payload, publish,
reset a group; the live view's bounded buffer; ``:events topic`` and the palette."""

from __future__ import annotations

from typing import Any

from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, OptionList, TextArea

from micro.events import Event
from micro_tui.app import MicroApp
from micro_tui.dialogs.confirm import ConfirmDialog
from micro_tui.dialogs.events_payload import PayloadDialog
from micro_tui.dialogs.events_publish import PublishDialog
from micro_tui.dialogs.events_start import StartDialog
from micro_tui.facade import EnvInfo
from micro_tui.fake import FakeFacade
from micro_tui.screens.events import EventsScreen
from micro_tui.widgets.events_feed import EventsFeed
from tests.micro_tui.test_pilot import until


async def _events(app: MicroApp, pilot: Any) -> EventsScreen:
    await pilot.press("3")
    await until(pilot, lambda: isinstance(app.screen, EventsScreen))
    screen = app.screen
    assert isinstance(screen, EventsScreen)
    await until(pilot, lambda: screen.query_one("#topics", DataTable).row_count == 3)
    return screen


def _fake(app: MicroApp) -> Any:
    return app.facade.events


async def test_enter_on_a_topic_follows_it_from_the_end_and_o_replays_from_an_offset() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _events(app, pilot)
        topics = screen.query_one("#topics", DataTable)
        topics.focus()
        await pilot.press("enter")  # orders, from the end: none of its 12 stored events
        feed = screen.query_one(EventsFeed)
        await until(pilot, lambda: screen.topic == "orders" and feed.has_focus)
        groups = screen.query_one("#groups", DataTable)
        await until(pilot, lambda: groups.row_count == 2)  # billing, shipping
        await _fake(app).publish("orders", '{"live":true}', {})
        await until(pilot, lambda: [e.offset for e in feed.events] == [12])
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, StartDialog))
        await pilot.press(*"nope", "enter")
        assert isinstance(app.screen, StartDialog)  # refused in place, with the reason
        app.screen.query_one(Input).value = "10"
        await pilot.press("enter")
        await until(pilot, lambda: [e.offset for e in feed.events] == [10, 11, 12])
        assert "from offset 10" in str(screen.query_one("#feed-info").render())
        await pilot.press("c")
        assert app.clipboard == "micro events consume orders --offset 10"


async def test_pause_holds_events_and_enter_shows_the_whole_payload() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _events(app, pilot)
        screen.follow("orders")
        feed = screen.query_one(EventsFeed)
        feed.focus()
        await pilot.press("p")
        await _fake(app).publish("orders", '{"a":[1,2]}', {"k": "v"})
        info = screen.query_one("#feed-info")
        await until(pilot, lambda: "paused (1 waiting)" in str(info.render()))
        assert not feed.events
        await pilot.press("p")
        await until(pilot, lambda: len(feed.events) == 1)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PayloadDialog))
        shown = "\n".join(str(s.render()) for s in app.screen.query("Static"))
        assert '"a": [' in shown and "k=v" in shown and "orders @ 12" in shown
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EventsScreen))


async def test_publish_form_shows_the_cli_line_and_publishes_through_the_gate() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _events(app, pilot)
        screen.follow("payments")
        feed = screen.query_one(EventsFeed)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, PublishDialog))
        dialog = app.screen
        dialog.query_one(TextArea).text = '{"order": 7, "note": "it\'s [b]paid[/b]"}'
        dialog.query_one("#publish-metadata", Input).value = "source=tui"
        line = 'micro events publish payments \'{"order":7,"note":"it\'"\'"\'s [b]paid[/b]"}\' -m source=tui'
        await until(pilot, lambda: str(dialog.query_one("#publish-cli").render()) == line)
        dialog.query_one(TextArea).text = "{broken"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, PublishDialog)  # not JSON: stays, says why
        assert "invalid JSON payload" in str(dialog.query_one("#publish-error").render())
        dialog.query_one(TextArea).text = '{"order": 7, "note": "it\'s [b]paid[/b]"}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.commands_run == [line])
        [event] = _fake(app).published
        assert (event.payload, event.metadata) == (
            b'{"order":7,"note":"it\'s [b]paid[/b]"}',
            {"source": "tui"},
        )
        await until(pilot, lambda: [e.offset for e in feed.events] == [3])


async def test_reset_group_asks_where_then_confirms_with_the_cli_line() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _events(app, pilot)
        screen.follow("orders")
        groups = screen.query_one("#groups", DataTable)
        await until(pilot, lambda: groups.row_count == 2)
        groups.focus()
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, StartDialog))
        await pilot.press("enter")  # "the end" is no place to move a group to
        assert isinstance(app.screen, StartDialog)
        await pilot.press(*"2", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        confirm: Any = app.screen
        assert confirm.mutation.cli == "micro events groups orders --reset billing --offset 2"
        await pilot.press("y")
        await until(pilot, lambda: _fake(app).positions[("orders", "billing")] == 2)
        await until(pilot, lambda: str(groups.get_cell_at(Coordinate(0, 2))) == "10")  # lag, in place


async def test_a_read_only_env_refuses_publish_and_reset_with_the_clis_words() -> None:
    fake = FakeFacade()
    fake.session.add_env(EnvInfo("frozen", "127.0.0.1:8081", read_only=True))
    fake.session.set_env("frozen")
    app = MicroApp(fake)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _events(app, pilot)
        screen.follow("orders")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, PublishDialog))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, EventsScreen))
        await pilot.pause()
        assert _fake(app).published == [] and app.commands_run == []
        assert any("read-only" in str(n.message) for n in app._notifications)


async def test_events_command_and_the_palette_open_a_topic() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(":", *"events bad/topic", "enter")
        await until(pilot, lambda: isinstance(app.screen, EventsScreen) and app.screen.topic == "bad/topic")
        info = app.screen.query_one("#feed-info")
        await until(pilot, lambda: "invalid topic 'bad/topic'" in str(info.render()))
        await pilot.press(":", *"events payments", "enter")
        await until(pilot, lambda: isinstance(app.screen, EventsScreen) and app.screen.topic == "payments")
        await pilot.press("1")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: type(app.screen).__name__ == "CommandPalette")
        app.screen.query_one(Input).value = "topic orders"
        options = app.screen.query_one("CommandList", OptionList)
        await until(
            pilot,
            lambda: options.option_count > 0 and "topic orders" in str(options.get_option_at_index(0).prompt),
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EventsScreen) and app.screen.topic == "orders")


def _event(n: int) -> Event:
    return Event(f"id-{n}", "t", n, 1_767_268_800.0 + n, b'{"n":%d}' % n)


async def test_the_live_view_writes_in_batches_keeps_the_last_events_and_counts_the_rest() -> None:
    app = MicroApp(FakeFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _events(app, pilot)
        feed = screen.query_one(EventsFeed)
        feed.limit = 100
        feed.clear()
        feed._kept = type(feed._kept)(maxlen=100)
        for n in range(250):
            feed.add(_event(n))
        assert not feed.events  # nothing written event by event: the next batch does
        await until(pilot, lambda: len(feed.events) == 100)
        assert feed.events[0].offset == 150 and feed.dropped == 150 and feed.received == 250
        feed.action_first()  # the top: the marker, then the oldest event kept
        lines = [feed.render_line(y).text for y in range(2)]
        assert "dropped 150 (the oldest; 100 kept)" in lines[0] and '{"n":150}' in lines[1]
        # paused for long: the waiting events are bounded too
        feed.set_paused(True)
        for n in range(250, 450):
            feed.add(_event(n))
        assert feed.waiting == 100 and feed.dropped == 250
        feed.set_paused(False)
        await until(pilot, lambda: feed.events[-1].offset == 449)
