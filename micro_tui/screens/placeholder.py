"""Areas 2–7 until they are built: a plain statement of what is coming, no fake data."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from micro_tui.areas import Area
from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader

__all__ = ["PlaceholderScreen"]


class PlaceholderScreen(Screen[None]):
    """An area that is not built yet (its row in :data:`micro_tui.areas.AREAS`)."""

    def __init__(self, area: Area) -> None:
        super().__init__(name=area.key)
        self.area = area

    def compose(self) -> ComposeResult:
        area = self.area
        yield MicroHeader(area.key)
        # only commands that exist: a newcomer who types one must not meet "No such command"
        until = (
            f"Until then the CLI has [b]{area.cli}[/b] (see [b]{area.cli} --help[/b]). " if area.cli else ""
        )
        yield Static(
            f"[b]{area.number} {area.key}[/b] is not built yet.\n\n"
            f"Coming in the workspace's part 2: {area.summary}.\n\n"
            f"{until}Press [b]1[/b] for services.",
            id="placeholder",
        )
        yield MicroFooter()
