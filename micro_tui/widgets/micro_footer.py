"""The footer of every screen: below 100 columns compact (less whitespace), and keys that
would not fit whole before the palette key are left out instead of being cut."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = ["COMPACT_BELOW", "MicroFooter"]

COMPACT_BELOW = 100
"""Narrower than this, the keys lose their padding so that ``? Help`` still fits at 80."""


class MicroFooter(Footer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._width = 0

    def on_resize(self, event: events.Resize) -> None:
        width = event.size.width
        if width != self._width:
            self._width = width
            self.compact = width < COMPACT_BELOW
            self.refresh(recompose=True)

    def _cells(self, key_display: str, description: str, *, palette: bool = False) -> int:
        """The cells a key takes here (from Footer's DEFAULT_CSS: paddings, margins, border)."""
        label = cell_len(key_display) + (1 + cell_len(description) if description else 0)
        if palette:  # docked right after a border
            return label + 2
        return label + (1 if self.compact else 2)

    def compose(self) -> ComposeResult:
        if not self._width:
            # no width before the first resize, which composes the keys (once, not twice:
            # each key costs a restyle at start)
            return
        # lazily, so that keys yielded inside a KeyGroup would still land in it
        widgets = super().compose()
        room = self._width
        palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if palette is not None and self.show_command_palette:
            binding = palette[1]
            room -= self._cells(self.app.get_key_display(binding), binding.description, palette=True)
        for widget in widgets:
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                if not widget.has_class("-grouped"):
                    room -= self._cells(widget.key_display, widget.description)
                if room < 0:
                    continue  # this key and every one after it
            yield widget
