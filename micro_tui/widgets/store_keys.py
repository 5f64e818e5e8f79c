"""The store area's keys table: one page of keys; moving past either end asks for the
next or the previous page (the screen fetches it by key, see :mod:`micro_tui.screens.store`)."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

__all__ = ["KeyTable"]


class KeyTable(DataTable[Text]):
    """``down`` on the last row (or ``pagedown`` there) wants the next page; ``up`` on the
    first row (or ``pageup`` there) the previous one."""

    class EdgeReached(Message):
        """The cursor was pushed past the first (``"prev"``) or last (``"next"``) row."""

        def __init__(self, direction: str) -> None:
            super().__init__()
            self.direction = direction

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self.keys: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self.add_column("key", key="key")

    def set_keys(self, keys: tuple[str, ...], *, cursor: int = 0) -> None:
        """Show ``keys`` (user data: :class:`~rich.text.Text`, never markup), the cursor on
        row ``cursor`` (negative: from the end)."""
        self.keys = keys
        self.clear()
        self.add_rows([Text(k, no_wrap=True, overflow="ellipsis")] for k in keys)
        if keys:
            row = min(cursor, len(keys) - 1) if cursor >= 0 else max(len(keys) + cursor, 0)
            self.move_cursor(row=row, scroll=True)

    @property
    def selected_key(self) -> str | None:
        row = self.cursor_row
        return self.keys[row] if self.keys and 0 <= row < len(self.keys) else None

    def action_cursor_down(self) -> None:
        if self.keys and self.cursor_row >= len(self.keys) - 1:
            self.post_message(self.EdgeReached("next"))
            return
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.keys and self.cursor_row <= 0:
            self.post_message(self.EdgeReached("prev"))
            return
        super().action_cursor_up()

    def action_page_down(self) -> None:
        if self.keys and self.cursor_row >= len(self.keys) - 1:
            self.post_message(self.EdgeReached("next"))
            return
        super().action_page_down()

    def action_page_up(self) -> None:
        if self.keys and self.cursor_row <= 0:
            self.post_message(self.EdgeReached("prev"))
            return
        super().action_page_up()
