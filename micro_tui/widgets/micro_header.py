"""The always-visible header: env, namespace, account, address, connection, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.color import Color
from textual.reactive import reactive
from textual.widget import Widget

from micro_tui.session import Session

__all__ = ["MicroHeader"]


class MicroHeader(Widget):
    """One line of context: the app's :attr:`~micro_tui.app.MicroApp.session`, followed.

    Every part the spec asks for (env, namespace, account, address, connection state,
    read-only badge, breadcrumbs) stays at any width from 80 columns: the less important
    ones are shortened with an ellipsis first (see ``_Part``)."""

    session: reactive[Session | None] = reactive(None)
    """What the header shows (the app's session, kept in step from mount on)."""
    crumbs: reactive[str] = reactive("")
    """Where the screen is, e.g. ``services › greeter › Greeter.Hello``."""

    def __init__(self, crumbs: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_reactive(MicroHeader.crumbs, crumbs)

    def on_mount(self) -> None:
        self.watch(self.app, "session", self._follow, init=True)

    def _follow(self, session: Session) -> None:
        self.session = session

    def watch_session(self, session: Session | None) -> None:
        """The env's accent colour tints the header."""
        color = session.env.color if session is not None else ""
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

    def render(self) -> Text:
        session = self.session
        if session is None:
            return Text()
        env = session.env
        connected = session.connected
        parts = [
            _Part("micro ", "bold", tag="brand"),
            _Part("│ ", "dim", tag="brand"),
            _Part("env ", "dim"),
            _Part(env.name, "bold", shrink=5, keep=6),
            _Part("  ", tag="gap"),
            _Part("ns ", "dim"),
            _Part(session.namespace, "bold", shrink=5, keep=6),
        ]
        if session.account:
            parts += [_Part("  ", tag="gap"), _Part("as ", "dim"), _Part(session.account, shrink=4, keep=5)]
        parts += [
            _Part("  ", tag="gap"),
            _Part(session.address, shrink=3, keep=12),
            _Part("  ", tag="gap"),
            _Part("● " if connected else "○ ", "green" if connected else "red"),
        ]
        note = session.note or session.connection.value
        parts.append(_Part(note, tag="state" if connected and not session.note else "", shrink=1, keep=8))
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
