"""Before a config value is saved: the diff of the edit and the CLI commands it runs."""

from __future__ import annotations

import difflib
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from micro_tui.actions import Mutation

__all__ = ["ConfigSaveDialog", "diff_lines"]


def diff_lines(old: str, new: str) -> list[str]:
    """A unified diff of the value's text, without the file header lines."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2)
    return [line for line in lines if not line.startswith(("---", "+++"))]


class ConfigSaveDialog(ModalScreen[bool]):
    """``y``/``enter`` saves, ``n``/``escape`` goes back to the edit, ``c`` copies the CLI."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "dismiss(True)", "Save", id="config_save.yes"),
        Binding("n,escape", "dismiss(False)", "Back to the edit", id="config_save.no"),
        Binding("c", "copy_cli", "Copy as CLI", id="config_save.copy_cli"),
    ]

    def __init__(self, path: str, old: str, new: str, mutation: Mutation) -> None:
        super().__init__()
        self.path, self.old, self.new, self.mutation = path, old, new, mutation

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="config-save") as box:
            box.border_title = "save config"
            yield Static(f"Save {self.path}?", markup=False)
            with VerticalScroll(id="config-diff"):
                for line in diff_lines(self.old, self.new):
                    kind = {"+": "-add", "-": "-del", "@": "-hunk"}.get(line[:1], "")
                    yield Static(line, markup=False, classes=f"diff-line {kind}")
            yield Static(self.mutation.cli, markup=False, classes="cli-line")
            yield Label("y saves · n or escape goes back · c copies the command", classes="hint")

    def action_copy_cli(self) -> None:
        self.app.copy_to_clipboard(self.mutation.cli)
        self.notify(self.mutation.cli, title="Copied", markup=False)
