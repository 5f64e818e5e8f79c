"""Jump mode (``ctrl+o``, as in posting): a key on every widget that takes the focus; press
it to move there. Any other key leaves."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Label

__all__ = ["JumpOverlay"]

KEYS = "asdfghjklqwertyuiopzxcvbnm1234567890"
"""The jump keys, home row first."""


class JumpOverlay(ModalScreen[Widget | None]):
    """Returns the widget chosen (``None``: left without one)."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="jump.cancel")]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        self.under = under
        # the part of each widget on the screen (one scrolled out of its container has none);
        # Textual is pinned exactly, so its compositor's map is safe to read
        visible = under._compositor.visible_widgets
        self.corners: dict[Widget, tuple[int, int]] = {}
        for widget in under.focus_chain:
            region, clip = visible.get(widget, (None, None))
            if region is None or clip is None or widget.disabled:
                continue
            shown = region.intersection(clip)
            if shown.area:
                self.corners[widget] = (shown.x, shown.y)
        self.targets: dict[str, Widget] = dict(zip(KEYS, self.corners, strict=False))

    def compose(self) -> ComposeResult:
        for key, widget in self.targets.items():
            label = Label(Text(f" {key} ", style="bold reverse"), classes="jump-key")
            label.styles.offset = self.corners[widget]
            yield label

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            return
        event.stop()
        event.prevent_default()
        self.dismiss(self.targets.get(event.character or ""))
