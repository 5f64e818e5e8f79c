"""One pane of a reply (the response, its status, its headers), readable whole.

A reply can be longer than the pane: it scrolls (keys, wheel, scrollbar), and ``/`` searches
it (``n`` / ``N`` the next and previous match), ``y`` copies it, ``w`` saves it to a file,
``o`` opens it in ``$PAGER`` and ``e`` in ``$EDITOR`` (the workspace is suspended meanwhile).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

__all__ = ["ReplyView"]

_MATCH = "reverse"
_CURRENT = "bold reverse"


class _Prompt(Input):
    """The search or save-as line under the reply; ``escape`` puts it away."""

    BINDINGS = [Binding("escape", "dismiss", "Close", id="reply.prompt_close", show=False)]

    def action_dismiss(self) -> None:
        view = next(a for a in self.ancestors if isinstance(a, ReplyView))
        view.close_prompt()


class ReplyView(Vertical):
    """A scrollable, searchable view of one reply text; ``body_id`` names the inner Static."""

    DEFAULT_CSS = """
    ReplyView { height: 1fr; }
    ReplyView > VerticalScroll { height: 1fr; }
    ReplyView > VerticalScroll > Static { padding: 0 1; width: 1fr; }
    ReplyView > _Prompt { display: none; }
    ReplyView.-prompt > _Prompt { display: block; }
    """

    BINDINGS = [
        Binding("slash", "search", "Search", id="reply.search"),
        Binding("n", "find(1)", "Next match", id="reply.next", show=False),
        Binding("N", "find(-1)", "Previous match", id="reply.previous", show=False),
        Binding("y", "copy", "Copy", id="reply.copy"),
        Binding("w", "save", "Save to file", id="reply.save"),
        Binding("o", "pager", "$PAGER", id="reply.pager"),
        Binding("e", "editor", "$EDITOR", id="reply.editor", show=False),
    ]

    def __init__(
        self, body: Text | str = "", *, body_id: str, name_hint: str = "reply", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._body_id = body_id
        self._text = body if isinstance(body, Text) else Text(body)
        self._name_hint = name_hint
        self._mode = ""  # "search" | "save" while the prompt is open
        self.query_text = ""
        self.matches: list[int] = []  # offsets of the matches in the plain text
        self.current = -1

    def compose(self) -> ComposeResult:
        with VerticalScroll(id=f"{self._body_id}-scroll"):
            yield Static(self._text, id=self._body_id)
        yield _Prompt(id=f"{self._body_id}-prompt")

    @property
    def scroller(self) -> VerticalScroll:
        return self.query_one(VerticalScroll)

    @property
    def plain(self) -> str:
        """The reply as plain text (what copy, save and the pager get)."""
        return self._text.plain

    def update(self, body: Text | Syntax | str) -> None:
        """Show ``body`` (never parsed as markup) from its top; a search in progress is kept."""
        if isinstance(body, Syntax):
            text = body.highlight(body.code)
            text.rstrip()
            text.style = ""  # the pane's own background, not the terminal's default
        else:
            text = body if isinstance(body, Text) else Text(body)
        self._text = text
        self.scroller.scroll_home(animate=False)
        self._search(self.query_text, move=False)

    # --- search --------------------------------------------------------------------------

    def action_search(self) -> None:
        self._open_prompt("search", self.query_text, "search (enter finds, n / N next / previous)")

    def action_find(self, step: int) -> None:
        if not self.matches:
            if self.query_text:
                self.notify(f"no match for {self.query_text!r}", severity="warning", markup=False)
            return
        self.current = (self.current + step) % len(self.matches)
        self._paint()

    def _search(self, query: str, *, move: bool = True) -> None:
        self.query_text = query
        self.matches = (
            [m.start() for m in re.finditer(re.escape(query), self.plain, re.IGNORECASE)] if query else []
        )
        self.current = 0 if self.matches else -1
        self._paint(scroll=move)
        if move and query and not self.matches:
            self.notify(f"no match for {query!r}", severity="warning", markup=False)

    def _paint(self, *, scroll: bool = True) -> None:
        shown = self._text.copy()
        size = len(self.query_text)
        for i, start in enumerate(self.matches):
            shown.stylize(_CURRENT if i == self.current else _MATCH, start, start + size)
        self.query_one(f"#{self._body_id}", Static).update(shown)
        total = len(self.matches)
        self.border_subtitle = f"{self.current + 1}/{total}" if total else ""
        if scroll and self.current >= 0:
            self.call_after_refresh(self._scroll_to_match)

    def _scroll_to_match(self) -> None:
        """Scroll so that the current match is in view (the reply is wrapped to the pane)."""
        if self.current < 0:
            return
        offset = self.matches[self.current]
        body = self.query_one(f"#{self._body_id}", Static)
        width = max(body.content_region.width, 1)
        y = 0
        consumed = 0
        for line in self._text.split("\n", include_separator=True):
            length = len(line.plain)
            if consumed + length > offset:
                y += _row_within(line, offset - consumed, width, self.app.console)
                break
            y += max(len(line.wrap(self.app.console, width)), 1)
            consumed += length
        scroller = self.scroller
        if not scroller.scroll_y <= y < scroller.scroll_y + scroller.scrollable_content_region.height:
            scroller.scroll_to(y=max(y - 2, 0), animate=False)

    # --- copy, save, pager ---------------------------------------------------------------

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.plain)
        self.notify(f"copied {len(self.plain.splitlines())} lines", title="Copied", markup=False)

    def action_save(self) -> None:
        self._open_prompt("save", f"{self._name_hint}.txt", "save to file (enter saves)")

    def _save(self, path_text: str) -> None:
        path = Path(path_text).expanduser()
        try:
            path.write_text(self.plain + "\n")
        except OSError as exc:
            self.notify(f"{path}: {exc.strerror or exc}", title="Not saved", severity="error", markup=False)
            return
        self.notify(str(path.resolve()), title="Saved", markup=False)

    def action_pager(self) -> None:
        self._external(os.environ.get("PAGER") or "less", "pager")

    def action_editor(self) -> None:
        self._external(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi", "editor")

    def _external(self, command: str, what: str) -> None:
        """Open the reply in ``command`` (a file argument appended), the workspace suspended."""
        from textual.app import SuspendNotSupported

        with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="micro-reply-", delete=False) as f:
            f.write(self.plain + "\n")
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(command), f.name], check=False)
        except SuspendNotSupported:
            self.notify(
                f"cannot suspend the workspace here to run the {what}", severity="warning", markup=False
            )
        except OSError as exc:
            self.notify(
                f"{command}: {exc.strerror or exc}", title=f"No {what}", severity="error", markup=False
            )
        finally:
            Path(f.name).unlink(missing_ok=True)

    # --- the prompt ----------------------------------------------------------------------

    def _open_prompt(self, mode: str, value: str, placeholder: str) -> None:
        self._mode = mode
        prompt = self.query_one(_Prompt)
        prompt.placeholder = placeholder
        prompt.value = value
        self.add_class("-prompt")
        prompt.focus()

    def close_prompt(self) -> None:
        self._mode = ""
        self.remove_class("-prompt")
        self.scroller.focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        mode = self._mode
        self.close_prompt()
        if mode == "search":
            self._search(event.value)
        elif mode == "save" and event.value.strip():
            self._save(event.value.strip())


def _row_within(line: Text, offset: int, width: int, console: Any) -> int:
    """The wrapped row of ``line`` that holds character ``offset``."""
    seen = 0
    for row, part in enumerate(line.wrap(console, width)):
        seen += len(part.plain)
        if offset < seen:
            return row
        seen += 1 if seen < len(line.plain) and line.plain[seen] == " " else 0  # the wrap point
    return 0
