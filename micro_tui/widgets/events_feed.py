"""The live consumer view of the events area: one row per event, as fast as they come.

Events are buffered and shown in batches (every :data:`FLUSH_SECONDS`), and only the rows on
the screen are ever rendered (each row once: rows are kept as rendered strips while they
show), so a topic taking thousands of events a second costs a screenful of rows a frame
at most. The view keeps the last :data:`LIMIT` events; past that (or past it
while paused) the oldest go, counted in a "dropped N" marker row at the top. A cursor row
(``↑``/``↓``, ``pgup``/``pgdn``, ``home``/``end``) picks an event; ``enter`` posts
:class:`EventsFeed.Opened` with it. While the cursor is on the last event the view follows
new ones; moving up stops following, ``end`` follows again.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click, MouseScrollDown, MouseScrollUp, Resize
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from micro.events import Event

__all__ = ["FLUSH_SECONDS", "LIMIT", "EventsFeed"]

FLUSH_SECONDS = 0.1
LIMIT = 10_000
META_WIDTH = 24
"""The metadata column's widest (it is as wide as the longest metadata kept, up to this)."""
WIDE = 70
"""From this many columns on, rows show the event's id and the milliseconds of its time."""


def _time(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"


def _metadata(event: Event) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(event.metadata.items())) or "-"


def _clean(text: str) -> str:
    """One row's text: no line breaks or tabs (a payload string may hold them)."""
    return text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")


