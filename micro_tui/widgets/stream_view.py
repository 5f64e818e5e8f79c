"""The Stream pane of the invoke screen: every message of a stream, as fast as it comes.

Lines are buffered and written to the ``Log`` in batches (every :data:`FLUSH_SECONDS`: one
line per write manages ~700 lines/s, batches tens of thousands), each with the time it
arrived. The pane keeps the last :data:`LIMIT` lines and says how many it dropped before them;
it follows the stream while it is scrolled to the bottom (scrolling up stops following,
``end`` follows again); ``p`` pauses the display (messages are still received and kept), ``t``
shows or hides the times.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Log, Static

__all__ = ["FLUSH_SECONDS", "LIMIT", "StreamView"]

FLUSH_SECONDS = 0.075
LIMIT = 100_000


def _stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at % 1 * 1000):03d}"


class StreamView(Vertical):
    """A stream's lines: :meth:`add` buffers one, :meth:`note` writes one at once."""

    DEFAULT_CSS = """
    StreamView { height: 1fr; }
    StreamView > #stream-info { height: 1; padding: 0 1; color: $text-muted; }
    StreamView > Log { height: 1fr; }
    """

    BINDINGS = [
        Binding("p", "pause", "Pause", id="stream.pause"),
        Binding("t", "timestamps", "Times", id="stream.timestamps"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = LIMIT
        self.messages = 0  # replies received (not the echoed requests, nor notes)
        self.dropped = 0
        self.paused = False
        self.timestamps = True
        self._pending: list[tuple[float, str]] = []
        self._kept: deque[tuple[float, str]] = deque(maxlen=self.limit)
        # kept, not queried: the batch timer may fire while the pane is being taken down
        self._info = Static("", id="stream-info")
        self._log = Log(id="stream-log", max_lines=self.limit)

    def compose(self) -> ComposeResult:
        yield self._info
        yield self._log

    def on_mount(self) -> None:
        # runs only while lines come (an idle invoke screen has no timer firing)
        self._timer = self.set_interval(FLUSH_SECONDS, self._tick, pause=True)
        self._ticking = False
        self._show_info()

    def _tick(self) -> None:
        self.flush()
        if not self._pending and not self.paused:
            self._timer.pause()
            self._ticking = False

    @property
    def log_widget(self) -> Log:
        return self._log

    def clear(self) -> None:
        """A new stream: nothing kept, nothing dropped."""
        self.messages = self.dropped = 0
        self._pending.clear()
        self._kept = deque(maxlen=self.limit)
        self.log_widget.clear()
        self._show_info()

    def add(self, line: str, *, message: bool = True) -> None:
        """One more line (a reply when ``message``, else an echoed request), written with the
        next batch."""
        self._pending.append((time.time(), line))
        if not self._ticking:
            self._ticking = True
            self._timer.resume()
        if message:
            self.messages += 1
        if len(self._pending) > self.limit:  # paused for long: the oldest go
            extra = len(self._pending) - self.limit
            del self._pending[:extra]
            self.dropped += extra

    def note(self, line: str) -> None:
        """A line about the stream (``cancelled``), after everything received before it."""
        self.flush(force=True)
        self.log_widget.write_line(line)

    def flush(self, *, force: bool = False) -> None:
        """Write the lines received since the last batch (not while paused, unless forced)."""
        if self.paused and not force:
            self._show_info()  # how many wait
            return
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        overflow = len(self._kept) + len(batch) - self.limit
        if overflow > 0:
            self.dropped += overflow
        self._kept.extend(batch)
        self.log_widget.write_lines(self._format(batch[-self.limit :]))
        self._show_info()

    def _format(self, lines: list[tuple[float, str]] | deque[tuple[float, str]]) -> list[str]:
        if self.timestamps:
            return [f"{_stamp(at)} {line}" for at, line in lines]
        return [line for _, line in lines]

    def _show_info(self) -> None:
        log = self.log_widget
        parts = [f"{self.messages:,} message{'' if self.messages == 1 else 's'}"]
        if self.dropped:
            parts.append(f"dropped {self.dropped:,} (the oldest; {self.limit:,} kept)")
        if self.paused:
            parts.append(f"paused ({len(self._pending):,} waiting) · p resumes")
        elif log.max_scroll_y and not log.is_vertical_scroll_end:
            parts.append("not following · end follows")
        else:
            parts.append("following")
        self._info.update(Text(" · ".join(parts)))

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.flush()
        self._show_info()

    def action_timestamps(self) -> None:
        """Show or hide the times: the kept lines are written again."""
        self.flush(force=True)
        self.timestamps = not self.timestamps
        log = self.log_widget
        follow = log.is_vertical_scroll_end
        log.clear()
        log.write_lines(self._format(self._kept), scroll_end=follow)
