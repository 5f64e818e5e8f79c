"""Area 3: topics and their consumer groups beside a live consumer view of one topic.

The topics table (count, last offset, retention) and the groups of the chosen topic
(position, lag, consumers) are read every :data:`POLL_SECONDS` while the area shows; the
live view (:class:`~micro_tui.widgets.events_feed.EventsFeed`) follows the chosen topic
outside any group (it moves no position) from the end, an offset or a time (``o``), and
pauses (``p``). ``n`` publishes, ``R`` resets the highlighted group (confirmed): both through
:meth:`MicroApp.perform <micro_tui.app.MicroApp.perform>`, with their ``micro events`` line.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from micro_tui._markup import literal
from micro_tui.actions import Mutation, cli_line
from micro_tui.slices.events import END, Start
from micro_tui.widgets.events_feed import EventsFeed
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader

if TYPE_CHECKING:
    from micro.events import GroupInfo, TopicInfo
    from micro_tui.app import MicroApp
    from micro_tui.dialogs.events_publish import Publication
    from micro_tui.session import Session

__all__ = ["EventsScreen"]

POLL_SECONDS = 2.0
RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)


def _span(seconds: float) -> str:
    """A retention's age in its largest whole unit: ``7d``, ``12h``, ``90s``."""
    whole = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _retention(topic: TopicInfo) -> str:
    r, parts = topic.retention, []
    if r.max_age is not None:
        parts.append(_span(r.max_age))
    if r.max_count is not None:
        parts.append(f"{r.max_count:,} events")
    if r.max_bytes is not None:
        parts.append(f"{r.max_bytes:,} B")
    return ", ".join(parts) or "-"


def _topic_row(topic: TopicInfo) -> tuple[Text, ...]:
    last = "-" if topic.last is None else str(topic.last)
    return (
        Text(topic.name),
        Text(f"{topic.events:,}", justify="right"),
        Text(last, justify="right"),
        Text(_retention(topic)),
    )


def _group_row(group: GroupInfo) -> tuple[Text, ...]:
    return (
        Text(group.name),
        Text(str(group.position), justify="right"),
        Text(f"{group.lag:,}", justify="right"),
        Text(str(group.consumers), justify="right"),
    )


def _fill(table: DataTable[Any], rows: dict[str, tuple[Text, ...]]) -> None:
    """Show ``rows`` (key → cells) in ``table`` without a flicker: cells change in place;
    the rows are made again only when the keys do (the cursor stays on its key)."""
    keys = [str(k.value) for k in table.rows]
    if keys == list(rows):
        for key, cells in rows.items():
            for column, cell in zip(table.columns, cells, strict=True):
                if str(table.get_cell(key, column)) != str(cell):
                    table.update_cell(key, column, cell)
        return
    chosen = keys[table.cursor_row] if table.row_count and 0 <= table.cursor_row < len(keys) else None
    table.clear()
    for key, cells in rows.items():
        table.add_row(*cells, key=key)
    if chosen in rows:
        table.move_cursor(row=list(rows).index(chosen), animate=False)


