"""Add an environment: name, address, description, read-only flag and colour."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

from micro_tui._markup import literal
from micro_tui.facade import EnvInfo

__all__ = ["AddEnvDialog"]


class AddEnvDialog(ModalScreen[EnvInfo | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="add_env.cancel"),
        # priority: enter adds from every field, the read-only checkbox too (whose own enter
        # would toggle it; space still does)
        Binding("enter", "add", "Add", priority=True, show=False, id="add_env.add"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "add environment"
            yield Input(placeholder="name", id="env-name")
            yield Input(placeholder="address host:port", id="env-address")
            yield Input(placeholder="description (optional)", id="env-description")
            yield Input(placeholder="colour, e.g. red (optional)", id="env-color")
            yield Checkbox("read-only (refuse mutating actions)", id="env-read-only")
            yield Button("Add", id="env-add", variant="primary")
            yield Label("enter adds · escape cancels", classes="hint")

    def _value(self, wid: str) -> str:
        return self.query_one(f"#{wid}", Input).value.strip()

    @on(Button.Pressed, "#env-add")
    def action_add(self) -> None:
        name, address = self._value("env-name"), self._value("env-address")
        if not name or not address:
            self.notify("An environment needs a name and an address", severity="warning")
            self.query_one("#env-name" if not name else "#env-address", Input).focus()
            return
        color = self._value("env-color")
        if color:
            from textual.color import Color, ColorParseError

            try:
                Color.parse(color)
            except ColorParseError:
                self.notify(literal(f"Not a colour: {color}"), severity="warning")
                self.query_one("#env-color", Input).focus()
                return
        read_only = self.query_one("#env-read-only", Checkbox).value
        self.dismiss(EnvInfo(name, address, self._value("env-description"), read_only, color))
