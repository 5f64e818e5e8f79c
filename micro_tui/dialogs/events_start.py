"""Ask where to start (a live view) or where to move a group: an offset, a duration ago or a
time; the answer is checked here (:func:`~micro_tui.slices.events.parse_start`)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from micro.errors import MicroError
from micro_tui.slices.events import Start, parse_start

__all__ = ["StartDialog"]


class StartDialog(ModalScreen[Start | None]):
    """``enter`` takes the answer, ``escape`` cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="events_start.cancel")
    ]

    def __init__(self, title: str, *, allow_end: bool = True, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.allow_end = allow_end
        self.value = value

    def compose(self) -> ComposeResult:
        hint = "an offset (120), a duration ago (10m) or a time (2026-01-02T15:04:05Z)"
        if self.allow_end:
            hint += "; empty: only new events"
        with Vertical(classes="dialog", id="events-start"):
            yield Static(self.title_text, markup=False, classes="title")
            yield Input(self.value, placeholder="offset, 10m or a time", id="start-input")
            yield Static("", id="start-error", markup=False)
            yield Label(hint + " · enter takes it · escape cancels", classes="hint", markup=False)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        error = self.query_one("#start-error", Static)
        try:
            start = parse_start(event.value)
        except MicroError as exc:
            error.update(exc.detail)
            return
        if not self.allow_end and start.offset is None and start.since is None:
            error.update("give an offset or a time")
            return
        self.dismiss(start)
