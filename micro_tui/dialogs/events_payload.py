"""One event in full: its offset, time, id, metadata and the payload as highlighted JSON."""

from __future__ import annotations

import json
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from micro.events import Event
from micro_tui.slices.events import rfc3339

__all__ = ["PayloadDialog"]


class PayloadDialog(ModalScreen[None]):
    """``escape``/``enter``/``q`` closes, ``c`` copies the payload."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss(None)", "Close", id="events_payload.close"),
        Binding("c", "copy", "Copy payload", id="events_payload.copy"),
    ]

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def _payload(self) -> str:
        try:
            return json.dumps(json.loads(self.event.payload), indent=2, ensure_ascii=False)
        except ValueError:
            return self.event.payload.decode("utf-8", errors="replace")

    def compose(self) -> ComposeResult:
        event = self.event
        metadata = ", ".join(f"{k}={v}" for k, v in sorted(event.metadata.items())) or "-"
        head = Text()
        head.append(f"{event.topic} @ {event.offset}", style="bold")
        head.append(f"  {rfc3339(event.timestamp)}\nid {event.id}\nmetadata {metadata}")
        try:
            json.loads(event.payload)
        except ValueError:
            body = Content(self._payload())
        else:
            from textual.highlight import highlight

            body = highlight(self._payload(), language="json")
        with Vertical(classes="dialog", id="event-payload"):
            yield Static(head, id="event-head")
            with VerticalScroll(id="event-body"):
                yield Static(body)
            yield Label("escape closes · c copies the payload", classes="hint")

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self._payload())
        self.notify("the payload", title="Copied")