class EventsFeed(Widget, can_focus=True):
    """Events of one consumer: :meth:`add` buffers one; rows render on demand.

    Not a ScrollView: a scroll region's virtual size is part of the layout, and growing it
    with every batch would lay the whole screen out again (a full repaint) many times a
    second. The feed keeps its own top row instead, so a batch repaints only the feed."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "events-feed--time",
        "events-feed--offset",
        "events-feed--meta",
        "events-feed--cursor",
        "events-feed--marker",
    }
    DEFAULT_CSS = """
    EventsFeed { height: 1fr; }
    EventsFeed > .events-feed--time { color: $text-muted; }
    EventsFeed > .events-feed--offset { color: $accent; }
    EventsFeed > .events-feed--meta { color: $secondary; }
    EventsFeed > .events-feed--cursor { background: $boost; text-style: bold; }
    EventsFeed:focus > .events-feed--cursor { background: $primary 30%; }
    EventsFeed > .events-feed--marker { color: $warning; text-style: italic; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False, id="events_feed.up"),
        Binding("down", "move(1)", "Down", show=False, id="events_feed.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="events_feed.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="events_feed.page_down"),
        Binding("home", "first", "First", show=False, id="events_feed.first"),
        Binding("end", "last", "Follow", show=False, id="events_feed.last"),
        Binding("enter", "open", "Payload", id="events_feed.open"),
    ]

    class Opened(Message):
        """``enter`` on an event: show all of it."""

        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class Changed(Message):
        """What the info line says changed: a batch written, paused, stopped following."""

    def __init__(self, *, limit: int = LIMIT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self.received = 0
        self.dropped = 0
        """Events that were not kept: the oldest, past :attr:`limit`."""
        self.paused = False
        self.following = True
        self._kept: deque[Event] = deque(maxlen=limit)
        self._pending: list[Event] = []
        self._gone = 0  # events that left the front of _kept (their sequence numbers)
        self._cursor = -1  # the cursor's event, as a sequence number (-1: none yet)
        self._timer: Any = None
        self._offset_width = 3
        self._meta_width = 1
        self._top = 0  # the first row on the screen (rows: the marker, then the events kept)
        self._strips: dict[tuple[int, int, bool], Strip] = {}  # (sequence, width, cursor)
        self._styles: dict[str, Style] = {}
        self._told = 0  # self.received when the info line last heard of it (paused)

    def on_mount(self) -> None:
        # runs only while events come: an idle view has no timer firing
        self._timer = self.set_interval(FLUSH_SECONDS, self._tick, pause=True)
        self._ticking = False

    # --- data ----------------------------------------------------------------------------

    @property
    def events(self) -> deque[Event]:
        """The events kept, oldest first."""
        return self._kept

    @property
    def waiting(self) -> int:
        """Events received and not shown yet (paused, or before the next batch)."""
        return len(self._pending)

    def clear(self) -> None:
        """Another topic or start: nothing kept, nothing dropped, following."""
        self.received = self.dropped = self._gone = 0
        self._offset_width, self._meta_width = 3, 1
        self._cursor = -1
        self._pending.clear()
        self._kept.clear()
        self.following = True
        self._resize()
        self.post_message(self.Changed())

    def add(self, event: Event) -> None:
        """One more event, shown with the next batch."""
        self.add_many([event])

    def add_many(self, events: list[Event]) -> None:
        """More events (in offset order), shown with the next batch."""
        self.received += len(events)
        self._pending.extend(events)
        if len(self._pending) > self.limit:  # paused for long: the oldest go
            extra = len(self._pending) - self.limit
            del self._pending[:extra]
            self.dropped += extra
        if not self._ticking and self._timer is not None:
            self._ticking = True
            self._timer.resume()

    def _tick(self) -> None:
        if self.paused:
            # the info line's "N waiting" moves on while events come; the timer stops
            # once a tick brings none
            if self.received == self._told:
                self._timer.pause()
                self._ticking = False
            else:
                self._told = self.received
                self.post_message(self.Changed())
            return
        self.flush()
        if not self._pending:
            self._timer.pause()
            self._ticking = False

    def flush(self) -> None:
        """Show the events received since the last batch (not while paused)."""
        if self.paused or not self._pending:
            return
        batch, self._pending = self._pending, []
        overflow = len(self._kept) + len(batch) - self.limit
        if overflow > 0:
            self.dropped += overflow
            self._gone += overflow
        self._kept.extend(batch)
        self._offset_width = max(self._offset_width, len(str(batch[-1].offset)))
        if self._meta_width < META_WIDTH:
            self._meta_width = max(self._meta_width, *(len(_metadata(e)) for e in batch[-100:]))
        if self.following or self._cursor < self._gone:
            self._cursor = self._gone + len(self._kept) - 1
        self._resize()
        self.post_message(self.Changed())

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if not paused:
            self.flush()
            if self._pending and self._timer is not None:
                self._ticking = True
                self._timer.resume()
        self.post_message(self.Changed())

    @property
    def cursor_event(self) -> Event | None:
        index = self._cursor - self._gone
        return self._kept[index] if 0 <= index < len(self._kept) else None

    # --- layout and rendering ------------------------------------------------------------

    @property
    def _marker(self) -> int:
        """1 when the marker row shows (something was dropped), else 0."""
        return 1 if self.dropped else 0

    @property
    def _rows(self) -> int:
        return len(self._kept) + self._marker

    def _resize(self) -> None:
        row = self._cursor - self._gone + self._marker
        if self.following:
            self._top = max(0, self._rows - self.size.height)
        elif row >= 0:
            self._show_row(row)
        self._top = max(0, min(self._top, self._rows - 1))
        self.refresh()

    def _show_row(self, row: int) -> None:
        height = max(1, self.size.height)
        if row < self._top:
            self._top = row
        elif row >= self._top + height:
            self._top = row - height + 1

    def on_resize(self, event: Resize) -> None:
        self._strips.clear()
        self._resize()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()

    def _style(self, component: str) -> Style:
        style = self._styles.get(component)
        if style is None:
            style = self.rich_style if not component else self.get_component_rich_style(component)
            self._styles[component] = style
        return style

    def render_line(self, y: int) -> Strip:
        row = self._top + y
        width = self.size.width
        base = self._style("")
        if self._marker and row == 0:
            text = f"── dropped {self.dropped:,} (the oldest; {self.limit:,} kept) ──"
            return Strip([Segment(text, base + self._style("events-feed--marker"))]).crop_extend(
                0, width, base
            )
        index = row - self._marker
        if not 0 <= index < len(self._kept):
            return Strip.blank(width, base)
        sequence = index + self._gone
        cursor = sequence == self._cursor
        key = (sequence, width, cursor)
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) > 4 * max(self.size.height, 10):
                self._strips.clear()  # rows that scrolled away
            strip = self._strips[key] = self._render_event(self._kept[index], width, cursor)
        return strip

    def _render_event(self, event: Event, width: int, cursor: bool) -> Strip:
        base = self._style("")
        # the payload as it came (the CLI publishes compact JSON); its start is enough
        payload = event.payload[: width * 4].decode("utf-8", errors="replace")
        # narrow: the id and the milliseconds go, and the metadata gets at most a sixth of the row
        meta_width = min(self._meta_width, META_WIDTH, max(6, width // 6))
        stamp = _time(event.timestamp)
        parts = [
            (stamp if width >= WIDE else stamp[:8], "events-feed--time"),
            (f"{event.offset:>{self._offset_width}}", "events-feed--offset"),
            *([(event.id[-8:], "")] if width >= WIDE else []),  # ids share their (time) prefix
            (f"{_clean(_metadata(event))[:meta_width]:<{meta_width}}", "events-feed--meta"),
            (_clean(payload[: width * 2])[: max(width, 1)], ""),
        ]
        over = self._style("events-feed--cursor") if cursor else Style()
        segments: list[Segment] = []
        for n, (text, component) in enumerate(parts):
            style = base + (self._style(component) if component else Style()) + over
            segments.append(Segment(("" if n == 0 else " ") + text, style))
        return Strip(segments).crop_extend(0, width, base + over)

    # --- keys and the mouse --------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        if not self._kept:
            return
        index = max(0, min(index, len(self._kept) - 1))
        self._cursor = self._gone + index
        was = self.following
        self.following = index == len(self._kept) - 1
        self._show_row(index + self._marker if index else 0)  # the first one: the marker too
        self.refresh()
        if was != self.following:
            self.post_message(self.Changed())

    def action_move(self, step: int) -> None:
        self._move_to(self._cursor - self._gone + step)

    def action_page(self, step: int) -> None:
        self._move_to(self._cursor - self._gone + step * max(1, self.size.height - 1))

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(len(self._kept) - 1)
        self.following = True
        self._resize()

    def action_open(self) -> None:
        event = self.cursor_event
        if event is not None:
            self.post_message(self.Opened(event))

    def on_click(self, event: Click) -> None:
        self._move_to(self._top + event.y - self._marker)

    def _scroll(self, step: int) -> None:
        if self._rows <= self.size.height:
            return
        self._top = max(0, min(self._top + step, self._rows - self.size.height))
        if self.following and step < 0:
            self.following = False
            self.post_message(self.Changed())
        self.refresh()

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self._scroll(-3)

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        self._scroll(3)
