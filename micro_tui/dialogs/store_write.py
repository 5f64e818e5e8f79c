"""Write a new key in the store area: key, time to live, value."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, TextArea

__all__ = ["NewRecord", "StoreWriteDialog"]


@dataclass(frozen=True, slots=True)
class NewRecord:
    key: str
    value: str
    ttl: float | None = None
    """Seconds to live (None: never)."""


class StoreWriteDialog(ModalScreen[NewRecord | None]):
    """``ctrl+s`` (or the button) writes, ``escape`` cancels. The TTL takes the CLI's
    durations (``30s``, ``10m``, ``1h``, ``2d``); empty: the record never expires."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="store_write.cancel"),
        Binding("ctrl+s", "write", "Write", priority=True, id="store_write.write"),
        # priority: the focus moves now, not after a refresh, so that keys typed right
        # after enter land in the next field (enter in the value is a new line)
        Binding("enter", "next_field", "Next", show=False, priority=True, id="store_write.next"),
    ]

    def __init__(self, table: str) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="store-write") as box:
            box.border_title = Content(f"new key in {self.table}")
            yield Input(placeholder="key", id="store-write-key")
            yield Input(placeholder="time to live, e.g. 10m (empty: never expires)", id="store-write-ttl")
            yield TextArea("", id="store-write-value", soft_wrap=True)
            yield Button("Write", id="store-write-button", variant="primary")
            yield Label("ctrl+s writes · escape cancels · an existing key is not overwritten", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#store-write-key", Input).focus()

    def action_next_field(self) -> None:
        """``enter`` in the key or the TTL: on to the next field."""
        fields = [self.query_one("#store-write-key", Input), self.query_one("#store-write-ttl", Input)]
        if self.focused not in fields:
            raise SkipAction()
        following = self.query_one("#store-write-ttl") if self.focused is fields[0] else None
        self.set_focus(following or self.query_one("#store-write-value", TextArea))

    @on(Button.Pressed, "#store-write-button")
    def action_write(self) -> None:
        from micro._duration import parse_duration

        key = self.query_one("#store-write-key", Input).value
        if not key:
            self.notify("A record needs a key", severity="warning")
            self.query_one("#store-write-key", Input).focus()
            return
        ttl_text = self.query_one("#store-write-ttl", Input).value.strip()
        ttl: float | None = None
        if ttl_text:
            try:
                ttl = parse_duration(ttl_text)
            except ValueError:
                self.notify(f"Invalid expiry: {ttl_text}", severity="warning", markup=False)
                self.query_one("#store-write-ttl", Input).focus()
                return
        self.dismiss(NewRecord(key, self.query_one("#store-write-value", TextArea).text, ttl or None))
