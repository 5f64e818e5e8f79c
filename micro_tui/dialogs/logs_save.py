"""Ask where to save the logs area's lines."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["LogsSaveDialog"]


class LogsSaveDialog(ModalScreen[str | None]):
    """A file path, ``default`` filled in; ``enter`` saves, ``escape`` cancels."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="logs_save.cancel")]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("[b]Save the shown lines[/b]")
            yield Input(self.default, placeholder="file", id="logs-save-path")
            yield Label("enter saves · escape cancels", classes="hint")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            self.notify("Give a file to save to", severity="warning")
            return
        self.dismiss(path)
