"""The list of services, with a regex filter (``!x`` inverts)."""

from __future__ import annotations

import re
from typing import Any

from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList
from textual.widgets.option_list import Option

__all__ = ["ServiceList", "compile_filter"]


def compile_filter(text: str) -> Any:
    """A predicate for ``text``: a case-insensitive regex, ``!`` inverts; a bad regex
    matches literally."""
    invert = text.startswith("!")
    pattern = text[1:] if invert else text
    try:
        rx = re.compile(pattern, re.IGNORECASE)
    except re.error:
        rx = re.compile(re.escape(pattern), re.IGNORECASE)
    return lambda name: bool(rx.search(name)) != invert


class ServiceList(OptionList):
    """Service names; ``Highlighted`` says which one to describe, ``NoMatch`` that the
    filter hides them all (nothing is selected then)."""

    class Highlighted(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class NoMatch(Message):
        def __init__(self, filter_text: str) -> None:
            super().__init__()
            self.filter_text = filter_text

    names: reactive[list[str]] = reactive(list, init=False)
    """Every service name, sorted (set with :meth:`set_names`); the filter shows some."""
    filter_text: reactive[str] = reactive("", init=False)
    """The filter: a case-insensitive regex, ``!`` inverts (see :func:`compile_filter`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "services"

    def set_names(self, names: list[str]) -> None:
        """Replace the names, keeping the highlighted one when it is still there."""
        self.names = sorted(set(names))

    def set_filter(self, text: str) -> None:
        self.filter_text = text

    def watch_names(self) -> None:
        self._render_names()

    def watch_filter_text(self) -> None:
        self._render_names()

    def shown_names(self) -> list[str]:
        if not self.filter_text:
            return list(self.names)
        keep = compile_filter(self.filter_text)
        return [n for n in self.names if keep(n)]

    def _render_names(self) -> None:
        current = self.highlighted_name
        shown = self.shown_names()
        self.clear_options()
        # Content, not markup: a name (or filter) holding "[/]" shows as written
        self.add_options([Option(Content(name), id=name) for name in shown])
        suffix = f" /{self.filter_text}" if self.filter_text else ""
        # short: whole in the 18 columns the list gets at 80
        self.border_title = Content(f"services {len(shown)}/{len(self.names)}{suffix}")
        if shown:
            self.highlighted = shown.index(current) if current in shown else 0
        elif self.filter_text and self.names:
            self.post_message(self.NoMatch(self.filter_text))

    @property
    def highlighted_name(self) -> str | None:
        if self.highlighted is None or self.option_count == 0:
            return None
        return self.get_option_at_index(self.highlighted).id

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self.post_message(self.Highlighted(event.option.id))
