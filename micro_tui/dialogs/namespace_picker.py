"""Switch namespaces (``f3`` / ``:ns``): pinned favourites on digit keys, or type a new one.

The list opens with the namespaces known locally and is replaced by the server's
(auth Namespaces.List) when the account may list them."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Key
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

__all__ = ["NamespacePicker"]


class NamespacePicker(ModalScreen[str | None]):
    """Returns the chosen namespace; ``p`` pins/unpins the highlighted one; ``1``–``9`` pick a pin."""

    class PinsChanged(Message):
        """The user pinned or unpinned a namespace; ``pins`` in digit-key order (the app
        remembers them per env)."""

        def __init__(self, pins: list[str]) -> None:
            super().__init__()
            self.pins = pins

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="namespaces.cancel"),
        Binding("p", "pin", "Pin", id="namespaces.pin"),
    ]

    def __init__(self, namespaces: list[str], current: str, pins: list[str]) -> None:
        super().__init__()
        self.namespaces = namespaces
        self.current = current
        self.pins = [p for p in pins if p][:9]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as box:
            box.border_title = "namespaces"
            yield OptionList(id="ns-list")
            yield Input(placeholder="another namespace…", id="ns-new")
            yield Label("enter switches · 1–9 pinned · p pins · escape cancels", classes="hint")

    def on_mount(self) -> None:
        self._fill()
        self.query_one(OptionList).focus()
        self._from_server()

    @work(exclusive=True, group="namespaces")
    async def _from_server(self) -> None:
        found = await self.app.facade.session.list_namespaces()  # type: ignore[attr-defined]
        if found != self.namespaces:
            self.namespaces = list(found)
            self._fill()

    def _fill(self) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        chosen = options.get_option_at_index(highlighted).id if highlighted is not None else None
        options.clear_options()
        ordered = self.pins + [n for n in self.namespaces if n not in self.pins]
        highlighted = ordered.index(chosen) if chosen in ordered else None
        for ns in ordered:
            text = Text("* " if ns == self.current else "  ", style="bold")
            if ns in self.pins:
                text.append(f"{self.pins.index(ns) + 1} ", style="bold")
            else:
                text.append("  ")
            text.append(ns)
            options.add_option(Option(text, id=ns))
        if highlighted is None and self.current in ordered:
            highlighted = ordered.index(self.current)
        options.highlighted = highlighted

    def action_pin(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        ns = options.get_option_at_index(options.highlighted).id or ""
        if ns in self.pins:
            self.pins.remove(ns)
        elif len(self.pins) < 9:
            self.pins.append(ns)
        self.post_message(self.PinsChanged(list(self.pins)))
        self._fill()

    def on_key(self, event: Key) -> None:
        if event.key.isdigit() and event.key != "0" and not isinstance(self.focused, Input):
            index = int(event.key) - 1
            if index < len(self.pins):
                event.stop()
                self.dismiss(self.pins[index])

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())
