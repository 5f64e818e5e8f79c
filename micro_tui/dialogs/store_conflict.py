"""A store edit that met a newer version (409): the record as it is now, and what to do.

Never a silent overwrite: the user sees the other write's value and version and chooses to
take it (their edit is dropped), to write theirs over it (a new conditional write at the
version now current, which fails again if the record moves on meanwhile), or to go back to
the edit.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from micro_tui.slices.store import StoreRecord
from micro_tui.widgets.store_value import render_value, ttl_text

__all__ = ["StoreConflictDialog"]


class StoreConflictDialog(ModalScreen[str | None]):
    """``t`` takes theirs, ``o`` overwrites with mine, ``escape`` keeps editing."""

    BINDINGS = [
        Binding("t", "dismiss('theirs')", "Take theirs", id="store_conflict.theirs"),
        Binding("o", "overwrite", "Overwrite", id="store_conflict.overwrite"),
        Binding("escape", "dismiss(None)", "Keep editing", id="store_conflict.back"),
    ]

    def __init__(self, key: str, detail: str, current: StoreRecord | None, mine: int) -> None:
        super().__init__()
        self.key = key
        self.detail = detail
        self.current = current
        self.mine = mine
        """The version the edit started from."""

    def compose(self) -> ComposeResult:
        current = self.current
        with Vertical(classes="dialog", id="store-conflict") as box:
            box.border_title = "409 Conflict"
            yield Static(f"{self.key}: {self.detail}", markup=False, id="store-conflict-detail")
            if current is None:
                yield Static(
                    f"It was deleted since version {self.mine} was read.", markup=False, classes="hint"
                )
            else:
                yield Static(
                    f"Now at version {current.version} (ttl {ttl_text(current.ttl)}); your edit started "
                    f"from version {self.mine}. Its value now:",
                    markup=False,
                )
                text, _ = render_value(current.value, "pretty")
                value = TextArea(text, read_only=True, soft_wrap=True, id="store-conflict-value")
                value.match_cursor_bracket = False
                yield value
            choices = "t takes theirs (drops your edit) · " if current is not None else ""
            hint = f"{choices}o writes yours over it · escape goes back to your edit"
            yield Static(hint, markup=False, classes="hint")

    def action_overwrite(self) -> None:
        self.dismiss("overwrite")
