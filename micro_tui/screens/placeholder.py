"""Areas 2–7 until they are built: a plain statement of what is coming, no fake data."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from micro_tui.widgets.micro_footer import MicroFooter
from micro_tui.widgets.micro_header import MicroHeader

__all__ = ["AREAS", "PlaceholderScreen"]

AREAS: dict[str, tuple[int, str]] = {
    "logs": (2, "one or several services' logs merged, follow/pause, wrap, timestamps, filter"),
    "events": (3, "topics with counts, a live consumer view with replay, a publish form"),
    "store": (4, "database/table picker, paged keys, value pane, TTL; write/edit/delete behind a confirm"),
    "config": (5, "path tree, JSON value editor, diff before save, secret masking"),
    "runtime": (6, "micro status as a live table; run, update, kill, open logs"),
    "auth": (7, "accounts and rules of the namespace; create/delete with forms"),
}


class PlaceholderScreen(Screen[None]):
    """An area that is not built yet."""

    def __init__(self, area: str) -> None:
        super().__init__(name=area)
        self.area = area

    def compose(self) -> ComposeResult:
        number, content = AREAS[self.area]
        yield MicroHeader(self.area)
        yield Static(
            f"[b]{number} {self.area}[/b] is not built yet.\n\n"
            f"Coming in the workspace's part 2: {content}.\n\n"
            f"Until then use the CLI: [b]micro {self.area} --help[/b]. Press [b]1[/b] for services.",
            id="placeholder",
        )
        yield MicroFooter()
