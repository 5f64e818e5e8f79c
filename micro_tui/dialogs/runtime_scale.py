"""Ask how many instances a service should run (``micro update NAME --instances N``)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from micro_tui.actions import cli_line
from micro_tui.slices.runtime import update_words

__all__ = ["ScaleDialog"]


class ScaleDialog(ModalScreen[int | None]):
    """``enter`` takes the number, ``escape`` cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="runtime_scale.cancel")
    ]

    def __init__(self, name: str, instances: int) -> None:
        super().__init__()
        self.service, self.instances = name, instances

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="runtime-scale"):
            yield Static(f"Scale {self.service} (now {self.instances})", markup=False, classes="title")
            yield Input(str(self.instances), placeholder="instances", id="scale-instances", type="integer")
            yield Static("", id="scale-cli", markup=False, classes="cli-line")
            yield Label("enter scales · escape cancels", classes="hint")

    def on_mount(self) -> None:
        self._changed()

    def _value(self) -> int | None:
        try:
            value = int(self.query_one("#scale-instances", Input).value)
        except ValueError:
            return None
        return value if value >= 1 else None

    @on(Input.Changed)
    def _changed(self) -> None:
        value = self._value()
        line = cli_line(*update_words(self.service, instances=value)) if value else "at least 1 instance"
        self.query_one("#scale-cli", Static).update(line)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        value = self._value()
        if value is not None:
            self.dismiss(value)
