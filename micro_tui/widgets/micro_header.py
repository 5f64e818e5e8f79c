"""The always-visible header: env, namespace, account, address, connection, read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.color import Color
from textual.widget import Widget

if TYPE_CHECKING:
    from micro_tui.app import MicroApp

__all__ = ["MicroHeader"]


class MicroHeader(Widget):
    """One line of context; re-renders whenever the app's ``status_version`` changes."""

    def __init__(self, crumbs: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crumbs = crumbs

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.watch(self.app, "status_version", self._changed, init=True)

    def _changed(self, _: int = 0) -> None:
        color = self.micro.facade.env.color
        if color:
            try:
                tint = Color.parse(color)
            except Exception:
                tint = None
            if tint is not None:
                self.styles.background = tint.with_alpha(0.55)
                self.add_class("-tinted")
        else:
            self.styles.clear_rule("background")
            self.remove_class("-tinted")
        self.refresh()

    def render(self) -> Text:
        app = self.micro
        facade = app.facade
        env = facade.env
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("micro ", style="bold")
        text.append("│ ", style="dim")
        text.append("env ", style="dim")
        text.append(env.name, style="bold")
        text.append("  ns ", style="dim")
        text.append(facade.namespace, style="bold")
        if facade.account:
            text.append("  as ", style="dim")
            text.append(facade.account)
        text.append("  ")
        text.append(app.address)
        connected = facade.connection.value == "connected"
        text.append("  ● " if connected else "  ○ ", style="green" if connected else "red")
        text.append(app.connection_note or facade.connection.value)
        if env.read_only:
            text.append("  READ-ONLY ", style="bold reverse")
        if self.crumbs:
            text.append("  │ ", style="dim")
            text.append(self.crumbs)
        return text
