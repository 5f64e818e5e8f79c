"""The ``:`` command bar: one line at the bottom; returns the parsed command."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from micro_tui.commands import Command, CommandError, parse

__all__ = ["CommandBar"]


class CommandBar(ModalScreen[Command | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="command.cancel")]

    def compose(self) -> ComposeResult:
        yield Static("", id="command-error")
        yield Input(":", id="command")

    def on_mount(self) -> None:
        self.query_one("#command-error", Static).display = False
        self.set_focus(self.query_one("#command", Input))
        self.app.release_typeahead()  # type: ignore[attr-defined]

    @on(Input.Submitted)
    def _run(self, event: Input.Submitted) -> None:
        try:
            command = parse(event.value)
        except CommandError as exc:
            error = self.query_one("#command-error", Static)
            error.update(Text(str(exc)))  # it quotes what was typed: text, not markup
            error.display = True
            return
        self.dismiss(command)
