"""A new namespace's name (a ``micro`` admin creates it)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from micro_tui.slices.auth import check_namespace_name

__all__ = ["NamespaceDialog"]


class NamespaceDialog(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="auth_namespace.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="namespace-dialog") as box:
            box.border_title = "create namespace"
            yield Input(placeholder="name: lower-case letters, digits, dashes", id="namespace-name")
            yield Static("", id="namespace-error", markup=False)
            yield Label("enter creates · escape cancels", classes="hint")

    @on(Input.Submitted, "#namespace-name")
    def _submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        problem = check_namespace_name(name)
        if problem:
            self.query_one("#namespace-error", Static).update(problem)
            return
        self.dismiss(name)
