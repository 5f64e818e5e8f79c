"""The ``:`` command bar: one line at the bottom; returns the parsed command.

It completes as you type (shown dimmed; ``tab`` or ``→`` takes it): commands, then per
command services, endpoints, environments, namespaces and themes. ``up``/``down`` walk
through the lines run before (kept in ``MICRO_HOME/workspace.json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Static

from micro_tui import settings
from micro_tui.commands import Command, CommandError, command_words, complete, parse, word_to_complete

if TYPE_CHECKING:
    from micro_tui.app import MicroApp

__all__ = ["CommandBar"]

MAX_HISTORY = 100


class _Completer(Suggester):
    """Completes the word being typed from what the workspace knows (no call, except one
    ``GetService`` per service whose endpoints ``:call`` asks for)."""

    def __init__(self, app: MicroApp) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.micro = app
        self.endpoints: dict[str, list[str]] = {}

    async def _words(self, name: str, position: int, args: tuple[str, ...]) -> list[str]:
        app = self.micro
        if name == "":
            return command_words()
        if name in ("svc", "logs") or (name == "call" and position == 0):
            return list(app.known_services)
        if name == "call" and position == 1:
            return await self._endpoints(args[0])
        if name == "env":
            return [e.name for e in app.facade.session.envs()]
        if name == "ns":
            return app.facade.session.namespaces()
        if name == "theme":
            return sorted(app.available_themes)
        return []

    async def _endpoints(self, service: str) -> list[str]:
        if service not in self.endpoints:
            try:
                versions = await self.micro.facade.registry.get_service(service)
            except Exception:
                versions = []
            self.endpoints[service] = sorted({e.name for v in versions for e in v.endpoints})
        return self.endpoints[service]

    async def get_suggestion(self, value: str) -> str | None:
        found = word_to_complete(value)
        if found is None or found[1] > 1:
            return None
        return complete(value, await self._words(*found[:3]))


class CommandBar(ModalScreen[Command | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="command.cancel"),
        Binding("up", "history(-1)", "Earlier", show=False, id="command.earlier"),
        Binding("down", "history(1)", "Later", show=False, id="command.later"),
        # priority: taken in order with the keys after it, which wait (held by the app)
        # until the line has run; Input's own enter came only after those had reached the box
        Binding("enter", "run", "Run", show=False, priority=True, id="command.run"),
    ]

    def __init__(self) -> None:
        super().__init__()
        saved = settings.load().get("command_history", [])
        self.history: list[str] = [str(line) for line in saved] if isinstance(saved, list) else []
        self._at = len(self.history)  # where up/down are in the history (len: the new line)
        self._typed = ":"  # the new line, kept while walking the history

    @property
    def micro(self) -> MicroApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="command-error")
        # the ":" stays (not selected, so that the first key does not replace it)
        completer = _Completer(self.app)  # type: ignore[arg-type]
        yield Input(":", id="command", suggester=completer, select_on_focus=False)

    def on_mount(self) -> None:
        self.query_one("#command-error", Static).display = False
        box = self.query_one("#command", Input)
        box.cursor_position = len(box.value)
        self.set_focus(box)
        self.micro.release_typeahead()

    def complete(self) -> bool:
        """Take the completion shown (``tab``); False when there is none."""
        box = self.query_one("#command", Input)
        if not (box.cursor_at_end and len(box._suggestion) > len(box.value)):
            return False
        box.action_cursor_right()
        return True

    def action_history(self, step: int) -> None:
        box = self.query_one("#command", Input)
        if self._at == len(self.history):
            self._typed = box.value
        self._at = max(0, min(len(self.history), self._at + step))
        box.value = self.history[self._at] if self._at < len(self.history) else self._typed
        box.cursor_position = len(box.value)

    def action_run(self) -> None:
        """``enter``: run the line once the keys typed before it are in the box (they may
        still wait in its queue); the keys typed after it wait for the command
        (:meth:`MicroApp.run_command` hands them on) or, if the line is wrong, come back here."""
        self.micro.hold_typeahead()
        box = self.query_one("#command", Input)
        box.call_later(box.action_submit)

    @on(Input.Submitted)
    def _run(self, event: Input.Submitted) -> None:
        try:
            command = parse(event.value)
        except CommandError as exc:
            error = self.query_one("#command-error", Static)
            error.update(Text(str(exc)))  # it quotes what was typed: text, not markup
            error.display = True
            self.micro.release_typeahead()
            return
        self._remember(event.value.strip())
        self.dismiss(command)

    def _remember(self, line: str) -> None:
        line = line if line.startswith(":") else f":{line}"
        lines: list[Any] = [entry for entry in self.history if entry != line]
        settings.save(command_history=[*lines, line][-MAX_HISTORY:])
