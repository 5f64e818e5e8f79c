"""Area 3 against a real in-process server: an event published with the form is seen in the
live view, and a consumer group is reset (confirmed) to an offset."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Input, TextArea

from micro_tui.app import MicroApp
from micro_tui.dialogs.confirm import ConfirmDialog
from micro_tui.dialogs.events_publish import PublishDialog
from micro_tui.dialogs.events_start import StartDialog
from micro_tui.real import RealFacade
from micro_tui.screens.events import EventsScreen
from micro_tui.widgets.events_feed import EventsFeed
from tests.micro_tui._greeter import Greeter
from tests.micro_tui.test_pilot import until
from tests.micro_tui.test_real import greeter, logged_in

__all__ = ["greeter"]  # the fixture: a real server as the current env


async def _admin_stream(address: str) -> Any:
    from micro.auth.grpc import GrpcAuth
    from micro.events.grpc import GrpcStream

    auth = GrpcAuth(address, namespace="micro")
    token = (await auth.token(id="admin", secret="micro", namespace="micro")).access_token
    await auth.close()
    return GrpcStream(address, namespace="micro", token=token)


async def test_an_event_published_with_the_form_is_seen_and_a_group_is_reset(greeter: Greeter) -> None:
    app = MicroApp(RealFacade())
    async with app.run_test(size=(120, 40)) as pilot:
        await logged_in(app, pilot)
        stream = await _admin_stream(app.facade.session.address)
        try:
            await stream.publish("orders", b'{"n":0}')
            # another user's consumer group, which has taken the first event
            async with await stream.consume("orders", group="billing", from_start=True) as sub:
                await anext(sub)
            await pilot.press(":", *"events orders", "enter")
            await until(pilot, lambda: isinstance(app.screen, EventsScreen) and app.screen.topic == "orders")
            screen = app.screen
            assert isinstance(screen, EventsScreen)
            feed = screen.query_one(EventsFeed)
            await pilot.press("o")  # from offset 0: the live view holds what is stored, then follows
            await until(pilot, lambda: isinstance(app.screen, StartDialog))
            await pilot.press("0", "enter")
            await until(pilot, lambda: [e.offset for e in feed.events] == [0], seconds=10)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, PublishDialog))
            app.screen.query_one(TextArea).text = '{"n": 1, "via": "tui"}'
            app.screen.query_one("#publish-metadata", Input).value = "source=tui"
            await pilot.press("ctrl+s")
            line = 'micro events publish orders \'{"n":1,"via":"tui"}\' -m source=tui'
            await until(pilot, lambda: app.commands_run == [line], seconds=10)
            await until(pilot, lambda: len(feed.events) == 2, seconds=10)
            seen = feed.events[-1]
            assert (seen.offset, seen.payload) == (1, b'{"n":1,"via":"tui"}')
            assert seen.metadata == {"source": "tui"}
            # the group: reset to offset 0 (confirmed), and the table shows its lag again
            groups = screen.query_one("#groups", DataTable)
            await until(pilot, lambda: groups.row_count == 1, seconds=10)
            groups.focus()
            await pilot.press("R")
            await until(pilot, lambda: isinstance(app.screen, StartDialog))
            await pilot.press("0", "enter")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            reset = "micro events groups orders --reset billing --offset 0"
            await until(pilot, lambda: app.commands_run[-1] == reset, seconds=10)
            [group] = await stream.groups("orders")
            assert (group.position, group.lag) == (0, 2)
            await until(pilot, lambda: str(groups.get_row_at(0)[1]) == "0", seconds=10)
        finally:
            await stream.close()
