"""The log lines of the logs area: a virtual view over the entries the buffer keeps.

Only the rows on the screen are rendered (each line's strip cached by its ``seq``), so a
batch of thousands of lines costs a list extend and one refresh, not a render per line (a
``Log`` renders nothing per write either, but could not colour a line's parts). Each line is
``[time] service/instance text``: the source in its own colour (component classes, so the
theme's variables decide the colours), filter matches highlighted, runtime lines dimmed,
"dropped N lines" markers and notes standing out. Wrap (``wrap``) lays long lines over
several rows; without it the view scrolls sideways.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from micro_tui.logbuffer import Entry, LineFilter, clock, source

__all__ = ["SOURCE_COLOURS", "LogsView"]

SOURCE_COLOURS = 10
"""How many source styles there are (``logs-view--source-N`` in app.tcss); a source gets
the next one the first time it writes, in turn."""
CACHED_ROWS = 256
"""Rendered rows kept (a few screens): each is dozens of objects the garbage collector walks,
so under a flood a bigger cache costs more in collection pauses than it saves."""
_TIME_WIDTH = len("00:00:00.000 ")
_control = re.compile("[\u0000-\u0008\u000b-\u001f\u007f]").sub


def _clean(text: str) -> str:
    """No control codes (they would move the cursor), tabs as spaces."""
    return _control("\ufffd", text.expandtabs())


class LogsView(ScrollView, can_focus=True):
    """Entries (see :mod:`micro_tui.logbuffer`) as rows; :meth:`append` a batch, :meth:`reset`
    to show another list (a new filter, a clear)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"logs-view--source-{n}" for n in range(SOURCE_COLOURS)),
        "logs-view--time",
        "logs-view--runtime",
        "logs-view--marker",
        "logs-view--note",
        "logs-view--match",
        "logs-view--current",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: list[Entry] = []
        self.wrap = False
        self.timestamps = False
        self.filter: LineFilter | None = None
        self.current: int | None = None
        """The index of the match ``n``/``N`` went to (marked), if any."""
        self._slots: dict[tuple[str, int], int] = {}
        self._prefix = 0  # the widest service/instance so far: sources line up
        self._lengths: list[int] = []  # cells of each entry's text
        self._widest = 0
        self._starts: list[int] | None = None  # first row of each entry when wrapping
        self._cache: LRUCache[int, Strip] = LRUCache(CACHED_ROWS)
        self._base: Style | None = None

    # --- content ---------------------------------------------------------------------------

    def reset(self, entries: Sequence[Entry]) -> None:
        """Show ``entries`` instead of what is shown (following the end)."""
        self.entries = list(entries)
        self._cache.clear()  # a new filter highlights other parts
        self._lengths = [self._measure(e) for e in self.entries]
        self._widest = max(self._lengths, default=0)
        self.current = None
        self._changed(follow=True)

    def append(self, entries: Sequence[Entry], oldest: int, *, follow: bool) -> None:
        """Add ``entries`` (those the filter keeps) and forget the shown ones older than
        ``oldest`` (evicted from the buffer); ``follow``: keep the last row in view (unless
        the view was scrolled up)."""
        at_end = self.is_vertical_scroll_end
        keep = self.filter
        new = [e for e in entries if keep is None or keep.keeps(e)]
        measured = [self._measure(e) for e in new]
        self.entries.extend(new)
        self._lengths.extend(measured)
        if measured:
            self._widest = max(self._widest, *measured)
        gone = 0
        while gone < len(self.entries) and self.entries[gone].seq < oldest:
            gone += 1
        rows_gone = self._row_of(gone) if gone else 0
        if gone:
            del self.entries[:gone]
            del self._lengths[:gone]
            if self.current is not None:
                self.current = self.current - gone if self.current >= gone else None
        self._changed(follow=follow and at_end)
        if rows_gone and not (follow and at_end):
            # the rows above went: the ones in view stay where they are
            self.scroll_to(y=max(0, self.scroll_y - rows_gone), animate=False, immediate=True, force=True)

    def _measure(self, entry: Entry) -> int:
        if entry.kind == "line":
            key = (entry.service, entry.instance)
            if key not in self._slots:  # in the order sources first write: stable colours
                self._slots[key] = len(self._slots) % SOURCE_COLOURS
            width = cell_len(source(entry)) + 1
            if width > self._prefix:
                self._prefix = width
                self._cache.clear()
            text = entry.text
            return len(text) if text.isascii() and "\t" not in text else cell_len(_clean(text))
        return cell_len(entry.text) + 6

    def _row_width(self, index: int) -> int:
        entry = self.entries[index]
        prefix = self._prefix if entry.kind == "line" else 0
        return (_TIME_WIDTH if self.timestamps else 0) + prefix + self._lengths[index]

    def _row_of(self, index: int) -> int:
        """The first row of entry ``index`` (its index without wrap)."""
        if not self.wrap:
            return index
        starts = self._wrap_starts()
        return starts[index] if index < len(starts) else starts[-1] if starts else 0

    def _wrap_starts(self) -> list[int]:
        if self._starts is None:
            width = max(1, self.scrollable_content_region.width)
            starts, row = [], 0
            for index in range(len(self.entries)):
                starts.append(row)
                row += max(1, -(-self._row_width(index) // width))
            starts.append(row)
            self._starts = starts
        return self._starts

    def _changed(self, *, follow: bool) -> None:
        self._starts = None
        if self.wrap:
            height = self._wrap_starts()[-1]
            self._resize_content(Size(self.scrollable_content_region.width, height))
        else:
            prefix = _TIME_WIDTH if self.timestamps else 0
            self._resize_content(Size(prefix + self._prefix + self._widest, len(self.entries)))
        if follow:
            # forced: the scrollbar a new batch calls for is not laid out yet
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()

    def _resize_content(self, size: Size) -> None:
        """Set the virtual size. ``virtual_size`` is a layout reactive: every batch would lay
        the whole screen out again (most of a flood's cost); when the scrollbars stay as they
        are, nothing else moves, so the scroll range and a repaint are enough."""
        if size == self.virtual_size:
            return
        region = self.scrollable_content_region
        bars_stay = (
            self.is_mounted
            and self.show_vertical_scrollbar == (size.height > region.height)
            and self.show_horizontal_scrollbar == (size.width > region.width)
        )
        if not bars_stay:
            self.virtual_size = size
            return
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def relayout(self) -> None:
        """Wrap or timestamps changed: every row again (the view keeps following the end
        when it did)."""
        follow = self.is_vertical_scroll_end
        self._cache.clear()
        self._changed(follow=follow)

    def on_resize(self) -> None:
        if self.wrap:
            self.relayout()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._base = None

    def _on_focus(self, event: Any) -> None:
        self._base = None  # focused, the background is tinted
        self._cache.clear()
        super()._on_focus(event)

    def _on_blur(self, event: Any) -> None:
        self._base = None
        self._cache.clear()
        super()._on_blur(event)

    @property
    def _base_style(self) -> Style:
        """``rich_style``, kept: it walks the DOM each time (a third of a flood's rendering)."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    # --- matches ---------------------------------------------------------------------------

    def go_to(self, index: int) -> None:
        """Mark entry ``index`` and bring it into the middle of the view."""
        self.current = index
        row = self._row_of(index)
        self.scroll_to(y=max(0, row - self.scrollable_content_region.height // 2), animate=False, force=True)
        self.refresh()

    def first_visible(self) -> int:
        """The index of the entry at the top of the view."""
        if not self.wrap:
            return min(int(self.scroll_y), max(0, len(self.entries) - 1))
        return max(0, bisect_right(self._wrap_starts(), int(self.scroll_y)) - 1)

    # --- rendering -------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        """The component's style; its background only where it has one of its own (a
        match, the current line), so that the current line's shows through the rest."""
        full = self.get_component_rich_style(f"logs-view--{name}")
        if name in ("match", "current"):
            return full
        return Style(color=full.color, bold=full.bold, italic=full.italic, underline=full.underline)

    def _strip(self, index: int) -> Strip:
        entry = self.entries[index]
        current = index == self.current
        cached = None if current else self._cache.get(entry.seq)
        if cached is not None:
            return cached
        base = self._base_style + self._style("current") if current else self._base_style
        text = Text(style=base, no_wrap=True, end="")
        if self.timestamps:
            text.append(clock(entry.ts) + " " if entry.ts else " " * _TIME_WIDTH, self._style("time"))
        if entry.kind == "line":
            slot = self._slots.get((entry.service, entry.instance), 0)
            text.append(source(entry).ljust(self._prefix), self._style(f"source-{slot}"))
            start = len(text)
            body = _clean(entry.text)
            text.append(body, self._style("runtime") if entry.stream == "runtime" else None)
            if self.filter is not None:
                match = self._style("match")
                for begin, end in self.filter.spans(body):
                    text.stylize(match, start + begin, start + end)
        else:
            text.append(f"── {entry.text} ──", self._style("marker" if entry.kind == "dropped" else "note"))
        strip = Strip(text.render(self.app.console), text.cell_len)
        if not current:
            self._cache[entry.seq] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        style = self._base_style
        if self.wrap:
            starts = self._wrap_starts()
            if row >= starts[-1] if starts else True:
                return Strip.blank(width, style)
            index = bisect_right(starts, row) - 1
            part = row - starts[index]
            line_style = style + self._style("current") if index == self.current else style
            return self._strip(index).crop_extend(part * width, (part + 1) * width, line_style)
        if row >= len(self.entries):
            return Strip.blank(width, style)
        line_style = style + self._style("current") if row == self.current else style
        return self._strip(row).crop_extend(scroll_x, scroll_x + width, line_style)

    def plain(self, index: int) -> str:
        """Entry ``index`` as the view shows it, without styles (tests, the bench)."""
        return self._strip(index).text