class EventsScreen(Screen[None]):
    """Events: ``enter`` on a topic follows it; ``o`` starts it elsewhere; ``p`` pauses;
    ``enter`` on an event shows its payload; ``n`` publishes; ``R`` resets a group."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "publish", "Publish", id="events.publish"),
        Binding("o", "start", "Start at", id="events.start"),
        Binding("p", "pause", "Pause", id="events.pause"),
        Binding("R", "reset_group", "Reset group", id="events.reset_group"),
        Binding("r", "refresh", "Refresh", id="events.refresh"),
        Binding("c", "copy_cli", "Copy as CLI", id="events.copy_cli"),
        Binding("escape", "back", "Back", show=False, id="events.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.topic = ""
        """The topic the live view follows ("" before one is chosen)."""
        self.start = END
        self.topics: list[TopicInfo] = []
        self.groups: list[GroupInfo] = []
        self._problems: dict[str, str] = {}

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield MicroHeader("events")
        with Horizontal(id="events-body"):
            with Vertical(id="events-side"):
                topics: DataTable[Any] = DataTable(id="topics", cursor_type="row", zebra_stripes=True)
                topics.border_title = "topics"
                yield topics
                groups: DataTable[Any] = DataTable(id="groups", cursor_type="row", zebra_stripes=True)
                groups.border_title = "groups"
                yield groups
            with Vertical(id="events-main", classes="pane"):
                yield Static("", id="feed-info")
                yield EventsFeed(id="feed")
        yield MicroFooter()

    def on_mount(self) -> None:
        self.query_one("#topics", DataTable).add_columns("topic", "events", "last", "retention")
        self.query_one("#groups", DataTable).add_columns("group", "position", "lag", "consumers")
        self.query_one("#events-main").border_title = "live"
        self.watch(self.app, "session", self._session_changed, init=False)
        self._show_info()
        self._poll()

    def _session_changed(self, old: Session, new: Session) -> None:
        if old.context != new.context:
            self.topic = ""
            self.workers.cancel_group(self, "events-consume")
            self.query_one(EventsFeed).clear()
            self._poll()

    # --- topics and groups -----------------------------------------------------------------

    @work(exclusive=True, group="events-poll")
    async def _poll(self) -> None:
        await self.micro.painted.wait()
        events = self.micro.facade.events
        attempt = 0
        while True:
            try:
                self.topics = await events.topics()
                self.groups = await events.groups(self.topic) if self.topic else []
            except Exception as exc:
                self._say("poll", f"{exc}")
                await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
                attempt += 1
                continue
            attempt = 0
            self._say("poll", "")
            self._show_tables()
            await asyncio.sleep(POLL_SECONDS)

    def _show_tables(self) -> None:
        topics = self.query_one("#topics", DataTable)
        _fill(topics, {t.name: _topic_row(t) for t in self.topics})
        if not self.topics:
            topics.border_subtitle = "none yet: n publishes one"
        else:
            topics.border_subtitle = ""
        groups = self.query_one("#groups", DataTable)
        _fill(groups, {g.name: _group_row(g) for g in self.groups})
        groups.border_title = literal(f"groups of {self.topic}") if self.topic else "groups"

    def refresh_now(self) -> None:
        self._poll()

    # --- the live view ---------------------------------------------------------------------

    def follow(self, topic: str, start: Start = END) -> None:
        """Follow ``topic`` from ``start`` in the live view (the groups table shows its groups)."""
        feed = self.query_one(EventsFeed)
        self.topic, self.start = topic, start
        topics = self.query_one("#topics", DataTable)
        keys = [str(k.value) for k in topics.rows]
        if topic in keys:
            topics.move_cursor(row=keys.index(topic), animate=False)
        self._problems.pop("follow", None)
        feed.clear()
        feed.set_paused(False)
        self.query_one("#events-main").border_title = literal(f"live · {topic}")
        self._consume(topic, start)
        self._poll()

    @work(exclusive=True, group="events-consume")
    async def _consume(self, topic: str, start: Start) -> None:
        await self.micro.painted.wait()
        feed = self.query_one(EventsFeed)
        events = self.micro.facade.events
        attempt = 0
        while True:
            try:
                async for batch in events.follow(topic, start):
                    if attempt:
                        attempt = 0
                        self._say("follow", "")
                    feed.add_many(batch)
                    # after a lost connection, carry on after the last event seen
                    start = Start(offset=batch[-1].offset + 1)
            except Exception as exc:
                if getattr(exc, "code", 0) == 400:  # a topic name no server takes: no retry
                    self._say("follow", f"{topic}: {getattr(exc, 'detail', '') or exc}")
                    return
                self._say("follow", f"{topic}: {exc} · reconnecting")
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            attempt += 1

    def _say(self, what: str, message: str) -> None:
        """What went wrong with ``what`` (``poll``, ``follow``), shown on the info line in
        place of the view's state until it is put right ("")."""
        if self._problems.get(what, "") != message:
            self._problems[what] = message
            self._show_info()

    @on(EventsFeed.Changed)
    def _show_info(self) -> None:
        feed = self.query_one(EventsFeed)
        problem = self._problems.get("follow") or self._problems.get("poll")
        if problem:
            self.query_one("#feed-info", Static).update(Text(problem, style="italic"), layout=False)
            return
        if not self.topic:
            text = "Choose a topic (enter) to follow it here; n publishes an event."
        else:
            # the state first: a narrow pane cuts the end of the line
            if feed.paused:
                state = f"paused ({feed.waiting:,} waiting) · p resumes"
            elif not feed.following:
                state = "not following · end follows"
            else:
                state = "following"
            text = " · ".join((state, f"{feed.received:,} received", self.start.describe()))
        self.query_one("#feed-info", Static).update(Text(text), layout=False)  # one line, always

    @on(DataTable.RowSelected, "#topics")
    def _topic_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.follow(str(event.row_key.value))
        self.query_one(EventsFeed).focus()

    @on(EventsFeed.Opened)
    def _opened(self, event: EventsFeed.Opened) -> None:
        from micro_tui.dialogs.events_payload import PayloadDialog

        self.app.push_screen(PayloadDialog(event.event))

    def open_with(self, args: tuple[str, ...]) -> None:
        """``:events topic``: follow it from the end."""
        if args:
            self.follow(args[0])
            self.query_one(EventsFeed).focus()

    # --- actions ---------------------------------------------------------------------------

    def _highlighted_topic(self) -> str:
        topics = self.query_one("#topics", DataTable)
        if topics.row_count and self.focused is topics:
            return str(topics.coordinate_to_cell_key(topics.cursor_coordinate).row_key.value)
        return self.topic

    def action_start(self) -> None:
        from micro_tui.dialogs.events_start import StartDialog

        topic = self._highlighted_topic()
        if not topic:
            self.notify("Choose a topic first", severity="warning")
            return

        def chosen(start: Start | None) -> None:
            if start is not None:
                self.follow(topic, start)

        self.app.push_screen(StartDialog(f"Follow {topic} from…"), chosen)

    def action_pause(self) -> None:
        feed = self.query_one(EventsFeed)
        feed.set_paused(not feed.paused)

    def action_publish(self) -> None:
        from micro_tui.dialogs.events_publish import PublishDialog

        def chosen(publication: Publication | None) -> None:
            if publication is not None:
                self._publish(publication)

        self.app.push_screen(PublishDialog(self._highlighted_topic()), chosen)

    def _publish(self, publication: Publication) -> None:
        events = self.micro.facade.events

        def done(event: Any) -> None:
            self.notify(literal(f"{event.topic} @ {event.offset} · {event.id}"), title="Published")
            self.refresh_now()

        self.micro.perform(
            Mutation(f"publish an event to {publication.topic}", publication.cli),
            lambda: events.publish(publication.topic, publication.payload, publication.metadata),
            done=done,
        )

    def action_reset_group(self) -> None:
        from micro_tui.dialogs.events_start import StartDialog

        table = self.query_one("#groups", DataTable)
        if not self.topic or not table.row_count:
            self.notify("Choose a topic with a group first", severity="warning")
            return
        group = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        topic = self.topic

        def chosen(start: Start | None) -> None:
            if start is None:
                return
            line = cli_line("events", "groups", topic, "--reset", group, *start.flags())
            where = f"offset {start.offset}" if start.offset is not None else start.describe()
            events = self.micro.facade.events
            self.micro.perform(
                Mutation(f"reset group {group} of {topic} to {where}", line, destructive=True),
                lambda: events.reset_group(topic, group, start),
                done=lambda position: self.refresh_now(),
            )

        self.app.push_screen(StartDialog(f"Move group {group} of {topic} to…", allow_end=False), chosen)

    def action_refresh(self) -> None:
        self.refresh_now()

    def action_copy_cli(self) -> None:
        if isinstance(self.focused, DataTable) and self.focused.id == "groups" and self.topic:
            line = cli_line("events", "groups", self.topic)
        else:
            topic = self._highlighted_topic()
            if not topic:
                raise SkipAction()
            start = self.start if topic == self.topic else END
            line = cli_line("events", "consume", topic, *start.flags())
        self.micro.copy_cli(line)

    def action_back(self) -> None:
        self.query_one("#topics", DataTable).focus()
