"""The always-visible header: env, namespace, account, address, connection, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

if TYPE_CHECKING:
    from micro_tui.app import MicroApp

__all__ = ["MicroHeader"]


class MicroHeader(Widget):
    """One line of context; re-renders whenever the app's ``status_version`` changes.

    Every part the spec asks for (env, namespace, account, address, connection state,
    read-only badge, breadcrumbs) stays at any width from 80 columns: the less important
    ones are shortened with an ellipsis first (see ``_Part``)."""

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
        connected = facade.connection.value == "connected"
        parts = [
            _Part("micro ", "bold", tag="brand"),
            _Part("│ ", "dim", tag="brand"),
            _Part("env ", "dim"),
            _Part(env.name, "bold", shrink=5, keep=6),
            _Part("  ", tag="gap"),
            _Part("ns ", "dim"),
            _Part(facade.namespace, "bold", shrink=5, keep=6),
        ]
        if facade.account:
            parts += [_Part("  ", tag="gap"), _Part("as ", "dim"), _Part(facade.account, shrink=4, keep=5)]
        parts += [
            _Part("  ", tag="gap"),
            _Part(app.address, shrink=3, keep=12),
            _Part("  ", tag="gap"),
            _Part("● " if connected else "○ ", "green" if connected else "red"),
        ]
        note = app.connection_note or facade.connection.value
        parts.append(
            _Part(note, tag="state" if connected and not app.connection_note else "", shrink=1, keep=8)
        )
        if env.read_only:
            parts += [_Part("  ", tag="gap"), _Part("READ-ONLY", "bold reverse")]
        if self.crumbs:
            parts += [
                _Part("  ", tag="gap"),
                _Part("│ ", "dim"),
                # the last crumb (where you are) is kept whole
                _Part(self.crumbs, shrink=2, keep=cell_len(self.crumbs.split(" › ")[-1]) + 1, left=True),
            ]
        return _fit(parts, self.content_size.width)


@dataclass(slots=True)
class _Part:
    """A run of the header. When the line is too wide the brand goes first, then the word
    "connected" (● says it), then the gaps narrow, then parts with ``shrink`` give up width
    in that order (down to ``keep`` cells, with an ellipsis; ``left`` keeps the end)."""

    text: str
    style: str = ""
    tag: str = ""
    shrink: int = 0
    keep: int = 0
    left: bool = False


def _width(parts: list[_Part]) -> int:
    return sum(cell_len(p.text) for p in parts)


def _ellipsize(text: str, width: int, *, left: bool) -> str:
    if cell_len(text) <= width:
        return text
    if left:
        return "…" + set_cell_size(text[::-1], width - 1)[::-1]
    return set_cell_size(text, width - 1) + "…"


def _fit(parts: list[_Part], width: int) -> Text:
    if width > 0:
        for drop in ("brand", "state"):
            if _width(parts) > width:
                parts = [p for p in parts if p.tag != drop]
        if _width(parts) > width:
            for part in parts:
                if part.tag == "gap":
                    part.text = " "
        for part in sorted((p for p in parts if p.shrink), key=lambda p: p.shrink):
            over = _width(parts) - width
            if over <= 0:
                break
            target = max(part.keep, cell_len(part.text) - over)
            part.text = _ellipsize(part.text, target, left=part.left)
    text = Text(no_wrap=True, overflow="ellipsis")
    for part in parts:
        text.append(part.text, style=part.style or None)
    return text
