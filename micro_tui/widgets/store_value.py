"""The store area's value pane: one record's value as pretty JSON, raw text or a hex dump,
with its version, TTL, size and metadata above it; editable in place.

The value is user data: it goes into a TextArea (never parsed as markup), and the line
above it is a :class:`~rich.text.Text`.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from micro_tui.slices.store import StoreRecord

__all__ = ["MODES", "StoreValue", "hex_dump", "render_value", "ttl_text"]

MODES = ("pretty", "raw", "hex")
HEX_LIMIT = 64 * 1024
"""Bytes a hex dump shows (a 1 MiB value would be 4 MiB of dump); the rest is counted."""


def hex_dump(value: bytes) -> str:
    """``value`` as ``hexdump -C`` shows it: offset, 16 bytes in hex, the printable ones."""
    lines = []
    for offset in range(0, min(len(value), HEX_LIMIT), 16):
        chunk = value[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<48}  |{text}|")
    if len(value) > HEX_LIMIT:
        lines.append(f"… {len(value) - HEX_LIMIT} more bytes (raw shows them all)")
    return "\n".join(lines)


def _text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def render_value(value: bytes, mode: str) -> tuple[str, str]:
    """The text of ``value`` in ``mode`` and the mode it is really shown in: pretty falls
    back to raw for text that is not JSON, and text modes to hex for bytes that are not
    UTF-8."""
    text = _text(value)
    if text is None or mode == "hex":
        return hex_dump(value), "hex"
    if mode == "pretty":
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False), "pretty"
        except ValueError:
            return text, "raw"
    return text, "raw"


def ttl_text(ttl: float | None) -> str:
    """``never``, or what is left, e.g. ``1h 4m 10s``."""
    if ttl is None:
        return "never"
    left = max(int(ttl + 0.999), 0)
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return " ".join(parts) or "0s"


class StoreValue(Vertical):
    """One record (or a message); ``mode`` is one of :data:`MODES`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record: StoreRecord | None = None
        self.mode = "pretty"
        self.shown_mode = "pretty"
        self.editing = False
        self.edit_base = ""
        """The text the edit started from (unchanged: nothing to write)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="store-meta", markup=False)
        editor = TextArea("", id="store-value", read_only=True, soft_wrap=True)
        editor.match_cursor_bracket = False  # a highlighted { } pair reads as a selection
        yield editor

    @property
    def editor(self) -> TextArea:
        return self.query_one("#store-value", TextArea)

    def show(self, record: StoreRecord | None, message: str = "") -> None:
        """Show ``record`` (None: ``message`` instead); ends an edit."""
        self.record = record
        self.editing = False
        self.editor.read_only = True
        self.remove_class("-editing")
        self._paint(message)

    def cycle_mode(self) -> str:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        if not self.editing:
            self._paint()
        return self.mode

    def _paint(self, message: str = "") -> None:
        meta = self.query_one("#store-meta", Static)
        record = self.record
        if record is None:
            meta.update(Text(message, style="italic"))
            self.editor.load_text("")
            self.border_title = "value"
            return
        line = Text(no_wrap=False)
        line.append(record.key, style="bold")
        line.append(f"\nversion {record.version}", style="bold")
        line.append(f" · ttl {ttl_text(record.ttl)} · {len(record.value):,} bytes")
        for name, value in sorted(record.metadata.items()):
            line.append(f" · {name}={value}", style="dim")
        meta.update(line)
        text, self.shown_mode = render_value(record.value, self.mode)
        self.editor.load_text(text)
        self.border_title = f"value · {self.shown_mode}"

    def begin_edit(self) -> str:
        """Make the value editable (pretty JSON or raw text); "" or why it cannot be."""
        record = self.record
        if record is None:
            return "select a key first"
        if _text(record.value) is None:
            return "a binary value is edited with $EDITOR (E) or written from the CLI"
        text, self.shown_mode = render_value(record.value, "raw" if self.mode == "hex" else self.mode)
        self.editor.load_text(text)
        self.edit_base = text
        self.editing = True
        self.editor.read_only = False
        self.add_class("-editing")
        self.border_title = f"editing {self.shown_mode} · ctrl+s saves · escape cancels"
        self.editor.focus()
        return ""

    def cancel_edit(self) -> None:
        self.show(self.record)
