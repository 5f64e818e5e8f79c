"""A new config path: its dotted path, a value (JSON, else text, as ``micro config set``)
and whether it is a secret."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

from micro import errors
from micro.config._values import parse_value

__all__ = ["ConfigNewDialog"]


class ConfigNewDialog(ModalScreen[tuple[str, Any, bool] | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="config_new.cancel"),
        # priority: enter sets from every field, the secret checkbox too (space toggles it)
        Binding("enter", "set", "Set", priority=True, show=False, id="config_new.set"),
    ]

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "set a config path"
            yield Input(self.path, placeholder="dotted path, e.g. db.host", id="config-new-path")
            yield Input(placeholder='value: JSON (5, true, {"a": 1}) or text', id="config-new-value")
            yield Checkbox("secret (kept encrypted, shown masked)", id="config-new-secret")
            yield Button("Set", id="config-new-set", variant="primary")
            yield Label("enter sets · escape cancels", classes="hint")

    @on(Button.Pressed, "#config-new-set")
    def action_set(self) -> None:
        path = self.query_one("#config-new-path", Input).value.strip().strip(".")
        if not path or any(not part for part in path.split(".")):
            self.notify("A path is dotted words, e.g. db.host", severity="warning")
            self.query_one("#config-new-path", Input).focus()
            return
        try:
            value = parse_value(self.query_one("#config-new-value", Input).value)
        except errors.BadRequest as exc:  # nested too deeply: said, the dialog stays open
            self.notify(exc.detail[:1].upper() + exc.detail[1:], severity="warning", markup=False)
            self.query_one("#config-new-value", Input).focus()
            return
        self.dismiss((path, value, self.query_one("#config-new-secret", Checkbox).value))
