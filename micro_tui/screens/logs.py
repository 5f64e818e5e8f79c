"""Area 2: one or several services' logs, merged, live.

The services pane lists what the runtime runs (``micro status``); the chosen ones (``space``
in the list, ``l`` on a service in area 1, ``:logs a,b``) are followed through the logs
slice from their last :attr:`LogsScreen.tail` lines on. Lines wait in a
:class:`~micro_tui.logbuffer.LogBuffer` and are written in batches every
:data:`FLUSH_SECONDS`; the buffer keeps the last ``logs_buffer`` lines (a workspace setting,
10,000 by default) and shows every line it could not write, and every line the server
dropped, as a "dropped N lines" marker.
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, SelectionList, Static, TextArea

from micro_tui import settings
from micro_tui._markup import literal
from micro_tui.logbuffer import DEFAULT_LIMIT, LineFilter, LogBuffer, saved_line
from micro_tui.slices.logs import DEFAULT_TAIL, LogChunk, LogLine, LogSource
from micro_tui.widgets.filter_input import FilterInput
from micro_tui.widgets.logs_view import LogsView
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader

if TYPE_CHECKING:
    from textual.timer import Timer

    from micro_tui.app import MicroApp
    from micro_tui.session import Session

__all__ = ["FLUSH_SECONDS", "LogsScreen"]

FLUSH_SECONDS = 0.075
"""How often waiting lines are written (the spec's 50–100 ms)."""
FIRST_LINES_SECONDS = 0.3
"""How long the first lines of one service wait for the others' (to merge them by time)."""
SOURCES_SECONDS = 5.0
"""How often the services pane asks the runtime what it runs."""


def _setting(name: str, default: int) -> int:
    value = settings.load().get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


class LogsScreen(Screen[None]):
    """Logs: ``f`` pause/follow, ``w`` wrap, ``t`` times, ``/`` filter (regex, ``!``
    inverts), ``n``/``N`` matches, ``ctrl+l`` clear, ``ctrl+s`` save, ``s`` services."""

    BINDINGS = [
        # priority like the services area's: "/abc" typed fast lands in the filter
        Binding("slash", "filter", "Filter", priority=True, id="logs.filter"),
        Binding("f", "follow", "Pause/follow", id="logs.follow"),
        Binding("w", "wrap", "Wrap", id="logs.wrap"),
        Binding("t", "timestamps", "Times", id="logs.timestamps"),
        Binding("n", "match(1)", "Next match", show=False, id="logs.next_match"),
        Binding("N", "match(-1)", "Previous match", show=False, id="logs.previous_match"),
        Binding("ctrl+l", "clear", "Clear", id="logs.clear"),
        Binding("s", "sources", "Services", id="logs.services"),
        Binding("ctrl+s", "save", "Save", show=False, id="logs.save"),
        Binding("c", "copy_cli", "Copy as CLI", show=False, id="logs.copy_cli"),
        Binding("r", "refresh", "Refresh", show=False, id="logs.refresh"),
        Binding("escape", "back", "Back / clear filter", show=False, id="logs.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.buffer = LogBuffer(_setting("logs_buffer", DEFAULT_LIMIT))
        self.tail = _setting("logs_tail", DEFAULT_TAIL)
        self.services: list[str] = []
        """The services followed, in the order chosen."""
        self.states: dict[str, str] = {}
        """Each followed service's stream: connecting, live, or why it is retrying."""
        self.known: list[LogSource] = []
        self._timer: Timer | None = None
        self._ticking = False
        self._sources_loaded = False
        self._picker_shows: tuple[list[tuple[str, str]], set[str]] = ([], set())

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    @property
    def view(self) -> LogsView:
        return self.query_one(LogsView)

    def compose(self) -> ComposeResult:
        yield MicroHeader("logs")
        with Horizontal(id="logs-body"):
            with Vertical(id="logs-sources", classes="pane") as pane:
                pane.border_title = "services"
                yield SelectionList[str](id="logs-picker")
                yield Input(str(self.tail), placeholder="tail", type="integer", id="logs-tail")
            with Vertical(id="logs-main"):
                yield Static("", id="logs-info")
                yield LogsView(id="logs-view")
                yield FilterInput(
                    placeholder="filter: regex, !x inverts · n/N matches",
                    id="logs-filter",
                    back_to="#logs-view",
                )
        yield MicroFooter()

    def on_mount(self) -> None:
        # a flood allocates tens of thousands of objects a second and keeps 10,000 of them:
        # the collector's full passes come often, and each walked every object of the app
        # (~100,000, a few hundred ms on a busy machine, the screen frozen meanwhile);
        # what exists now lives as long as the app, so it is left out of those passes
        gc.freeze()
        self.query_one("#logs-tail", Input).border_title = "tail"
        self._timer = self.set_interval(FLUSH_SECONDS, self._tick, pause=True)
        self.watch(self.app, "session", self._session_changed, init=False)
        self.set_interval(SOURCES_SECONDS, self._load_sources)
        self._load_sources()
        self._show_info()

    def _session_changed(self, old: Session, new: Session) -> None:
        if old.context != new.context:
            self.follow([])
            self._load_sources()

    # --- what is followed ------------------------------------------------------------------

    def open_with(self, args: tuple[str, ...]) -> None:
        """``:logs a,b`` and ``l`` in area 1: follow those services."""
        names = [n.strip() for arg in args for n in arg.split(",") if n.strip()]
        if names:
            self.follow(names)
            self.view.focus()

    def follow(self, services: list[str]) -> None:
        """Follow ``services`` from their last :attr:`tail` lines (none: stop)."""
        self.services = list(dict.fromkeys(services))
        self.states = {name: "connecting" for name in self.services}
        paused, self.buffer = self.buffer.paused, LogBuffer(self.buffer.limit)  # counts anew
        self.buffer.paused = paused
        self.view.reset([])
        self._sync_picker()
        if self.services:
            self._follow(self.services, self.tail)
        else:
            self.workers.cancel_group(self, "logs-follow")
        self._show_info()

    @work(exclusive=True, group="logs-follow")
    async def _follow(self, services: list[str], tail: int) -> None:
        await self.micro.painted.wait()
        logs = self.micro.facade.logs
        # the services' last lines come one service after the other: held until each has
        # sent its own (or FIRST_LINES_SECONDS passed), then merged by time
        first: dict[str, list[LogLine]] = {name: [] for name in services}
        release = self.set_timer(FIRST_LINES_SECONDS, lambda: self._merge_first(first))
        try:
            async for chunk in logs.follow(services, tail=tail):
                if chunk.state:
                    self.states[chunk.service] = chunk.state if chunk.state == "connecting" else chunk.detail
                elif self.states.get(chunk.service) != "live":
                    self.states[chunk.service] = "live"
                if chunk.service in first and (chunk.lines or chunk.state == "retrying"):
                    first[chunk.service].extend(chunk.lines)
                    self.buffer.add(LogChunk(chunk.service, (), chunk.dropped, chunk.state, chunk.detail))
                    if all(first.values()) or chunk.state == "retrying":
                        self._merge_first(first)
                    continue
                self.buffer.add(chunk)
                self._kick()
        finally:
            release.stop()

    def _merge_first(self, first: dict[str, list[LogLine]]) -> None:
        """Write the held first lines of every service, in the order they were written."""
        if not first:
            return
        held = [line for lines in first.values() for line in lines]
        first.clear()
        held.sort(key=lambda line: line.ts)  # stable: one service's own order is kept
        self.buffer.add_lines(held)
        self._kick()

    def _kick(self) -> None:
        if not self._ticking and self._timer is not None:
            self._ticking = True
            self._timer.resume()

    def _tick(self) -> None:
        self.flush()
        if not self.buffer.pending and not self.buffer.paused and self._timer is not None:
            self._timer.pause()
            self._ticking = False

    def flush(self, *, force: bool = False) -> None:
        """Write what waits, as one batch (not while paused, unless ``force``)."""
        batch = self.buffer.drain(force=force)
        if batch.entries:
            self.view.append(batch.entries, batch.oldest, follow=not self.buffer.paused)
        self._show_info()

    def _show_info(self) -> None:
        buffer, view = self.buffer, self.view
        if not self.services:
            self.query_one("#logs-info", Static).update(
                Text("No service chosen: pick some with space in the services pane (s), or :logs a,b")
            )
            return
        # the most telling first: a narrow terminal cuts the end
        if buffer.paused:
            parts = [f"paused ({buffer.waiting:,} waiting)"]
        elif view.max_scroll_y and not view.is_vertical_scroll_end:
            parts = ["scrolled up · end follows"]
        else:
            parts = ["following"]
        if buffer.dropped:
            parts.append(f"dropped {buffer.dropped:,}")
        if view.filter is not None:
            parts.append(f"/{view.filter.text}: {len(view.entries):,} shown")
        parts.append(", ".join(f"{name} {self._state_mark(name)}" for name in self.services))
        kept = f", the last {len(buffer.kept):,} kept" if buffer.evicted else ""
        parts.append(f"{buffer.lines:,} lines{kept}")
        flags = [name for name, on_ in (("wrap", view.wrap), ("times", view.timestamps)) if on_]
        if flags:
            parts.append(" ".join(flags))
        # one row, always: no layout for a new text (it changes with every batch)
        self.query_one("#logs-info", Static).update(Text(" · ".join(parts)), layout=False)

    def _state_mark(self, name: str) -> str:
        state = self.states.get(name, "")
        if state == "live":
            return "●"
        if state == "connecting":
            return "○"
        return f"○ ({state})"

    # --- the services pane -----------------------------------------------------------------

    @work(exclusive=True, group="logs-sources")
    async def _load_sources(self) -> None:
        await self.micro.painted.wait()
        try:
            found = await self.micro.facade.logs.sources()
        except Exception as exc:
            self.query_one("#logs-sources").border_subtitle = literal(getattr(exc, "detail", "") or exc)
            return
        before, self.known = {s.name for s in self.known}, found
        self.query_one("#logs-sources").border_subtitle = ""
        self._sync_picker()
        # said here too: a follow that is reconnecting, or a runtime that lost the line,
        # still shows that a followed service went or came back
        now = {s.name for s in found}
        for name in self.services:
            if name in before and name not in now:
                self.buffer.note(name, f"{name}: not run any more (killed); its logs stay")
                self._kick()
            elif name in now and name not in before and self._sources_loaded:
                self.buffer.note(name, f"{name}: running")
                self._kick()
        self._sources_loaded = True

    def _sync_picker(self) -> None:
        """The runtime's services and the followed ones (a killed one stays: its logs do)."""
        picker: SelectionList[str] = self.query_one("#logs-picker", SelectionList)
        status = {s.name: s.status for s in self.known}
        names = sorted({*status, *self.services})
        wanted = [(name, status.get(name, "gone")) for name in names]
        chosen = set(self.services)
        if (wanted, chosen) != self._picker_shows:
            self._picker_shows = (wanted, chosen)
            highlighted = picker.highlighted
            with picker.prevent(SelectionList.SelectedChanged):
                picker.clear_options()
                picker.add_options(
                    [(Text(f"{name} {state}"), name, name in chosen) for name, state in wanted]
                )
            if highlighted is not None and picker.option_count:
                picker.highlighted = min(highlighted, picker.option_count - 1)

    @on(SelectionList.SelectedChanged, "#logs-picker")
    def _picked(self, event: SelectionList.SelectedChanged[str]) -> None:
        chosen = set(event.selection_list.selected)
        kept = [name for name in self.services if name in chosen]
        added = sorted(chosen - set(kept))
        self.follow(kept + added)

    @on(Input.Submitted, "#logs-tail")
    def _tail_set(self, event: Input.Submitted) -> None:
        try:
            tail = int(event.value)
        except ValueError:
            tail = 0
        if tail < 1:
            self.notify("The tail is a number of lines, at least 1", severity="warning")
            return
        self.tail = tail
        settings.save(logs_tail=tail)
        self.follow(self.services)
        self.view.focus()

    # --- actions ---------------------------------------------------------------------------

    def _typing(self) -> bool:
        return isinstance(self.focused, (Input, TextArea))

    def action_follow(self) -> None:
        buffer = self.buffer
        buffer.paused = not buffer.paused
        if not buffer.paused:
            self.flush()
            self.view.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        elif self._timer is not None and not self._ticking:
            self._ticking = True  # counts the waiting lines while paused
            self._timer.resume()
        self._show_info()

    def action_wrap(self) -> None:
        self.view.wrap = not self.view.wrap
        self.view.relayout()
        self._show_info()

    def action_timestamps(self) -> None:
        self.view.timestamps = not self.view.timestamps
        self.view.relayout()
        self._show_info()

    def action_clear(self) -> None:
        self.buffer.clear()
        self.view.reset([])
        self._show_info()

    def action_filter(self) -> None:
        if self._typing():
            raise SkipAction()  # "/" is text there (a regex in the filter itself)
        box = self.query_one("#logs-filter", Input)
        box.add_class("-visible")
        self.set_focus(box)

    @on(Input.Changed, "#logs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        view = self.view
        view.filter = LineFilter(event.value) if event.value else None
        view.reset(self.buffer.shown(view.filter))
        self._show_info()

    @on(Input.Submitted, "#logs-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        # the focus is back on the view already (FilterInput)
        if not event.value:
            self.query_one("#logs-filter", Input).remove_class("-visible")

    def action_match(self, step: int) -> None:
        """``n``/``N``: the next or previous line the filter matches, from where the view is."""
        view = self.view
        if view.filter is None:
            self.notify("No filter: / sets one, n and N then go from match to match")
            return
        lines = [i for i, e in enumerate(view.entries) if e.kind == "line"]
        if not lines:
            self.notify(literal(f"Nothing matches /{view.filter.text}"), severity="warning")
            return
        here = view.current if view.current is not None else view.first_visible() - (1 if step > 0 else -1)
        after = [i for i in lines if i > here] if step > 0 else [i for i in lines if i < here][::-1]
        target = after[0] if after else (lines[0] if step > 0 else lines[-1])  # wraps around
        if not self.buffer.paused:
            self.action_follow()  # stay on the match: new lines wait
        view.go_to(target)
        self._show_info()

    def action_back(self) -> None:
        box = self.query_one("#logs-filter", Input)
        if box.value or box.has_class("-visible"):
            box.value = ""
            box.remove_class("-visible")
            self.view.focus()
        elif self.focused is not self.view:
            self.view.focus()

    def action_sources(self) -> None:
        """Show the services pane and go to it, or hide it again."""
        pane = self.query_one("#logs-sources")
        picker = self.query_one("#logs-picker", SelectionList)
        if pane.has_class("-hidden") or self.focused is not picker:
            pane.remove_class("-hidden")
            picker.focus()
        else:
            pane.add_class("-hidden")
            self.view.focus()

    def action_refresh(self) -> None:
        self._load_sources()

    def action_copy_cli(self) -> None:
        if not self.services:
            self.notify("No service chosen", severity="warning")
            return
        lines = [f"micro logs -f -n {self.tail} {name}" for name in self.services]
        line = lines[0] if len(lines) == 1 else " & ".join(lines) + " & wait"
        self.micro.copy_cli(line)

    def action_save(self) -> None:
        from micro_tui.dialogs.logs_save import LogsSaveDialog

        names = "-".join(self.services) or "logs"
        default = Path.cwd() / f"{names}-{time.strftime('%Y%m%d-%H%M%S')}.log"

        def chosen(path: str | None) -> None:
            if path:
                self._save(Path(path).expanduser())

        self.app.push_screen(LogsSaveDialog(str(default)), chosen)

    @work(group="logs-save")
    async def _save(self, path: Path) -> None:
        self.flush(force=True)
        view = self.view
        entries = list(view.entries)
        text = "".join(saved_line(e) + "\n" for e in entries)
        try:
            await asyncio.to_thread(_write, path, text)
        except OSError as exc:
            self.notify(literal(f"Could not save {path}: {exc.strerror or exc}"), severity="error")
            return
        what = f"{len(entries):,} lines" + (f" matching /{view.filter.text}" if view.filter else "")
        self.notify(literal(f"Saved {what} to {path}"), title="Logs")


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
