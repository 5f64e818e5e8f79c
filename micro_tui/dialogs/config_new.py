"""A new config path: its dotted path, a value (JSON, else text, as ``micro config set``)
and whether it is a secret."""

from __future__ import annotations

import json
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

__all__ = ["ConfigNewDialog", "parse_value"]


def parse_value(text: str) -> Any:
    """``VALUE`` as ``micro config set`` reads it: JSON when it is JSON, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


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
        value = parse_value(self.query_one("#config-new-value", Input).value)
        self.dismiss((path, value, self.query_one("#config-new-secret", Checkbox).value))
