"""Ask for a collection and a name to save a request under."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["SaveDialog"]


class SaveDialog(ModalScreen[tuple[str, str] | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="save.cancel")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.default_name = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("[b]Save request[/b]")
            yield Input("default", placeholder="collection", id="collection")
            yield Input(self.default_name, placeholder="name", id="name")
            yield Label("enter saves · escape cancels", classes="hint")

    @on(Input.Submitted)
    def _submit(self) -> None:
        collection = self.query_one("#collection", Input).value.strip() or "default"
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.notify("A saved request needs a name", severity="warning")
            return
        self.dismiss((collection, name))
