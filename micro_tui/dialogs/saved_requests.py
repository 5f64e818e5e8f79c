"""Saved requests (``f4`` / ``:saved``): browse every collection, open, rename or delete."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from micro_tui import history
from micro_tui._markup import literal

__all__ = ["SavedRequests"]


class SavedRequests(ModalScreen[history.Entry | None]):
    """Returns the request to open; ``r`` renames and ``d`` (twice) deletes in place."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="saved.close"),
        Binding("r", "rename", "Rename", id="saved.rename"),
        Binding("d,delete", "delete", "Delete", id="saved.delete"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, history.Entry]] = []
        self._armed: str | None = None  # the row a first "d" asked about

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="saved") as box:
            box.border_title = "saved requests"
            yield OptionList(id="saved-list")
            yield Input(placeholder="new name", id="saved-rename")
            yield Label("enter opens · r renames · d deletes · escape closes", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#saved-rename", Input).display = False
        self._fill()
        self.query_one(OptionList).focus()

    def _fill(self, keep: int | None = None) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        self.rows = [
            (collection, entry)
            for collection in history.collection_names()
            for entry in history.load_collection(collection)
        ]
        for collection, entry in self.rows:
            # Text, not markup: names and requests are the user's
            text = Text(f"{collection}/", style="dim", no_wrap=True, overflow="ellipsis")
            text.append(entry.name, style="bold")
            text.append(f"  {entry.service} {entry.endpoint}", style="dim")
            options.add_option(Option(text))
        if not self.rows:
            options.add_option(Option(Text("Nothing saved yet: ctrl+s on the invoke screen.", style="dim")))
            options.disabled = True
        else:
            options.highlighted = min(keep or 0, len(self.rows) - 1)

    def _chosen(self) -> tuple[int, str, history.Entry] | None:
        index = self.query_one(OptionList).highlighted
        if index is None or index >= len(self.rows):
            return None
        return (index, *self.rows[index])

    @on(OptionList.OptionSelected)
    def _open(self, event: OptionList.OptionSelected) -> None:
        chosen = self._chosen()
        if chosen is not None:
            self.dismiss(chosen[2])

    def action_close(self) -> None:
        box = self.query_one("#saved-rename", Input)
        if box.display:
            box.display = False
            self.query_one(OptionList).focus()
        else:
            self.dismiss(None)

    def action_rename(self) -> None:
        chosen = self._chosen()
        if chosen is None or isinstance(self.focused, Input):
            raise SkipAction()
        box = self.query_one("#saved-rename", Input)
        box.value = chosen[2].name
        box.display = True
        self.call_after_refresh(box.focus)  # once it is shown (a hidden box takes no focus)

    @on(Input.Submitted, "#saved-rename")
    def _renamed(self, event: Input.Submitted) -> None:
        chosen = self._chosen()
        new_name = event.value.strip()
        if chosen is None or not new_name:
            return
        index, collection, entry = chosen
        try:
            history.rename_in_collection(collection, entry.name, new_name)
        except history.UnreadableFile as exc:
            self.notify(literal(exc), title="Not renamed", severity="error")
            return
        event.input.display = False
        self._fill(keep=index)
        self.query_one(OptionList).focus()

    def action_delete(self) -> None:
        chosen = self._chosen()
        if chosen is None or isinstance(self.focused, Input):
            raise SkipAction()
        index, collection, entry = chosen
        key = f"{collection}/{entry.name}"
        if self._armed != key:  # a confirm that costs one key, not a dialog
            self._armed = key
            self.notify(literal(f"Press d again to delete {key}"), severity="warning")
            return
        self._armed = None
        try:
            history.delete_from_collection(collection, entry.name)
        except history.UnreadableFile as exc:
            self.notify(literal(exc), title="Not deleted", severity="error")
            return
        self.notify(literal(f"Deleted {key}"))
        self._fill(keep=index)
