"""Confirm a destructive action: what it does, the equivalent CLI command, y/n."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from micro_tui.actions import Mutation

__all__ = ["ConfirmDialog"]


class ConfirmDialog(ModalScreen[bool]):
    """``y``/``enter`` confirms, ``n``/``escape`` cancels, ``c`` copies the CLI command."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "dismiss(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "dismiss(False)", "No", id="confirm.no"),
        Binding("c", "copy_cli", "Copy as CLI", id="confirm.copy_cli"),
    ]

    def __init__(self, mutation: Mutation) -> None:
        super().__init__()
        self.mutation = mutation

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm"):
            # the summary and the command hold user and server text: never markup
            yield Static(self.mutation.summary[:1].upper() + self.mutation.summary[1:] + "?", markup=False)
            yield Static(self.mutation.cli, markup=False, classes="cli-line")
            yield Label("y confirms · n or escape cancels · c copies the command", classes="hint")

    def action_copy_cli(self) -> None:
        self.app.copy_to_clipboard(self.mutation.cli)
        self.notify(self.mutation.cli, title="Copied", markup=False)
