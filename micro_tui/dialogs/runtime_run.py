"""The run form: a source (folder path or git URL), an optional name, instances; the
equivalent ``micro run`` line is shown as it is typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from micro_tui.actions import cli_line
from micro_tui.slices.runtime import run_words

__all__ = ["RunDialog", "RunRequest"]


@dataclass(frozen=True, slots=True)
class RunRequest:
    source: str
    name: str = ""
    instances: int = 1

    @property
    def cli(self) -> str:
        return cli_line(*run_words(self.source, name=self.name, instances=self.instances))


class RunDialog(ModalScreen[RunRequest | None]):
    """``enter`` runs (the form checked), ``escape`` cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="runtime_run.cancel")
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="runtime-run"):
            yield Label("Run a service", classes="title")
            yield Input(placeholder="source: a folder (./svc) or a git URL", id="run-source")
            yield Input(placeholder="name (default: the folder's or the repository's)", id="run-name")
            yield Input("1", placeholder="instances", id="run-instances", type="integer")
            yield Static("", id="run-cli", markup=False, classes="cli-line")
            yield Static("", id="run-error", markup=False)
            yield Label("enter runs · escape cancels · tab moves", classes="hint")

    def on_mount(self) -> None:
        self._show()

    def _read(self) -> RunRequest:
        source = self.query_one("#run-source", Input).value.strip()
        name = self.query_one("#run-name", Input).value.strip()
        text = self.query_one("#run-instances", Input).value.strip() or "1"
        if not source:
            raise ValueError("give a folder or a git URL to run")
        try:
            instances = int(text)
        except ValueError:
            raise ValueError(f"instances {text!r}: a whole number") from None
        if instances < 1:
            raise ValueError("instances must be at least 1")
        return RunRequest(source, name, instances)

    def _show(self) -> RunRequest | None:
        error, line = self.query_one("#run-error", Static), self.query_one("#run-cli", Static)
        try:
            request = self._read()
        except ValueError as exc:
            error.update(str(exc))
            line.update("")
            return None
        error.update("")
        line.update(request.cli)
        return request

    @on(Input.Changed)
    def _changed(self) -> None:
        self._show()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        request = self._show()
        if request is not None:
            self.dismiss(request)
