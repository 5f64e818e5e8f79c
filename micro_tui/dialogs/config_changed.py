"""The path being edited changed on the server: reload it, or keep the edit."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from micro_tui.slices.config import pretty

__all__ = ["ConfigChangedDialog"]


class ConfigChangedDialog(ModalScreen[bool]):
    """``r`` reloads (the edit is dropped), ``k``/``escape`` keeps editing; the save then
    starts from the server's new value."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "dismiss(True)", "Reload", id="config_changed.reload"),
        Binding("k,escape", "dismiss(False)", "Keep editing", id="config_changed.keep"),
    ]

    def __init__(self, path: str, value: Any) -> None:
        super().__init__()
        self.path, self.value = path, value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="config-changed") as box:
            box.border_title = "changed on the server"
            yield Static(f"{self.path} changed on the server while you edit it. It now holds:", markup=False)
            shown = "(deleted)" if self.value is None else pretty(self.value)
            yield Static(shown, markup=False, id="config-changed-value")
            with Horizontal(classes="buttons"):
                yield Button("Reload (drop my edit)", id="config-reload")
                yield Button("Keep editing", id="config-keep", variant="primary")
            yield Label("r reloads · k or escape keeps your edit", classes="hint")

    @on(Button.Pressed, "#config-reload")
    def _reload(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#config-keep")
    def _keep(self) -> None:
        self.dismiss(False)
